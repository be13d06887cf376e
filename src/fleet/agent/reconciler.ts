// The agent's reconciler: makes the runner hold exactly the units the registry gives this machine
// (placements here, matching Global units), each loaded or started as desired, and reports each
// one's state under the machine's lease.
//
// Every unit has its own queue of work, so that a unit slow to stop (TimeoutStopSec) never holds up
// another; a registry change only recomputes the targets (cheap) and queues each unit's sync once.
// Starting is refused while there is no lease (fenced) and until the registry view has caught up
// with the machine's latest announcement: a unit that moved elsewhere while this machine was cut off
// is seen as moved before anything is started again.
//
// State reports are written only when a reported field changed (each one is a write every engine
// and fleetctl watching the registry receives), one write in flight per unit, retried after a
// failure, and all rewritten under a new lease.
import { EventEmitter } from 'node:events';
import type { FleetOptions, LoadState, ServiceSpec, UnitFile } from '../types.js';
import type { RegistrySnapshot, UnitStateRecord } from '../registry/index.js';
import { fleetOptions, parseUnitFile, serviceSpec, type MachineFacts } from '../unit/index.js';
import { machineFacts } from './machine-facts.js';
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.js';
import type { AgentRunner, UnitStatus } from './runner-port.js';
import { machineTargets, type TargetUnit, type ThisMachine } from './targets.js';

/** The registry view as the reconciler reads it (RegistryView). */
export interface ViewPort {
  readonly current: RegistrySnapshot;
  on(event: 'change', fn: (keys: string[]) => void): unknown;
  off(event: 'change', fn: (keys: string[]) => void): unknown;
}

/** The state writes (Registry). */
export interface StatePort {
  reportState(state: UnitStateRecord, lease: bigint): Promise<void>;
  clearState(name: string, machine: string): Promise<void>;
}

export interface ReconcilerOptions {
  view: ViewPort;
  states: StatePort;
  runner: AgentRunner;
  machine: ThisMachine;
  clock?: Clock;
  /** Pause before a failed state write is tried again (ms); default 1000. */
  retryMs?: number;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /**
   * What is wrong with a loaded unit's [X-Service] section, if anything (the agent's service
   * registrations answer). The unit runs anyway; the problem is reported in its state record as
   * `serviceError`.
   */
  serviceProblem?: (name: string, hash: string, file: UnitFile) => string | undefined;
  /** What `%m %b %H %l` stand for in the units' [Unit] and [Service] (default: machineFacts(machine.id)). */
  facts?: MachineFacts;
}

/** A unit this machine holds. */
export interface LocalUnit {
  name: string;
  hash: string;
  load: LoadState;
  /** Why it is not loaded (`load` is 'error' or 'not-found'). */
  loadError?: string;
  /** Why its [X-Service] section registers nothing (the unit runs regardless). */
  serviceError?: string;
  global: boolean;
  /** Asked to start under the current lease (and not stopped since). */
  started: boolean;
  /** A start is in flight. */
  starting: boolean;
  loadedAt: number;
}

interface Parsed {
  file?: UnitFile;
  options?: FleetOptions;
  spec?: ServiceSpec;
  error?: string;
  /** The content is not in the registry. */
  missing?: boolean;
}

interface Slot {
  chain: Promise<void>;
  queued: boolean;
}

/** Marks a state key seen in the registry for a unit this machine does not hold: it is deleted. */
const STALE = '\0stale';

const noLog = { warn: () => undefined, info: () => undefined };

export interface ReconcilerEvents {
  warning: [err: Error];
}

