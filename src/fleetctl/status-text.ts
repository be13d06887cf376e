// `fleetctl status`: what `systemctl status -l <unit>` shows on the unit's machine, built from the
// state that machine reports in the registry (fleet ran systemctl over SSH; we have no SSH).
import type { MachineRecord, UnitRecord, UnitStateRecord } from '../fleet/registry/index.js';
import type { AgentProcesses } from './agent-api.js';
import { machineLegend } from './units.js';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const pad = (n: number): string => String(n).padStart(2, '0');

/** systemd's timestamp: `Sat 2024-11-30 17:07:14 UTC` (always UTC here: machines' zones differ). */
export function systemdTimestamp(ms: number): string {
  const d = new Date(ms);
  return `${DAYS[d.getUTCDay()]} ${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

/** systemd's relative time, two units at most: `45s ago`, `2min 3s ago`, `1h 5min ago`, `3 days 2h ago`. */
export function systemdAgo(deltaMs: number): string {
  const s = Math.max(0, Math.floor(deltaMs / 1000));
  if (s < 60) return `${s}s ago`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min}min ${s % 60}s ago`;
  const h = Math.floor(min / 60);
  if (h < 24) return `${h}h ${min % 60}min ago`;
  const days = Math.floor(h / 24);
  return `${days} ${days === 1 ? 'day' : 'days'} ${h % 24}h ago`;
}

/** The `(running)`-like sub state systemd puts after the active state. */
function activeLine(st: UnitStateRecord, now: number): string {
  let what = `${st.active} (${st.sub})`;
  if (st.active === 'failed' && st.result) what = `${st.active} (Result: ${st.result})`;
  return `${what} since ${systemdTimestamp(st.since)}; ${systemdAgo(now - st.since)}`;
}

function pidLine(st: UnitStateRecord): string | undefined {
  const how =
    st.exitSignal !== undefined ? `code=killed, signal=${st.exitSignal}` : st.exitCode !== undefined ? `code=exited, status=${st.exitCode}` : undefined;
  if (st.mainPid === undefined && how === undefined) return undefined;
  return ` Main PID: ${st.mainPid ?? '-'}${how ? ` (${how})` : ''}`;
}

/**
 * systemd's CGroup block: the cgroup's path, then each process as a branch of a tree. Where the
 * agent makes no cgroups the path is `(none)`; the processes are then those of the unit's process
 * groups and those carrying its mark.
 */
function cgroupLines(p: AgentProcesses): string[] {
  const lines = [`   CGroup: ${p.cgroup ?? '(none)'}`];
  p.processes.forEach((proc, i) => lines.push(`           ${i === p.processes.length - 1 ? '└─' : '├─'}${proc.pid} ${proc.command}`));
  return lines;
}

/** systemd's format_bytes: 1024-based, one decimal (truncated) from K up: `512B`, `12.0K`, `1.5M`. */
export function systemdBytes(n: number): string {
  const table: [string, number][] = [['P', 2 ** 50], ['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['K', 1024]];
  for (const [suffix, factor] of table) {
    if (n >= factor) return `${Math.floor(n / factor)}.${Math.floor((n * 10) / factor) % 10}${suffix}`;
  }
  return `${n}B`;
}

/**
 * systemd's format_timespan at millisecond accuracy, as its CPU line prints it: `54ms`, `1.5s`,
 * `1min 7.213s`, `2h 3min 4s` (the seconds' fraction without trailing zeros).
 */
export function systemdTimespan(ms: number): string {
  ms = Math.round(ms);
  if (ms < 1000) return `${ms}ms`;
  const parts: string[] = [];
  const h = Math.floor(ms / 3_600_000);
  const min = Math.floor((ms % 3_600_000) / 60_000);
  const rest = ms % 60_000;
  if (h > 0) parts.push(`${h}h`);
  if (min > 0) parts.push(`${min}min`);
  if (rest > 0) {
    const frac = String(rest % 1000).padStart(3, '0').replace(/0+$/, '');
    parts.push(`${Math.floor(rest / 1000)}${frac ? `.${frac}` : ''}s`);
  }
  return parts.join(' ');
}

/**
 * systemd's Tasks, Memory and CPU lines, summed over the unit's processes: threads, resident
 * memory and CPU time. systemd reads the unit's cgroup: its memory counter also counts the page
 * cache the unit caused, and its CPU time that of processes already gone. Each line only when the
 * agent said (an older one sends neither, or no CPU).
 */
function usageLines(p: AgentProcesses): string[] {
  const all = (field: 'threads' | 'rssBytes' | 'cpuMs') => p.processes.every((q) => typeof q[field] === 'number');
  const sum = (field: 'threads' | 'rssBytes' | 'cpuMs') => p.processes.reduce((n, q) => n + q[field]!, 0);
  if (!all('threads') || !all('rssBytes')) return [];
  const lines = [`    Tasks: ${sum('threads')}`, `   Memory: ${systemdBytes(sum('rssBytes'))}`];
  if (all('cpuMs')) lines.push(`      CPU: ${systemdTimespan(sum('cpuMs'))}`);
  return lines;
}

/** The status block of one unit, each line ending in a newline. `processes`: what its agent lists, when it could be read. */
export function statusText(
  unit: UnitRecord,
  description: string | undefined,
  st: UnitStateRecord,
  machine: MachineRecord | undefined,
  now: number,
  processes?: AgentProcesses,
): string {
  const lines = [
    `● ${unit.name} - ${description ?? unit.name}`,
    `   Loaded: ${st.load} (fleet: content ${st.hash.slice(0, 7)}; desired ${unit.desired})`,
    `   Active: ${activeLine(st, now)}`,
  ];
  const pid = pidLine(st);
  if (pid) lines.push(pid);
  if (st.restarts) lines.push(` Restarts: ${st.restarts}`);
  lines.push(`  Machine: ${machineLegend(st.machine, machine, true)}`);
  // Like systemd, nothing when nothing runs.
  if (processes && processes.processes.length > 0) lines.push(...usageLines(processes), ...cgroupLines(processes));
  return lines.map((l) => `${l}\n`).join('');
}
