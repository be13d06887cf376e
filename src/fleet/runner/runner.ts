// The units of one machine: the agent's reconciler loads, starts, stops and unloads them here, and
// reports their status from the 'status' event. One UnitProcess per loaded unit, one Journal per
// unit name (kept across spec replacements, and on disk across unloads and agent restarts).
import { EventEmitter } from 'node:events';
import type { Clock } from '../../util/clock.js';
import { assertUnitName, Journal } from './journal.js';
import type { UnitProcesses } from './process-list.js';
import {
  UnitProcess,
  type RunnableSpec,
  type StartLimit,
  type UnitStatus,
} from './unit-process.js';

export interface RunnerOptions {
  /** The agent's state directory; journals are kept under `<stateDir>/journal/`. */
  stateDir?: string;
  /** The environment every unit starts from (the agent's PATH etc.). */
  baseEnv?: Record<string, string>;
  clock?: Clock;
  journalCapBytes?: number;
  startLimit?: StartLimit;
  passwdPath?: string;
  agentUid?: number;
}

export interface RunnerEvents {
  status: [name: string, status: UnitStatus];
}

interface LoadedUnit {
  spec: RunnableSpec;
  unit: UnitProcess;
  forward: (status: UnitStatus) => void;
}

export class Runner extends EventEmitter<RunnerEvents> {
  private readonly units = new Map<string, LoadedUnit>();
  private readonly journals = new Map<string, Journal>();
  /** load/unload of a unit in progress: later operations on it wait for them. */
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: RunnerOptions = {}) {
    super();
  }

  /**
   * Loads a unit (not started). Loading the same spec again changes nothing; a different spec
   * replaces the old one, and a unit that was running is stopped and started again with the new
   * spec (`fleetctl --replace`). An invalid spec throws and leaves the loaded unit as it was.
   */
  load(name: string, spec: RunnableSpec): Promise<void> {
    assertUnitName(name);
    return this.serialize(name, async () => {
      const old = this.units.get(name);
      if (old && sameSpec(old.spec, spec)) return;
      const unit = new UnitProcess(name, spec, {
        journal: this.journal(name),
        baseEnv: this.opts.baseEnv,
        clock: this.opts.clock,
        startLimit: this.opts.startLimit,
        passwdPath: this.opts.passwdPath,
        agentUid: this.opts.agentUid,
      });
      let wasUp = false;
      if (old) {
        const active = old.unit.status().active;
        wasUp = active === 'active' || active === 'activating';
        await old.unit.stop();
        old.unit.off('status', old.forward);
      }
      const forward = (status: UnitStatus): void => {
        this.emit('status', name, status);
      };
      unit.on('status', forward);
      this.units.set(name, { spec, unit, forward });
      if (old) this.emit('status', name, unit.status());
      if (wasUp) await unit.start();
    });
  }

  /** Starts a loaded unit; resolves when its start job is over (see UnitProcess.start). */
  async start(name: string): Promise<UnitStatus> {
    await this.pending.get(name);
    return this.loaded(name).unit.start();
  }

  /** Stops a loaded unit; resolves when all its processes are gone. */
  async stop(name: string): Promise<void> {
    await this.pending.get(name);
    await this.loaded(name).unit.stop();
  }

  /** Stops the unit and forgets it. Its journal file stays (`journal(name)` reads it). */
  unload(name: string): Promise<void> {
    return this.serialize(name, async () => {
      const loaded = this.loaded(name);
      await loaded.unit.stop();
      loaded.unit.off('status', loaded.forward);
      this.units.delete(name);
      this.journals.get(name)?.close();
      this.journals.delete(name);
    });
  }

  /** Fencing: SIGKILL to every process of every unit at once; resolves when they are all gone. */
  async killAll(): Promise<void> {
    await Promise.all([...this.units.values()].map((u) => u.unit.kill()));
  }

  /** Stops every unit (in parallel); resolves when all their processes are gone. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.units.values()].map((u) => u.unit.stop()));
  }

  status(name: string): UnitStatus | undefined {
    return this.units.get(name)?.unit.status();
  }

  /** The running processes of a loaded unit (`fleetctl status`'s CGroup lines). */
  processes(name: string): UnitProcesses | undefined {
    return this.units.get(name)?.unit.processes();
  }

  /** The loaded spec of a unit. */
  spec(name: string): RunnableSpec | undefined {
    return this.units.get(name)?.spec;
  }

  list(): { name: string; status: UnitStatus }[] {
    return [...this.units.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, u]) => ({ name, status: u.unit.status() }));
  }

  /** The journal of a unit, loaded or not (a unit never seen has an empty one). */
  journal(name: string): Journal {
    let journal = this.journals.get(name);
    if (!journal) {
      const clock = this.opts.clock;
      journal = new Journal(name, {
        stateDir: this.opts.stateDir,
        capBytes: this.opts.journalCapBytes,
        now: clock ? () => clock.now() : undefined,
      });
      this.journals.set(name, journal);
    }
    return journal;
  }

  private loaded(name: string): LoadedUnit {
    const loaded = this.units.get(name);
    if (!loaded) throw new Error(`Unit ${name} not loaded.`);
    return loaded;
  }

  private serialize<T>(name: string, op: () => Promise<T>): Promise<T> {
    const previous = this.pending.get(name) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(op);
    const tracked = next.finally(() => {
      if (this.pending.get(name) === tracked) this.pending.delete(name);
    });
    tracked.catch(() => {});
    this.pending.set(name, tracked);
    return next;
  }
}

function sameSpec(a: RunnableSpec, b: RunnableSpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
