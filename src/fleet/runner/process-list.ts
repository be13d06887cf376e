// The processes of a unit as `systemctl status` lists them under CGroup: each pid with its command
// line, read from /proc. Only for showing: the runner's own bookkeeping (signals, the wait for a
// unit to stop) counts processes without reading their command lines.
import { readFileSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  /** The command line, arguments separated by spaces; `[name]` when the process has none left to show. */
  command: string;
  /** Its threads (systemd's Tasks counts them). */
  threads: number;
  /** Its resident memory in bytes (0 for a zombie). */
  rssBytes: number;
  /** The CPU time it has used, user and system, in ms (systemd's CPU line sums them). */
  cpuMs: number;
}

export interface UnitProcesses {
  /** The cgroup of the unit's main command (its path in the cgroup2 hierarchy), when it has one. */
  cgroup?: string;
  /** Every running process of the unit's commands, by pid. */
  processes: ProcessInfo[];
}

/** Longest command line shown; systemd cuts long ones as well (at the terminal's width). */
const MAX_COMMAND_CHARS = 4096;

/**
 * The command line of each of `pids` that still runs, in the order given. A process that exits
 * while it is read is left out.
 */
export function describeProcesses(pids: readonly number[]): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const pid of pids) {
    // One read of status gives the threads, the memory, and the name of a process with no command line.
    let status: string | undefined;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    const command = commandOf(pid, status);
    if (command === undefined) continue;
    const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 1);
    const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
    out.push({ pid, command, threads, rssBytes: rssKiB * 1024, cpuMs: cpuMsOf(pid) });
  }
  return out;
}

function commandOf(pid: number, status: string): string | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(`/proc/${pid}/cmdline`);
  } catch {
    return undefined;
  }
  // NUL-separated arguments, with a NUL after the last; a process may rewrite its own (setproctitle).
  const args = raw.toString('utf8').split('\0');
  while (args.length > 0 && args[args.length - 1] === '') args.pop();
  let command = args.join(' ');
  if (command === '') {
    // A zombie or a kernel thread: ps and systemd show the name in brackets.
    const name = /^Name:\s+(.*)$/m.exec(status)?.[1];
    if (name === undefined) return undefined;
    command = `[${name.trim()}]`;
  }
  // Control characters (a newline in an argument) would break the listing's lines.
  command = command.replace(/[\x00-\x1f\x7f]/g, ' ');
  return command.length > MAX_COMMAND_CHARS ? `${command.slice(0, MAX_COMMAND_CHARS - 3)}...` : command;
}

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux this runs on). */
const TICKS_PER_SECOND = 100;

/** utime + stime of /proc/<pid>/stat in ms; 0 when it cannot be read (gone meanwhile). */
function cpuMsOf(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return 0;
  }
  // After the name in parentheses (which may hold spaces and parentheses): field 3 (state) on;
  // utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_SECOND : 0;
}
