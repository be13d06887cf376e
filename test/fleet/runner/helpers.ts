// Helpers for the runner tests: specs built directly (no unit-file parser), waiting for a unit's
// status or journal line by event (with a deadline so that a bug fails instead of hanging), and
// scratch directories.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecCommand, ServiceSpec } from '../../../src/fleet/types.js';
import type { Journal, JournalEntry } from '../../../src/fleet/runner/journal.js';
import type { RunnableSpec, UnitProcess, UnitStatus } from '../../../src/fleet/runner/unit-process.js';
import type { Readable } from 'node:stream';

/** The environment units get: PATH only (tap's NODE_OPTIONS must not reach `node` units). */
export const baseEnv: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

export function cmd(text: string, ignoreFailure = false): ExecCommand {
  return { text, ignoreFailure };
}

/** A spec with systemd's defaults, short timeouts for tests, and `overrides`. */
export function makeSpec(overrides: Partial<RunnableSpec> & { start?: string | string[] } = {}): RunnableSpec {
  const { start, ...rest } = overrides;
  const base: ServiceSpec = {
    type: 'simple',
    execStartPre: [],
    execStart: (Array.isArray(start) ? start : [start ?? '/bin/sleep 1000']).map((t) => cmd(t)),
    execStartPost: [],
    execStop: [],
    environment: {},
    environmentFiles: [],
    restart: 'no',
    restartSecMs: 100,
    timeoutStartMs: 10_000,
    timeoutStopMs: 5_000,
  };
  return { ...base, ...rest };
}

/** Resolves with the first status (current or next) that `pred` accepts; rejects after `ms`. */
export function waitForStatus(
  unit: UnitProcess,
  pred: (s: UnitStatus) => boolean,
  ms = 10_000,
): Promise<UnitStatus> {
  const now = unit.status();
  if (pred(now)) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unit.off('status', listener);
      reject(new Error(`no status matched within ${ms} ms; last: ${JSON.stringify(unit.status())}`));
    }, ms);
    const listener = (s: UnitStatus): void => {
      if (!pred(s)) return;
      clearTimeout(timer);
      unit.off('status', listener);
      resolve(s);
    };
    unit.on('status', listener);
  });
}

/** Every status a unit emits, for asserting on transitions. */
export function recordStatuses(unit: UnitProcess): UnitStatus[] {
  const seen: UnitStatus[] = [];
  unit.on('status', (s) => seen.push(s));
  return seen;
}

/** The sub-states a unit went through (consecutive repeats, from other fields changing, dropped). */
export function subs(statuses: UnitStatus[]): string[] {
  return statuses.map((s) => s.sub).filter((s, i, all) => s !== all[i - 1]);
}

/** Resolves with the first journal entry (already there or new) whose text matches. */
export async function waitForLine(journal: Journal, match: RegExp | string, ms = 10_000): Promise<JournalEntry> {
  const test = (e: JournalEntry): boolean => (typeof match === 'string' ? e.text.includes(match) : match.test(e.text));
  const ac = new AbortController();
  const follow = journal.follow(ac.signal); // subscribed before looking at the past: no gap
  const found = journal.tail().find(test);
  if (found) {
    ac.abort();
    return found;
  }
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    for await (const e of follow) if (test(e)) return e;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  throw new Error(`no journal line matched ${match} within ${ms} ms:\n${texts(journal).join('\n')}`);
}

export function texts(journal: Journal): string[] {
  return journal.tail().map((e) => e.text);
}

export function tempDir(t: { teardown(fn: () => void): void }, prefix = 'runner-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeExecutable(path: string, text: string): string {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return path;
}

/** Whether process `pid` exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Polls `check` (real OS state, no event exists for it) until true; rejects after `ms`. */
export async function pollUntil(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}


/**
 * The live (non-zombie) processes of process group `pgid`, read from /proc independently of the
 * runner's own check. kill(-pgid, 0) alone is not enough here: orphans reparented to this
 * machine's init stay zombies for seconds, and a zombie still counts as a group member for kill(2).
 */
export function liveGroupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue;
    }
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') members.push(Number(name));
  }
  return members;
}

/**
 * Starts a fixture that stands in for the agent (a script under fixtures/, run with this test's
 * TypeScript loader) and resolves with the process and the first line it prints; the process is
 * killed at the test's end if still running.
 */
export async function startFixtureAgent(
  t: { teardown(fn: () => void): void },
  fixture: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ agent: ChildProcessByStdio<null, Readable, null>; line: string }> {
  const agent = spawn(process.execPath, [...process.execArgv, fixture], { stdio: ['ignore', 'pipe', 'inherit'], env });
  t.teardown(() => {
    if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    agent.stdout.setEncoding('utf8');
    agent.stdout.on('data', (d: string) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
    });
    agent.once('exit', (code, signal) => reject(new Error(`fixture exited early (${code ?? signal}): ${buf}`)));
  });
  return { agent, line };
}
