// One unit, supervised as systemd supervises a service: ExecStartPre, ExecStart, ExecStartPost,
// ExecStop, Restart=, the start-rate limit, timeouts, and systemd's states and journal lines.
//
// Lifecycle (systemd's service state machine, reduced to Type=simple and Type=oneshot):
//
//   dead/failed --start()--> start-pre --> start --> start-post --> running (simple)
//                                                                 \-> exited (oneshot, RemainAfterExit)
//   running --main exits or stop()--> stop (ExecStop) --> stop-sigterm --> stop-sigkill --> dead/failed
//   dead/failed --Restart= says so--> auto-restart --RestartSec--> start-pre ...
//
// - Type=simple is `active/running` as soon as its main process is spawned (and ExecStartPost done).
// - Type=oneshot runs its ExecStart lines one after the other; with RemainAfterExit=yes it then stays
//   `active/exited`; without (systemd's default, and ours), it goes back to `inactive/dead` after
//   success: ExecStop runs, leftovers are killed, the start job ends.
// - ExecStop runs (with $MAINPID while the main process lives) only if the unit got going: the main
//   process was spawned (simple) or every ExecStart succeeded (oneshot). It also runs when the main
//   process exits on its own, as systemd does. Then SIGTERM (+SIGCONT) goes to every process group of
//   the unit, SIGKILL after TimeoutStopSec.
// - A container unit (ExecStart runs `docker run ... --name N ...` or podman's) without ExecStop
//   is stopped with `<engine> stop N` first, since SIGTERM to the `docker run` client does not
//   reliably stop the container, which the engine's daemon runs.
// - The start-rate limit is systemd's: more than `burst` starts within `intervalMs` (5 in 10 s)
//   fails the unit with result `start-limit-hit`, and it stays failed (no more restarts) until
//   resetFailed() or a new spec.
// - Results and exit statuses follow systemd: 203/EXEC when a program cannot be executed,
//   200/CHDIR for a missing WorkingDirectory, 217/USER for User= problems, `resources` for a
//   missing EnvironmentFile, `timeout` for TimeoutStartSec/TimeoutStopSec.
import { statSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { isAbsolute, basename } from 'node:path';
import type { ActiveState, ExecCommand, ServiceSpec } from '../types.js';
import { systemClock, type Clock } from '../../util/clock.js';
import { ExecutableNotFoundError, parseCommandLine, splitCommand } from './command-line.js';
import { readEnvironmentFile } from './environment-file.js';
import {
  describeExit,
  EXIT_CHDIR,
  EXIT_USER,
  errnoText,
  resultOf,
  type CommandExit,
  type UnitResult,
} from './exit-status.js';
import type { Journal } from './journal.js';
import { lookupUser, DEFAULT_PASSWD_PATH } from './passwd.js';
import { pollDelay } from './process-group.js';
import { describeProcesses, type UnitProcesses } from './process-list.js';
import { SpawnedCommand } from './spawned-command.js';

export type { UnitResult } from './exit-status.js';

export type SubState =
  | 'dead'
  | 'start-pre'
  | 'start'
  | 'start-post'
  | 'running'
  | 'exited'
  | 'stop'
  | 'stop-sigterm'
  | 'stop-sigkill'
  | 'auto-restart'
  | 'failed';

export interface UnitStatus {
  active: ActiveState;
  sub: SubState;
  /** The main process while it runs. */
  mainPid?: number;
  /** How the last main process ended: its exit status, or the signal that killed it. */
  exitCode?: number;
  exitSignal?: NodeJS.Signals;
  result: UnitResult;
  /** When `active`/`sub` last changed (ms since the epoch, from the clock). */
  since: number;
  /** Automatic restarts since the last explicit start (systemd's NRestarts). */
  restarts: number;
}

/** A ServiceSpec, plus the options ServiceSpec does not carry yet. */
export type RunnableSpec = ServiceSpec;

export interface StartLimit {
  burst: number;
  intervalMs: number;
}

/** systemd's DefaultStartLimitBurst / DefaultStartLimitIntervalSec. */
export const DEFAULT_START_LIMIT: StartLimit = { burst: 5, intervalMs: 10_000 };

export interface UnitProcessOptions {
  journal: Journal;
  /** The environment every command starts from (the agent's PATH, LANG, ...). */
  baseEnv?: Record<string, string>;
  clock?: Clock;
  startLimit?: StartLimit;
  passwdPath?: string;
  /** The uid fleetd runs as (a seam for tests of User= without root). */
  agentUid?: number;
}

export interface UnitProcessEvents {
  status: [UnitStatus];
}

const ACTIVE_OF: Record<SubState, ActiveState> = {
  dead: 'inactive',
  failed: 'failed',
  'start-pre': 'activating',
  start: 'activating',
  'start-post': 'activating',
  'auto-restart': 'activating',
  running: 'active',
  exited: 'active',
  stop: 'deactivating',
  'stop-sigterm': 'deactivating',
  'stop-sigkill': 'deactivating',
};

const CONTAINER_ENGINES = new Set(['docker', 'podman']);

/** What every command of one start runs with. */
interface ExecContext {
  env: Record<string, string>;
  cwd: string;
  uid?: number;
  gid?: number;
}

/** A failure to set up the start, before any process runs. */
class StartSetupError extends Error {
  constructor(
    message: string,
    readonly result: UnitResult,
    readonly exitCode?: number,
  ) {
    super(message);
  }
}

/** A command to run: a unit line, or one the runner makes up (the container engine's stop). */
interface RunnableCommand {
  text?: string;
  argv?: string[];
  ignoreFailure: boolean;
}

const TIMED_OUT = Symbol('timed out');

export class UnitProcess extends EventEmitter<UnitProcessEvents> {
  readonly name: string;
  readonly spec: RunnableSpec;
  private readonly journal: Journal;
  private readonly baseEnv: Record<string, string>;
  private readonly clock: Clock;
  private readonly startLimit: StartLimit;
  private readonly passwdPath: string;
  private readonly agentUid: number;
  /** The container engine and name to stop when the unit is a `docker run --name` unit without ExecStop. */
  private readonly container: boolean;

  private st: UnitStatus;
  /** Bumped by every start, stop and kill: a job whose generation is no longer current gives up. */
  private gen = 0;
  /** Every command of the unit whose process group may still hold processes. */
  private readonly groups = new Set<SpawnedCommand>();
  private main: SpawnedCommand | undefined;
  private ctx: ExecContext | undefined;
  private activation: Promise<void> | undefined;
  /** The stop sequence or kill in progress: a start waits for it. */
  private stopJob: Promise<void> | undefined;
  /** stop() or kill() was asked for: whatever happens next, no automatic restart. */
  private explicitStop = false;
  /** The unit got going this time (main spawned / oneshot done): ExecStop applies. */
  private mainRan = false;
  private reachedActive = false;
  private finishedLine: string | undefined;
  private startTimes: number[] = [];
  private cancelRestart: (() => void) | undefined;
  private cancelStartTimeout: (() => void) | undefined;

  /** Throws, changing nothing, when the spec cannot run (as systemd refuses to load such a unit). */
  constructor(name: string, spec: RunnableSpec, opts: UnitProcessOptions) {
    super();
    validateSpec(name, spec);
    this.name = name;
    this.spec = spec;
    this.journal = opts.journal;
    this.baseEnv = opts.baseEnv ?? {};
    this.clock = opts.clock ?? systemClock;
    this.startLimit = opts.startLimit ?? DEFAULT_START_LIMIT;
    this.passwdPath = opts.passwdPath ?? DEFAULT_PASSWD_PATH;
    this.agentUid = opts.agentUid ?? process.getuid?.() ?? 0;
    this.container = spec.execStop.length === 0 && containerName(parseCommandLine(spec.execStart[0]!.text)) !== undefined;
    this.st = { active: 'inactive', sub: 'dead', result: 'success', since: this.clock.now(), restarts: 0 };
  }

  status(): UnitStatus {
    return { ...this.st };
  }

  /**
   * Starts the unit; resolves when the start job is over: the unit is active, or (oneshot) has run,
   * or failed. A start during a stop waits for the stop, as systemd queues it.
   */
  async start(): Promise<UnitStatus> {
    while (this.stopJob) await this.stopJob;
    const sub = this.st.sub;
    if (sub === 'start-pre' || sub === 'start' || sub === 'start-post') {
      await this.activation;
      return this.status();
    }
    if (sub === 'running' || sub === 'exited') return this.status();
    this.cancelRestart?.();
    this.cancelRestart = undefined;
    this.update({ restarts: 0 });
    await this.launch();
    return this.status();
  }

  /** Stops the unit; resolves when every process it started is gone. */
  async stop(): Promise<void> {
    this.explicitStop = true;
    if (this.cancelRestart) {
      this.cancelRestart();
      this.cancelRestart = undefined;
      ++this.gen;
      this.setSub(this.st.result === 'success' ? 'dead' : 'failed');
      return;
    }
    if (this.stopJob) return this.stopJob;
    if (this.st.sub === 'dead' || this.st.sub === 'failed') return;
    this.journal.note(`Stopping ${this.name}...`);
    return this.beginStop(this.mainRan);
  }

  /**
   * SIGKILL to every process of the unit at once, no ExecStop, no grace (fencing: the machine lost
   * its place in the cluster). Resolves when they are all gone. The unit ends failed, not restarted.
   */
  kill(): Promise<void> {
    const gen = ++this.gen;
    this.explicitStop = true;
    this.cancelRestart?.();
    this.cancelRestart = undefined;
    this.cancelStartTimeout?.();
    this.cancelStartTimeout = undefined;
    const job = this.runKill(gen).finally(() => {
      if (this.stopJob === job) this.stopJob = undefined;
    });
    this.stopJob = job;
    return job;
  }

  private async runKill(gen: number): Promise<void> {
    const sub = this.st.sub;
    // stop-sigkill from now on, so that the main process's death does not start a stop sequence.
    if (sub !== 'dead' && sub !== 'failed' && sub !== 'auto-restart') this.setSub('stop-sigkill');
    if (this.groups.size > 0) this.journal.note(`${this.name}: Killing all processes with signal SIGKILL.`);
    for (const cmd of this.groups) cmd.signal('SIGKILL');
    await this.waitAllGone(Infinity);
    if (gen !== this.gen || sub === 'dead' || sub === 'failed') return;
    if (sub !== 'auto-restart') this.raise('signal');
    this.update({ mainPid: undefined });
    this.journal.note(`${this.name}: Failed with result '${this.st.result}'.`);
    this.setSub('failed');
  }

  /** Forgets the start-rate history and a failed state (systemctl reset-failed). */
  resetFailed(): void {
    this.startTimes = [];
    if (this.st.sub === 'failed') {
      this.update({ result: 'success' });
      this.setSub('dead');
    }
  }

  /**
   * The start job was superseded (a stop, a timeout, a kill): it is over when whatever superseded
   * it is, so that start() resolves on the unit's settled state.
   */
  private async settled(): Promise<void> {
    while (this.stopJob) await this.stopJob;
  }

  private async launch(): Promise<void> {
    const gen = ++this.gen;
    this.explicitStop = false;
    const job = this.runStart(gen).catch((err: unknown) => this.internalError(gen, err));
    this.activation = job;
    await job;
  }

  /** A bug in the runner must not take the agent down (a restart timer has no caller to throw to). */
  private async internalError(gen: number, err: unknown): Promise<void> {
    this.journal.note(`${this.name}: Internal error while starting: ${(err as Error)?.stack ?? String(err)}`);
    if (gen !== this.gen) return;
    this.raise('resources');
    await this.beginStop(false);
  }

  private async runStart(gen: number): Promise<void> {
    const now = this.clock.now();
    this.startTimes = this.startTimes.filter((t) => now - t < this.startLimit.intervalMs);
    this.reachedActive = false;
    this.mainRan = false;
    this.finishedLine = undefined;
    if (this.startTimes.length >= this.startLimit.burst) {
      this.journal.note(`${this.name}: Start request repeated too quickly.`);
      this.update({ result: 'start-limit-hit' });
      this.finish(gen);
      return;
    }
    this.startTimes.push(now);
    this.update({ result: 'success', exitCode: undefined, exitSignal: undefined, mainPid: undefined });
    this.journal.note(`Starting ${this.name}...`);
    try {
      this.ctx = this.prepare();
    } catch (err) {
      if (!(err instanceof StartSetupError)) throw err;
      this.journal.note(`${this.name}: ${err.message}`);
      if (err.exitCode !== undefined) this.update({ exitCode: err.exitCode });
      this.update({ result: err.result });
      this.finish(gen);
      return;
    }
    this.armStartTimeout(gen);
    const spec = this.spec;

    if (spec.execStartPre.length > 0) this.setSub('start-pre');
    for (const line of spec.execStartPre) {
      const exit = await this.run(line, this.ctx, 'control');
      if (gen !== this.gen) return this.settled();
      if (!this.succeeded(exit, line)) return this.beginStop(false);
    }

    if (spec.type === 'oneshot') {
      this.setSub('start');
      for (const line of spec.execStart) {
        const exit = await this.run(line, this.ctx, 'main');
        if (gen !== this.gen) return this.settled();
        if (!this.succeeded(exit, line)) return this.beginStop(false);
      }
      this.mainRan = true;
    } else {
      this.setSub('start');
      const main = this.spawn(spec.execStart[0]!, this.ctx, 'main');
      if (main.pid === undefined) {
        const exit = await main.exited;
        this.recordMainExit(exit, main);
        if (gen !== this.gen) return this.settled();
        this.raise(resultOf(exit));
        return this.beginStop(false);
      }
      this.mainRan = true;
      void main.exited.then((exit) => this.onMainExit(main, exit));
    }

    if (spec.execStartPost.length > 0) this.setSub('start-post');
    for (const line of spec.execStartPost) {
      const exit = await this.run(line, this.withMainPid(this.ctx), 'control');
      if (gen !== this.gen) return this.settled();
      if (!this.succeeded(exit, line)) return this.beginStop(this.mainRan);
    }

    this.cancelStartTimeout?.();
    this.reachedActive = true;
    if (spec.type === 'oneshot') {
      if (spec.remainAfterExit) {
        this.journal.note(`Finished ${this.name}.`);
        this.setSub('exited');
      } else {
        this.finishedLine = `Finished ${this.name}.`;
        return this.beginStop(true);
      }
      return;
    }
    this.journal.note(`Started ${this.name}.`);
    // The main process may have exited during ExecStartPost: its exit was recorded, now act on it.
    if (this.main === undefined || this.main.leaderExited) {
      this.setSub('running');
      return this.beginStop(true);
    }
    this.setSub('running');
  }

  /** The environment, directory and credentials of this start; throws StartSetupError. */
  private prepare(): ExecContext {
    const spec = this.spec;
    const env: Record<string, string> = { ...this.baseEnv };
    let uid: number | undefined;
    let gid: number | undefined;
    let home = this.baseEnv.HOME;
    if (spec.user !== undefined && spec.user !== '') {
      let account;
      try {
        account = lookupUser(spec.user, this.passwdPath);
      } catch (err) {
        throw new StartSetupError(`Failed to read ${this.passwdPath}: ${errnoText(err)}`, 'exit-code', EXIT_USER);
      }
      if (account === undefined) {
        throw new StartSetupError(
          `Failed to determine user credentials: no user "${spec.user}" in ${this.passwdPath}`,
          'exit-code',
          EXIT_USER,
        );
      }
      if (account.uid !== this.agentUid) {
        if (this.agentUid !== 0) {
          throw new StartSetupError(`User=${spec.user} needs fleetd to run as root`, 'exit-code', EXIT_USER);
        }
        uid = account.uid;
        gid = account.gid;
      }
      home = account.home;
      // systemd sets these for User=; Environment= and EnvironmentFile= may still override them.
      Object.assign(env, { HOME: account.home, USER: account.name, LOGNAME: account.name, SHELL: account.shell });
    }
    for (const file of spec.environmentFiles) {
      let content;
      try {
        content = readEnvironmentFile(file.path);
      } catch (err) {
        if (file.optional && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new StartSetupError(`Failed to load environment file ${file.path}: ${errnoText(err)}`, 'resources');
      }
      for (const warning of content.warnings) this.journal.note(`${this.name}: ${warning}`);
      Object.assign(env, content.vars);
    }
    Object.assign(env, spec.environment);

    let cwd = '/';
    if (spec.workingDirectory !== undefined && spec.workingDirectory !== '') {
      let dir = spec.workingDirectory;
      const optional = dir.startsWith('-');
      if (optional) dir = dir.slice(1);
      if (dir === '~') dir = home ?? '/';
      if (!isAbsolute(dir)) {
        throw new StartSetupError(`WorkingDirectory=${dir} is not an absolute path`, 'exit-code', EXIT_CHDIR);
      }
      let isDir = false;
      let why = 'Not a directory';
      try {
        isDir = statSync(dir).isDirectory();
      } catch (err) {
        why = errnoText(err);
      }
      if (isDir) cwd = dir;
      else if (!optional) {
        throw new StartSetupError(
          `Changing to the requested working directory ${dir} failed: ${why}`,
          'exit-code',
          EXIT_CHDIR,
        );
      }
    }
    return { env, cwd, uid, gid };
  }

  private armStartTimeout(gen: number): void {
    const ms = this.spec.timeoutStartMs;
    if (!(ms > 0) || !Number.isFinite(ms)) return;
    this.cancelStartTimeout = this.after(() => {
      this.cancelStartTimeout = undefined;
      if (gen !== this.gen) return;
      this.journal.note(`${this.name}: Start operation timed out. Terminating.`);
      this.raise('timeout');
      void this.beginStop(this.mainRan);
    }, ms);
  }

  /** Spawns a command of the unit (registered in its groups); never throws for exec problems. */
  private spawn(line: RunnableCommand, ctx: ExecContext, role: 'main' | 'control'): SpawnedCommand {
    let argv: string[];
    let notExecutable: string | undefined;
    try {
      argv = line.argv ?? splitCommand(line.text!, ctx.env);
    } catch (err) {
      // The syntax was checked at load; what can fail now is finding a bare program name in PATH.
      if (!(err instanceof ExecutableNotFoundError)) throw err;
      this.journal.note(`${this.name}: ${err.message}`);
      argv = [err.executable];
      notExecutable = errnoText(err);
    }
    const cmd = new SpawnedCommand({
      argv,
      env: ctx.env,
      cwd: ctx.cwd,
      uid: ctx.uid,
      gid: ctx.gid,
      journal: this.journal,
      notExecutable,
      onFenceLost: (reason) => this.journal.note(`${this.name}: ${reason}; the unit is no longer fenced`),
    });
    if (cmd.pid === undefined) {
      void cmd.exited.then(() =>
        this.journal.note(`${this.name}: Failed at step EXEC spawning ${argv[0]}: ${cmd.execError}`),
      );
    } else {
      this.groups.add(cmd);
    }
    if (role === 'main') {
      this.main = cmd;
      if (cmd.pid !== undefined) this.update({ mainPid: cmd.pid });
    }
    return cmd;
  }

  /** Runs a command to its end. */
  private async run(line: RunnableCommand, ctx: ExecContext, role: 'main' | 'control'): Promise<CommandExit> {
    const cmd = this.spawn(line, ctx, role);
    const exit = await cmd.exited;
    this.prune(); // a finished command's fence is released now, unless it left processes behind
    if (role === 'main') this.recordMainExit(exit, cmd);
    else if (resultOf(exit) !== 'success') {
      this.journal.note(`${this.name}: Control process exited, ${describeExit(exit)}`);
    }
    return exit;
  }

  /** Whether a command's exit lets the job go on; a failure that counts becomes the unit's result. */
  private succeeded(exit: CommandExit, line: RunnableCommand): boolean {
    const result = resultOf(exit);
    if (result === 'success' || line.ignoreFailure) return true;
    this.raise(result);
    return false;
  }

  private recordMainExit(exit: CommandExit, cmd: SpawnedCommand): void {
    if (cmd !== this.main) return;
    this.update({
      mainPid: undefined,
      exitCode: exit.code ?? undefined,
      exitSignal: exit.signal ?? undefined,
    });
    // systemd logs a successful exit only at debug level.
    if (resultOf(exit) !== 'success') this.journal.note(`${this.name}: Main process exited, ${describeExit(exit)}`);
  }

  /** A simple unit's main process ended. */
  private onMainExit(cmd: SpawnedCommand, exit: CommandExit): void {
    if (cmd !== this.main) return;
    this.recordMainExit(exit, cmd);
    const result = resultOf(exit);
    // During stop, a main killed by SIGTERM is clean; one that exits non-zero still fails the unit.
    if (result !== 'success') this.raise(result);
    if (this.st.sub === 'running') void this.beginStop(true);
  }

  /** The stop sequence; one at a time, and it supersedes a start in progress. */
  private beginStop(runExecStop: boolean): Promise<void> {
    if (this.stopJob) return this.stopJob;
    this.cancelStartTimeout?.();
    this.cancelStartTimeout = undefined;
    const gen = ++this.gen;
    const job = this.runStop(gen, runExecStop).finally(() => {
      if (this.stopJob === job) this.stopJob = undefined;
    });
    this.stopJob = job;
    return job;
  }

  private async runStop(gen: number, runExecStop: boolean): Promise<void> {
    const commands = runExecStop && this.ctx ? this.stopCommands(this.ctx) : [];
    if (commands.length > 0) {
      this.setSub('stop');
      const ctx = this.withMainPid(this.ctx!);
      const deadline = this.deadline(this.spec.timeoutStopMs);
      try {
        for (const line of commands) {
          const exit = await Promise.race([this.run(line, ctx, 'control'), deadline.expired]);
          if (gen !== this.gen) return;
          if (exit === TIMED_OUT) {
            this.journal.note(`${this.name}: Stopping timed out. Terminating.`);
            this.raise('timeout');
            break;
          }
          if (!this.succeeded(exit, line)) break;
        }
      } finally {
        deadline.cancel();
      }
    }
    if (this.anyAlive()) {
      this.setSub('stop-sigterm');
      this.signalAll('SIGTERM', 'SIGCONT');
      let gone = await this.waitAllGone(this.spec.timeoutStopMs);
      if (gen !== this.gen) return;
      if (!gone) {
        this.journal.note(`${this.name}: State 'stop-sigterm' timed out. Killing.`);
        this.raise('timeout');
        this.setSub('stop-sigkill');
        for (const cmd of this.groups) {
          if (cmd.pid !== undefined) this.journal.note(`${this.name}: Killing process group ${cmd.pid} with signal SIGKILL.`);
        }
        this.signalAll('SIGKILL');
        gone = await this.waitAllGone(this.spec.timeoutStopMs);
        if (gen !== this.gen) return;
        if (!gone) this.journal.note(`${this.name}: Processes still around after final SIGKILL. Entering failed mode.`);
      }
    }
    this.finish(gen);
  }

  /** `ctx` with $MAINPID set while a simple unit's main process runs (ExecStartPost, ExecStop). */
  private withMainPid(ctx: ExecContext): ExecContext {
    if (this.spec.type !== 'simple' || this.main?.pid === undefined || this.main.leaderExited) return ctx;
    return { ...ctx, env: { ...ctx.env, MAINPID: String(this.main.pid) } };
  }

  /** ExecStop lines, or the container engine's own stop for a `docker run --name` unit. */
  private stopCommands(ctx: ExecContext): RunnableCommand[] {
    if (this.spec.execStop.length > 0) return this.spec.execStop;
    if (!this.container) return [];
    let argv: string[];
    try {
      argv = splitCommand(this.spec.execStart[0]!.text, ctx.env);
    } catch {
      return []; // the engine could not be found to start it either
    }
    const name = containerName(argv)!;
    this.journal.note(`${this.name}: Stopping container ${name} with ${basename(argv[0]!)} stop.`);
    return [{ argv: [argv[0]!, 'stop', name], ignoreFailure: true }];
  }

  /** The unit has no process left: settle on dead, failed, or a scheduled restart. */
  private finish(gen: number): void {
    if (gen !== this.gen) return;
    this.cancelStartTimeout?.();
    this.cancelStartTimeout = undefined;
    this.update({ mainPid: undefined });
    const result = this.st.result;
    if (result === 'success') this.journal.note(`${this.name}: Deactivated successfully.`);
    else this.journal.note(`${this.name}: Failed with result '${result}'.`);
    if (this.explicitStop) this.journal.note(`Stopped ${this.name}.`);
    else if (this.finishedLine !== undefined && result === 'success') this.journal.note(this.finishedLine);
    else if (!this.reachedActive && result !== 'success') this.journal.note(`Failed to start ${this.name}.`);

    if (!this.explicitStop && result !== 'start-limit-hit' && restartWanted(this.spec.restart, result)) {
      this.setSub('auto-restart');
      this.cancelRestart = this.after(() => {
        this.cancelRestart = undefined;
        if (gen !== this.gen) return;
        const restarts = this.st.restarts + 1;
        this.journal.note(`${this.name}: Scheduled restart job, restart counter is at ${restarts}.`);
        this.update({ restarts });
        void this.launch();
      }, this.spec.restartSecMs);
      return;
    }
    this.setSub(result === 'success' ? 'dead' : 'failed');
  }

  private anyAlive(): boolean {
    this.prune();
    return this.groups.size > 0;
  }

  private signalAll(...signals: NodeJS.Signals[]): void {
    for (const cmd of this.groups) cmd.signal(...signals);
  }

  /** What `systemctl status` shows under CGroup: every running process of the unit, and its main command's cgroup. */
  processes(): UnitProcesses {
    const pids = new Set<number>();
    for (const cmd of this.groups) for (const pid of cmd.pids()) pids.add(pid);
    const main = this.main !== undefined && this.groups.has(this.main) ? this.main : undefined;
    const cgroup = main?.cgroup ?? [...this.groups].find((c) => c.cgroup !== undefined)?.cgroup;
    const out: UnitProcesses = { processes: describeProcesses([...pids].sort((a, b) => a - b)) };
    if (cgroup !== undefined) out.cgroup = cgroup.path;
    return out;
  }

  /** Forgets the commands with nothing left running, releasing their fences. */
  private prune(): void {
    for (const cmd of this.groups) {
      if (!cmd.alive()) {
        cmd.release();
        this.groups.delete(cmd);
      }
    }
  }

  /** Resolves true once every process of the unit is gone, false if `timeoutMs` passes first. */
  private async waitAllGone(timeoutMs: number): Promise<boolean> {
    const deadline = this.deadline(timeoutMs);
    let interval = 5;
    try {
      for (;;) {
        if (!this.anyAlive()) return true;
        const woke = await Promise.race([pollDelay(interval), deadline.expired]);
        if (woke === TIMED_OUT) return !this.anyAlive();
        interval = Math.min(interval * 2, 100);
      }
    } finally {
      deadline.cancel();
    }
  }

  /** Calls `fn` after `ms` on the clock; returns what cancels it. */
  private after(fn: () => void, ms: number): () => void {
    const timer = this.clock.setTimeout(fn, ms);
    return () => this.clock.clearTimeout(timer);
  }

  /** A promise that resolves to TIMED_OUT after `ms` on the clock (never, for 0 or Infinity). */
  private deadline(ms: number): { expired: Promise<typeof TIMED_OUT>; cancel: () => void } {
    if (!(ms > 0) || !Number.isFinite(ms)) return { expired: new Promise(() => {}), cancel: () => {} };
    let cancel = (): void => {};
    const expired = new Promise<typeof TIMED_OUT>((resolve) => {
      cancel = this.after(() => resolve(TIMED_OUT), ms);
    });
    return { expired, cancel };
  }

  /** The first failure is the unit's result (as systemd keeps it). */
  private raise(result: UnitResult): void {
    if (result !== 'success' && this.st.result === 'success') this.update({ result });
  }

  private setSub(sub: SubState): void {
    this.update({ sub, active: ACTIVE_OF[sub] });
  }

  private update(patch: Partial<UnitStatus>): void {
    const next = { ...this.st, ...patch };
    for (const key of Object.keys(next) as (keyof UnitStatus)[]) {
      if (next[key] === undefined) delete next[key];
    }
    const changed = (Object.keys({ ...this.st, ...next }) as (keyof UnitStatus)[]).some((k) => this.st[k] !== next[k]);
    if (!changed) return;
    if (next.sub !== this.st.sub || next.active !== this.st.active) next.since = this.clock.now();
    this.st = next;
    this.emit('status', this.status());
  }
}

/** Whether Restart= asks for a restart after an end with `result` (not after an explicit stop). */
function restartWanted(policy: ServiceSpec['restart'], result: UnitResult): boolean {
  if (policy === 'always') return true;
  if (policy === 'on-failure') return result !== 'success';
  return false;
}

/** `N` of `docker run ... --name N` / `--name=N` (or podman's), else undefined. */
function containerName(argv: string[]): string | undefined {
  if (!CONTAINER_ENGINES.has(basename(argv[0]!))) return undefined;
  let i = 1;
  if (argv[i] === 'container') i++;
  if (argv[i] !== 'run') return undefined;
  for (i++; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--name' && i + 1 < argv.length) return argv[i + 1];
    if (word.startsWith('--name=') && word.length > '--name='.length) return word.slice('--name='.length);
  }
  return undefined;
}

/** systemd's load-time checks of a service's commands and options. */
function validateSpec(name: string, spec: RunnableSpec): void {
  const fail = (what: string): never => {
    throw new Error(`${name}: ${what}`);
  };
  if (spec.execStart.length === 0) fail('Service has no ExecStart= setting. Refusing.');
  if (spec.type === 'simple' && spec.execStart.length > 1) {
    fail('Service has more than one ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.');
  }
  if (spec.type === 'oneshot' && spec.restart === 'always') {
    fail('Service has Restart=always, which is not allowed for Type=oneshot services. Refusing.');
  }
  const lines: [string, ExecCommand[]][] = [
    ['ExecStartPre', spec.execStartPre],
    ['ExecStart', spec.execStart],
    ['ExecStartPost', spec.execStartPost],
    ['ExecStop', spec.execStop],
  ];
  for (const [key, commands] of lines) {
    for (const command of commands) {
      try {
        parseCommandLine(command.text);
      } catch (err) {
        fail(`${key}=${command.text}: ${(err as Error).message}`);
      }
    }
  }
  for (const file of spec.environmentFiles) {
    if (!isAbsolute(file.path)) fail(`EnvironmentFile=${file.path} is not an absolute path`);
  }
  for (const [key, ms] of [
    ['RestartSec', spec.restartSecMs],
    ['TimeoutStartSec', spec.timeoutStartMs],
    ['TimeoutStopSec', spec.timeoutStopMs],
  ] as const) {
    if (!(ms >= 0)) fail(`${key} must be a non-negative duration, got ${ms}`);
  }
}