export class Reconciler extends EventEmitter<ReconcilerEvents> {
  /** State writes made (puts and deletes), for tests and metrics. */
  readonly writes = { puts: 0, deletes: 0 };
  private readonly clock: Clock;
  private readonly retryMs: number;
  private readonly log: NonNullable<ReconcilerOptions['log']>;
  private running = false;
  private lease: bigint | undefined;
  private minRevision = Number.POSITIVE_INFINITY;
  private targets = new Map<string, TargetUnit>();
  private readonly local = new Map<string, LocalUnit>();
  private readonly slots = new Map<string, Slot>();
  private readonly parsed = new Map<string, Parsed>();
  /** What the machine's specifiers stand for. */
  private readonly facts: MachineFacts;
  /** unit -> the JSON last written under the current lease (or STALE). */
  private readonly reported = new Map<string, string>();
  /** Units whose state key this machine deleted, until the view shows it gone. */
  private readonly recentlyCleared = new Set<string>();
  private readonly dirty = new Set<string>();
  private flushing: Promise<void> | undefined;
  private retryTimer: TimerHandle | undefined;
  private passQueued = false;

  constructor(private readonly opts: ReconcilerOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.retryMs = opts.retryMs ?? 1000;
    this.facts = opts.facts ?? machineFacts(opts.machine.id);
    this.log = opts.log ?? noLog;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.opts.view.on('change', this.onChange);
    this.opts.runner.on('status', this.onStatus);
    this.schedulePass();
  }

