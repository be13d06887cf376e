// Processes that left their command's process group. A command runs in its own group so that one
// signal reaches everything it started, but a process can leave the group (setsid(), setpgid(),
// a daemon's double fork). Every command is therefore started with a mark in its environment,
// FLOTILLA_FENCE_ID=<random id>, which its descendants inherit wherever they go: the processes
// carrying it are found in /proc/<pid>/environ (the environment a process was started with). A
// process that drops its environment (`env -i`) on exec loses the mark: only the command's cgroup,
// where the agent can make one (command-cgroup.ts), still holds it. Reading another user's environ needs root, as fleetd running units as
// other users is; processes that cannot be read are not this command's anyway unless they run
// as another user, which only root can start.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

export const FENCE_ID_VARIABLE = 'FLOTILLA_FENCE_ID';

/** A new mark for one command. */
export function newFenceId(): string {
  return randomUUID();
}

/** The pids of the processes whose environment carries the mark (zombies have none left: they are not counted). */
export function markedPids(fenceId: string): number[] {
  const mark = Buffer.from(`${FENCE_ID_VARIABLE}=${fenceId}\0`);
  let pids: string[];
  try {
    pids = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const pid of pids) {
    if (pid.charCodeAt(0) < 48 || pid.charCodeAt(0) > 57) continue;
    let env: Buffer;
    try {
      env = readFileSync(`/proc/${pid}/environ`);
    } catch {
      continue; // exited while we looked, or not ours to read
    }
    // The mark is a whole entry: at the start or after another entry's NUL.
    const at = env.indexOf(mark);
    if (at === 0 || (at > 0 && env[at - 1] === 0)) out.push(Number(pid));
  }
  return out;
}

/** Sends each signal, in order, to every marked process (found once); how many processes it reached. */
export function signalMarked(fenceId: string, ...signals: NodeJS.Signals[]): number {
  let n = 0;
  for (const pid of markedPids(fenceId)) {
    try {
      for (const s of signals) process.kill(pid, s);
      n++;
    } catch {
      // exited meanwhile, or not ours to signal
    }
  }
  return n;
}
