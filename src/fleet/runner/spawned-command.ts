// One command of a unit, running: in its own session and process group (the group id is its pid)
// and, where the agent may make one, its own cgroup (command-cgroup.ts), with a mark in its
// environment that follows the processes that leave the group (marked-processes.ts), its stdout and
// stderr journaled line by line, and a fence that kills the group, the cgroup and the marked
// processes if the agent dies (fence.ts). A command that cannot be executed
// (ENOENT, EACCES, ...) does not throw: it "exits" with status 203, systemd's EXEC failure, and
// `execError` says why.
import { spawn, type ChildProcess } from 'node:child_process';
import { COMMAND_CGROUP_PREFIX, CommandCgroup } from './command-cgroup.js';
import { EXIT_EXEC, errnoText, type CommandExit } from './exit-status.js';
import { Fence } from './fence.js';
import type { Journal } from './journal.js';
import { FENCE_ID_VARIABLE, markedPids, newFenceId, signalMarked } from './marked-processes.js';
import { groupAlive, groupPids, signalGroup } from './process-group.js';

export interface SpawnRequest {
  /** argv[0] is the program's absolute path. */
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  uid?: number;
  gid?: number;
  journal: Journal;
  /** Told when a fence's watchdog dies while the group may still run (the unit is then unfenced). */
  onFenceLost?: (reason: string) => void;
  /** The command is known not to be executable (its program was not found): do not try. */
  notExecutable?: string;
}

/**
 * How long the exit waits for the command's stdout/stderr to reach end of file once it has exited,
 * so that its last lines are journaled before its exit. A background child that inherited the
 * pipes can hold them open for ever; then the exit is reported anyway.
 */
const STDIO_DRAIN_MS = 50;

/**
 * The command's cgroup's name: the unit's name, as systemd names a unit's cgroup, and the start of
 * the command's mark, unique among the commands that run at once (a clash would only cost the
 * command its cgroup). Cut to stay within a file name's 255 bytes.
 */
function commandCgroupName(unit: string, fenceId: string): string {
  return `${COMMAND_CGROUP_PREFIX}${unit.slice(0, 200)}-${fenceId.slice(0, 8)}`;
}

export class SpawnedCommand {
  readonly argv: string[];
  /** The leader's pid, which is also the process group id; undefined when exec failed. */
  readonly pid: number | undefined;
  /** Why the command could not be executed, when it could not. */
  execError: string | undefined;
  /** Resolves once the leader has exited (and its output was drained, see STDIO_DRAIN_MS). */
  readonly exited: Promise<CommandExit>;
  private leaderGone = false;
  private readonly fence: Fence | undefined;
  private readonly fenceId = newFenceId();
  /** The command's cgroup; undefined where none could be made. */
  readonly cgroup: CommandCgroup | undefined;

  constructor(req: SpawnRequest) {
    this.argv = req.argv;
    let child: ChildProcess | undefined;
    if (req.notExecutable !== undefined) {
      this.execError = req.notExecutable;
    } else {
      const started = CommandCgroup.spawnInto(commandCgroupName(req.journal.unit, this.fenceId), () => {
        try {
          return spawn(req.argv[0]!, req.argv.slice(1), {
            env: { ...req.env, [FENCE_ID_VARIABLE]: this.fenceId },
            cwd: req.cwd,
            uid: req.uid,
            gid: req.gid,
            detached: true,
            stdio: ['ignore', 'pipe', 'pipe'],
          });
        } catch (err) {
          this.execError = errnoText(err);
          return undefined;
        }
      });
      child = started.child;
      this.cgroup = started.cgroup;
    }
    this.pid = child?.pid;
    if (child === undefined || this.pid === undefined) {
      this.fence = undefined;
      this.exited = this.execFailure(child);
      return;
    }
    this.fence = new Fence(this.pid, this.fenceId, req.onFenceLost, this.cgroup?.dir);
    void req.journal.capture(child.stdout!, 'stdout', this.pid);
    void req.journal.capture(child.stderr!, 'stderr', this.pid);
    this.exited = this.waitExit(child);
  }

  /** Whether the leader (the process that was spawned) has exited. */
  get leaderExited(): boolean {
    return this.leaderGone;
  }

  /**
   * Whether anything of this command may still run: the leader, any process left in its group or
   * its cgroup, or one that left the group but carries the command's mark.
   */
  alive(): boolean {
    if (!this.leaderGone) return true;
    if (this.pid === undefined) return false;
    return groupAlive(this.pid) || this.cgroup?.populated() === true || markedPids(this.fenceId).length > 0;
  }

  /** Every running process of the command: its group's, its cgroup's and the marked ones, by pid. */
  pids(): number[] {
    if (this.pid === undefined) return [];
    const all = new Set<number>(groupPids(this.pid));
    for (const pid of this.cgroup?.pids() ?? []) all.add(pid);
    for (const pid of markedPids(this.fenceId)) all.add(pid);
    return [...all].sort((a, b) => a - b);
  }

  /**
   * Sends each signal, in order, to every process of the command's group, of its cgroup, and to
   * those that left the group carrying its mark (one /proc scan).
   */
  signal(...signals: NodeJS.Signals[]): void {
    if (this.pid === undefined) return;
    for (const s of signals) {
      signalGroup(this.pid, s);
      this.cgroup?.signal(s);
    }
    signalMarked(this.fenceId, ...signals);
  }

  /** The command has ended: release its fence and remove its cgroup. */
  release(): void {
    this.fence?.release();
    this.cgroup?.remove();
  }

  private execFailure(child: ChildProcess | undefined): Promise<CommandExit> {
    const failed: CommandExit = { code: EXIT_EXEC, signal: null };
    if (child === undefined) {
      this.leaderGone = true;
      this.cgroup?.remove();
      return Promise.resolve(failed);
    }
    // Node reports a failed exec with an 'error' event on the next tick; the forked process that
    // failed to exec has exited by then, so its cgroup is empty.
    return new Promise((resolve) => {
      child.once('error', (err) => {
        this.execError = errnoText(err);
        this.leaderGone = true;
        this.cgroup?.remove();
        resolve(failed);
      });
    });
  }

  private waitExit(child: ChildProcess): Promise<CommandExit> {
    child.on('error', () => {}); // a failed kill() of an exited child: nothing to do
    return new Promise((resolve) => {
      let drain: NodeJS.Timeout | undefined;
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.leaderGone) return;
        this.leaderGone = true;
        clearTimeout(drain);
        resolve({ code, signal });
      };
      child.once('exit', (code, signal) => {
        drain = setTimeout(() => done(code, signal), STDIO_DRAIN_MS);
      });
      child.once('close', (code, signal) => done(code, signal));
    });
  }
}