  /**
   * Stops reconciling: nothing is loaded or started from now on. The units stay as they are (fleetd
   * stops them with the runner, which also ends a start in flight); `settled()` then waits for the
   * work in flight.
   */
  stop(): void {
    this.running = false;
    this.opts.view.off('change', this.onChange);
    this.opts.runner.off('status', this.onStatus);
    this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** The machine holds a (new) lease, announced at `minRevision`: run units, report every state again. */
  setLease(lease: bigint, minRevision: number): void {
    this.lease = lease;
    this.minRevision = minRevision;
    this.reported.clear();
    this.recentlyCleared.clear();
    for (const name of this.local.keys()) this.dirty.add(name);
    this.kickFlush();
    this.schedulePass();
  }

  /** The lease is gone: kill every unit at once and start nothing until the next lease. */
  async fence(): Promise<void> {
    this.lease = undefined;
    for (const u of this.local.values()) u.started = false;
    await this.opts.runner.killAll();
  }

  /** The units this machine holds. */
  units(): LocalUnit[] {
    return [...this.local.values()].map((u) => ({ ...u }));
  }

  unit(name: string): LocalUnit | undefined {
    const u = this.local.get(name);
    return u && { ...u };
  }

  /** The parsed file of a unit this machine holds (loaded or not). */
  unitFile(name: string): UnitFile | undefined {
    const u = this.local.get(name);
    return u && this.parsed.get(`${name}\0${u.hash}`)?.file;
  }

  /** Resolves once no unit work and no state write is pending (tests; shutdown). */
  async settled(): Promise<void> {
    for (;;) {
      if (this.passQueued) {
        await new Promise((r) => setImmediate(r));
        continue;
      }
      const pending = [...this.slots.values()].map((s) => s.chain);
      if (this.flushing) pending.push(this.flushing);
      await Promise.all(pending);
      const now = [...this.slots.values()].map((s) => s.chain);
      if (!this.passQueued && !this.flushing && now.every((c) => pending.includes(c))) return;
    }
  }

  private readonly onChange = (): void => this.schedulePass();

  private readonly onStatus = (name: string, _status: UnitStatus): void => {
    if (this.local.has(name)) this.markDirty(name);
  };

  private schedulePass(): void {
    if (this.passQueued || !this.running) return;
    this.passQueued = true;
    queueMicrotask(() => {
      this.passQueued = false;
      this.pass();
    });
  }

  private pass(): void {
    if (!this.running) return;
    const snap = this.opts.view.current;
    this.targets = machineTargets(snap, this.opts.machine, (name, hash) => this.parse(name, hash, snap).options, new Set(this.local.keys()));
    this.pruneParsed(snap);
    for (const name of new Set([...this.targets.keys(), ...this.local.keys()])) {
      this.interrupt(name);
      this.syncSoon(name);
    }
    if (this.lease !== undefined) this.clearStale(snap);
  }

  private mayStart(): boolean {
    return this.running && this.lease !== undefined && this.opts.view.current.revision >= this.minRevision;
  }

  /** A start in flight that is no longer wanted is stopped now, not after it completes. */
  private interrupt(name: string): void {
    const u = this.local.get(name);
    if (!u?.starting) return;
    const t = this.targets.get(name);
    if (t && t.hash === u.hash && t.desired === 'launched') return;
    u.started = false;
    void this.opts.runner.stop(name).catch((e: Error) => this.emit('warning', e));
  }

  private syncSoon(name: string): void {
    let slot = this.slots.get(name);
    if (!slot) this.slots.set(name, (slot = { chain: Promise.resolve(), queued: false }));
    if (slot.queued) return;
    slot.queued = true;
    const s = slot;
    s.chain = s.chain
      .then(() => {
        s.queued = false;
        return this.sync(name);
      })
      .catch((e: Error) => {
        this.emit('warning', e);
      })
      .finally(() => {
        if (!s.queued && !this.local.has(name) && !this.targets.has(name) && this.slots.get(name) === s) this.slots.delete(name);
      });
  }

  private async sync(name: string): Promise<void> {
    if (!this.running) return;
    const target = this.targets.get(name);
    let u = this.local.get(name);
    if (u && (!target || target.hash !== u.hash || u.load === 'not-found')) {
      await this.remove(u);
      u = undefined;
    }
    if (!target) return;
    if (!u) {
      if (!this.mayStart()) return;
      u = await this.add(target);
    }
    if (u.load !== 'loaded') return;
    if (target.desired === 'launched') {
      if (u.started || !this.mayStart()) return;
      u.started = true;
      u.starting = true;
      try {
        await this.opts.runner.start(name);
      } catch (e) {
        this.log.warn({ unit: name, err: (e as Error).message }, 'agent: unit did not start');
      } finally {
        u.starting = false;
      }
      return;
    }
    const active = this.opts.runner.status(name)?.active;
    if (u.started || active === 'active' || active === 'activating') {
      u.started = false;
      await this.opts.runner.stop(name);
    }
  }

  private async add(target: TargetUnit): Promise<LocalUnit> {
    const p = this.parse(target.name, target.hash, this.opts.view.current);
    const u: LocalUnit = {
      name: target.name,
      hash: target.hash,
      load: p.spec ? 'loaded' : p.missing ? 'not-found' : 'error',
      global: target.global,
      started: false,
      starting: false,
      loadedAt: this.clock.now(),
    };
    if (p.error !== undefined) u.loadError = p.error;
    if (p.spec && p.file) {
      const problem = this.opts.serviceProblem?.(target.name, target.hash, p.file);
      if (problem !== undefined) u.serviceError = problem;
    }
    if (p.spec) {
      try {
        await this.opts.runner.load(target.name, p.spec);
      } catch (e) {
        u.load = 'error';
        u.loadError = (e as Error).message;
      }
    }
    if (u.load !== 'loaded') this.log.warn({ unit: u.name, load: u.load, reason: u.loadError }, 'agent: unit not loaded');
    this.local.set(u.name, u);
    this.markDirty(u.name);
    return u;
  }

  private async remove(u: LocalUnit): Promise<void> {
    if (u.load === 'loaded') {
      u.started = false;
      await this.opts.runner.stop(u.name);
      await this.opts.runner.unload(u.name);
    }
    this.local.delete(u.name);
    this.markDirty(u.name);
  }

  /** The unit's options and spec, parsed once per content. */
  private parse(name: string, hash: string, snap: RegistrySnapshot): Parsed {
    const key = `${name}\0${hash}`;
    const cached = this.parsed.get(key);
    if (cached) return cached;
    const text = snap.contents.get(hash);
    if (text === undefined) return { missing: true, error: `unit content ${hash} is missing from the registry` };
    let p: Parsed;
    try {
      const file = parseUnitFile(name, text);
      const options = fleetOptions(file);
      const { spec, warnings } = serviceSpec(file, this.facts);
      for (const w of warnings) this.log.warn({ unit: name, warning: w }, 'agent: unit file warning');
      p = { file, options, spec };
    } catch (e) {
      p = { error: (e as Error).message };
    }
    this.parsed.set(key, p);
    return p;
  }

  private pruneParsed(snap: RegistrySnapshot): void {
    for (const key of this.parsed.keys()) {
      const [name, hash] = key.split('\0') as [string, string];
      if (snap.units.get(name)?.hash !== hash && this.local.get(name)?.hash !== hash) this.parsed.delete(key);
    }
  }

  /** State keys of this machine for units it does not hold (left from an older lease) are deleted. */
  private clearStale(snap: RegistrySnapshot): void {
    const me = this.opts.machine.id;
    for (const name of this.recentlyCleared) if (!snap.states.get(name)?.has(me)) this.recentlyCleared.delete(name);
    for (const [name, byMachine] of snap.states) {
      if (!byMachine.has(me) || this.local.has(name) || this.reported.has(name) || this.recentlyCleared.has(name)) continue;
      this.reported.set(name, STALE);
      this.markDirty(name);
    }
  }

  private stateRecord(name: string): UnitStateRecord | undefined {
    const u = this.local.get(name);
    if (!u) return undefined;
    const st = u.load === 'loaded' ? this.opts.runner.status(name) : undefined;
    const r: UnitStateRecord = {
      name,
      machine: this.opts.machine.id,
      hash: u.hash,
      load: u.load,
      active: st?.active ?? 'inactive',
      sub: st?.sub ?? 'dead',
      since: st?.since ?? u.loadedAt,
    };
    if (st) {
      r.result = st.result;
      if (st.mainPid !== undefined) r.mainPid = st.mainPid;
      if (st.exitCode !== undefined) r.exitCode = st.exitCode;
      if (st.exitSignal !== undefined) r.exitSignal = st.exitSignal;
      r.restarts = st.restarts;
    }
    if (u.loadError !== undefined) r.loadError = u.loadError;
    // Not in UnitStateRecord (the registry's decoder leaves it out); written for people and tools
    // reading the key.
    if (u.serviceError !== undefined) r.serviceError = u.serviceError;
    return r;
  }

  private markDirty(name: string): void {
    this.dirty.add(name);
    this.kickFlush();
  }

  private kickFlush(): void {
    if (this.flushing || this.retryTimer || this.lease === undefined || this.dirty.size === 0) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      this.kickFlush();
    });
  }

  private async flush(): Promise<void> {
    while (this.dirty.size > 0 && this.lease !== undefined) {
      const lease = this.lease;
      const names = [...this.dirty];
      this.dirty.clear();
      const ok = await Promise.all(names.map((n) => this.report(n, lease)));
      if (ok.includes(false)) {
        this.retryTimer = this.clock.setTimeout(() => {
          this.retryTimer = undefined;
          this.kickFlush();
        }, this.retryMs);
        return;
      }
    }
  }

  private async report(name: string, lease: bigint): Promise<boolean> {
    const rec = this.stateRecord(name);
    const json = rec && JSON.stringify(rec);
    if (json === this.reported.get(name)) return true;
    try {
      if (rec) {
        await this.opts.states.reportState(rec, lease);
        this.writes.puts++;
      } else {
        await this.opts.states.clearState(name, this.opts.machine.id);
        this.writes.deletes++;
      }
    } catch (e) {
      this.emit('warning', e as Error);
      this.dirty.add(name);
      return false;
    }
    // Written under a lease that is no longer ours: setLease() has queued it again.
    if (this.lease !== lease) return true;
    if (json === undefined) {
      this.reported.delete(name);
      this.recentlyCleared.add(name);
    } else {
      this.reported.set(name, json);
      this.recentlyCleared.delete(name);
    }
    return true;
  }
}
