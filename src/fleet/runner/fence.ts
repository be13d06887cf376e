// Units must not outlive the agent. The scheduler restarts a dead agent's units on another
// machine, so a unit left running by an agent killed with `kill -9` would run twice. A unit's
// processes live in their own process groups (so that stop reaches all of them), and a process
// group does not die with the process that started it. So every group gets a fence: a tiny
// watchdog shell whose stdin is a pipe from the agent:
//
//     /bin/sh -c 'trap "" HUP INT QUIT TERM TSTP; read _; kill -KILL -"$1"; <the marked ones>' fence <pgid> <fence id>
//
// The agent never writes to the pipe. However the agent ends (exit, crash, SIGKILL, OOM kill), the
// kernel closes its end of the pipe, `read` returns at end of file and the shell kills the whole
// group, the command's cgroup where it has one (command-cgroup.ts), then every process that left
// the group but carries the command's mark in its environment (marked-processes.ts: a setsid() or
// a daemon's double fork). Nothing polls for the agent's death and nothing needs the dying agent's
// cooperation. When the group has ended normally the agent releases the fence with
// SIGKILL (which the watchdog cannot trap), so the watchdog never fires at a group id that the
// kernel may since have given to someone else.
//
// The watchdog runs in its own session and ignores the terminal's signals, so ^C or a signal sent
// to the agent's whole process group cannot take it out while leaving the unit behind. libuv
// opens the pipe close-on-exec, so no other child holds its write end open. The one gap: the
// microseconds between spawning a command and spawning its fence, in the same synchronous step.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { FENCE_ID_VARIABLE } from './marked-processes.js';

// No `--` before the group: dash's kill (Debian's /bin/sh) rejects it, and a negative number
// after the signal is read as a process group by every POSIX shell's kill.
// The marked processes are found with GNU grep's -z (NUL-separated entries, as /proc/<pid>/environ
// holds them); `-x` matches the whole entry.
// The command's cgroup, when it has one ($3, command-cgroup.ts), is killed with cgroup.kill (or
// process by process on a kernel without it) and then removed once its processes are gone; the
// kernel refuses rmdir until then, so it is retried for up to five seconds.
const WATCHDOG = [
  'trap "" HUP INT QUIT TERM TSTP',
  'read _',
  'kill -KILL -"$1"',
  '[ -z "$3" ] || echo 1 2>/dev/null > "$3/cgroup.kill" || for p in $(cat "$3/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done',
  `for f in /proc/[0-9]*/environ; do if grep -qsxzF "${FENCE_ID_VARIABLE}=$2" "$f"; then p=\${f%/environ}; kill -KILL "\${p#/proc/}" 2>/dev/null; fi; done`,
  '[ -z "$3" ] || { i=0; while [ $i -lt 50 ] && ! rmdir "$3" 2>/dev/null; do i=$((i+1)); sleep 0.1; done; }',
].join('; ');

export class Fence {
  private readonly watchdog: ChildProcess;
  private released = false;

  /**
   * Starts the watchdog for group `pgid`, the processes marked `fenceId` and the cgroup in
   * directory `cgroupDir` (if any). `onLost` is told if it dies while not released.
   */
  constructor(
    readonly pgid: number,
    readonly fenceId: string,
    onLost: (reason: string) => void = () => {},
    readonly cgroupDir = '',
  ) {
    this.watchdog = spawn('/bin/sh', ['-c', WATCHDOG, 'fence', String(pgid), fenceId, cgroupDir], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    this.watchdog.on('error', (err) => {
      if (!this.released) onLost(`fence for process group ${pgid} could not start: ${err.message}`);
    });
    this.watchdog.on('exit', (code, signal) => {
      // Only now is closing our end harmless: the watchdog is gone and cannot read the EOF.
      this.watchdog.stdin?.destroy();
      if (!this.released) onLost(`fence for process group ${pgid} exited (${signal ?? code})`);
    });
    // The fence must not keep the agent alive by itself; the unit's own pipes do while it runs.
    this.watchdog.unref();
    (this.watchdog.stdin as Socket | null)?.unref();
    this.watchdog.stdin?.on('error', () => {});
  }

  get pid(): number | undefined {
    return this.watchdog.pid;
  }

  /** The group has ended: stop the watchdog without letting it fire. */
  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      this.watchdog.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
