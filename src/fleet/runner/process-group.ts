// Process groups: every command a unit runs is started in its own session and process group, so
// that one signal to the group reaches everything the command started. A process that calls
// setsid()/setpgid() itself leaves the group; those are found by the command's cgroup where there
// is one (command-cgroup.ts) and by the mark in their environment (marked-processes.ts).
//
// There is no event for "the group is now empty", so the runner polls while it waits for a unit to
// stop. Zombies count as gone: an orphan reparented to an init that reaps slowly (as in some
// containers) stays a zombie in its group for seconds, yet it runs nothing and holds nothing.
import { readdirSync, readFileSync } from 'node:fs';

/** Sends `signal` to every process of group `pgid`; false if the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Whether group `pgid` still has a process that is not a zombie. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    // EPERM: it exists but is not ours to signal; it is alive.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
  }
  return groupMembers(pgid) !== 0;
}

/**
 * How many non-zombie processes group `pgid` has, read from /proc; -1 when /proc cannot be read
 * (then the caller can only trust kill(2), which counts zombies).
 */
export function groupMembers(pgid: number): number {
  return groupPids(pgid)?.length ?? -1;
}

/** The non-zombie processes of group `pgid`, read from /proc; undefined when /proc cannot be read. */
export function groupPids(pgid: number): number[] | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const out: number[] = [];
  for (const pid of pids) {
    if (pid.charCodeAt(0) < 48 || pid.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so cut at the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') out.push(Number(pid));
  }
  return out;
}

/** Resolves after `ms` real milliseconds (polling only; never a policy delay). */
export function pollDelay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
