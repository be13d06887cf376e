// The service instances of this machine's units: a unit with an `[X-Service]` section is registered
// in service discovery while it is active here, bound to the machine's lease, and deregistered when
// it stops, fails, is unloaded or moves (each of which the runner reports as a status change).
//
// Each unit's registration is brought to what it should be by one queue of work per unit, so that
// a deregistration always completes (its delete is in the store) before the same instance is
// registered again: the instance ID is the same, and a late delete would remove the new record.
//
// Fencing: the lease is gone, so are the records bound to it; the registrations are ended (their
// checks stop at once). When the machine holds a new lease, units active again are registered under
// it; a registration that lives on across a lease change is rebound to the new lease.
//
// A broken [X-Service] section registers nothing and does not keep the unit from running: the
// problem is logged once per content and returned to the reconciler, which reports it in the
// unit's state record (`serviceError`).
import { findServiceSection, serviceFromUnit, ValidationError, type ServiceDefinition } from '../../discovery/index.js';
import type { LoadState, UnitFile } from '../types.js';
import { expandSpecifiers, type MachineFacts } from '../unit/index.js';
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.js';
import type { AgentRunner, UnitStatus } from './runner-port.js';

/** What the agent needs of a discovery Registration (src/discovery's class satisfies it). */
export interface ServiceRegistration {
  readonly lease: bigint;
  rebind(lease: bigint): void;
  deregister(): Promise<void>;
  on(event: 'leaseLost', fn: () => void): unknown;
}

/** Registers an instance bound to `lease` (fleetd: discovery's register() on its client). */
export type RegisterService = (def: ServiceDefinition, lease: bigint) => Promise<ServiceRegistration>;

/** The units this machine holds, as the reconciler knows them. */
export interface HeldUnits {
  unit(name: string): { hash: string; load: LoadState; started: boolean } | undefined;
  unitFile(name: string): UnitFile | undefined;
  units(): { name: string }[];
}

export interface ServiceRegistrationsOptions {
  register: RegisterService;
  runner: Pick<AgentRunner, 'status' | 'on' | 'off'>;
  units: HeldUnits;
  machineId: string;
  /** The machine's public address: the instances' default Address. */
  address: string;
  /** What the machine's specifiers (`%m %b %H %l`) stand for in [X-Service]: the same facts as in the unit's [Service]. */
  facts: MachineFacts;
  clock?: Clock;
  /** Pause before a registration that failed (the store did not answer) is tried again; default 1000 ms. */
  retryMs?: number;
  log?: LogPort;
}

interface LogPort {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** An [X-Service] section read for one content of a unit. */
type Described = { def: ServiceDefinition } | { error: string } | { none: true };

interface Slot {
  chain: Promise<void>;
  queued: boolean;
  reg?: ServiceRegistration;
  /** The content hash `reg` was registered from. */
  hash?: string;
  retry?: TimerHandle;
}

const noLog = { warn: () => undefined, info: () => undefined };

export class ServiceRegistrations {
  /** Registrations made and ended (tests, metrics). */
  readonly counts = { registered: 0, deregistered: 0, rebound: 0, failed: 0 };
  private readonly clock: Clock;
  private readonly log: LogPort;
  private readonly retryMs: number;
  private running = false;
  private lease: bigint | undefined;
  private readonly slots = new Map<string, Slot>();
  /** `<name>\0<hash>` -> what its [X-Service] says. */
  private readonly described = new Map<string, Described>();

  constructor(private readonly opts: ServiceRegistrationsOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? noLog;
    this.retryMs = opts.retryMs ?? 1000;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.opts.runner.on('status', this.onStatus);
    this.syncAll();
  }

  /**
   * What is wrong with the unit's [X-Service] section (undefined: nothing, or no section). Read once
   * per content; a problem is logged then.
   */
  problem(name: string, hash: string, file: UnitFile): string | undefined {
    const d = this.describe(name, hash, file);
    return 'error' in d ? d.error : undefined;
  }

  /** The machine holds (a new) lease: active units are registered under it. */
  setLease(lease: bigint): void {
    this.lease = lease;
    this.syncAll();
  }

  /** The lease is lost: every registration ends (its record goes with the lease). */
  fence(): void {
    this.lease = undefined;
    this.syncAll();
  }

  /** Units registered now (tests, status). */
  registered(): string[] {
    return [...this.slots].filter(([, s]) => s.reg).map(([name]) => name).sort();
  }

  /** Resolves once no registration work is pending. */
  async settled(): Promise<void> {
    for (;;) {
      const chains = [...this.slots.values()].map((s) => s.chain);
      await Promise.all(chains);
      const now = [...this.slots.values()].map((s) => s.chain);
      if (now.every((c) => chains.includes(c))) return;
    }
  }

  /** Ends every registration (their records are deleted) and stops following the units. */
  async close(): Promise<void> {
    this.running = false;
    this.opts.runner.off('status', this.onStatus);
    for (const name of this.slots.keys()) this.syncSoon(name);
    await this.settled();
  }

  private readonly onStatus = (name: string, _status: UnitStatus): void => {
    this.syncSoon(name);
  };

  private syncAll(): void {
    for (const name of new Set([...this.slots.keys(), ...this.opts.units.units().map((u) => u.name)])) this.syncSoon(name);
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
        return this.sync(name, s);
      })
      .catch((e: Error) => this.log.warn({ unit: name, err: e.message }, 'agent: service registration'))
      .finally(() => {
        if (!s.queued && !s.reg && s.retry === undefined && this.slots.get(name) === s) this.slots.delete(name);
      });
  }

  /** The definition to register for the unit now, if it should be registered. */
  private wanted(name: string): { def: ServiceDefinition; hash: string } | undefined {
    if (!this.running || this.lease === undefined) return undefined;
    const held = this.opts.units.unit(name);
    if (!held || held.load !== 'loaded' || !held.started) return undefined;
    if (this.opts.runner.status(name)?.active !== 'active') return undefined;
    const file = this.opts.units.unitFile(name);
    if (!file) return undefined;
    const d = this.describe(name, held.hash, file);
    return 'def' in d ? { def: d.def, hash: held.hash } : undefined;
  }

  private async sync(name: string, s: Slot): Promise<void> {
    this.clock.clearTimeout(s.retry);
    s.retry = undefined;
    const want = this.wanted(name);
    if (s.reg && (!want || want.hash !== s.hash)) {
      const reg = s.reg;
      s.reg = undefined;
      s.hash = undefined;
      this.counts.deregistered++;
      try {
        await reg.deregister();
      } catch (e) {
        // Its checks are stopped; the record goes with the lease if the delete did not get through.
        this.log.warn({ unit: name, err: (e as Error).message }, 'agent: deregistering the service instance failed');
      }
    }
    this.pruneDescribed(name);
    if (!want) return;
    const lease = this.lease!;
    if (s.reg) {
      if (s.reg.lease !== lease) {
        s.reg.rebind(lease);
        this.counts.rebound++;
      }
      return;
    }
    let reg: ServiceRegistration;
    try {
      reg = await this.opts.register(want.def, lease);
    } catch (e) {
      this.counts.failed++;
      if (e instanceof ValidationError) {
        this.log.warn({ unit: name, err: e.message }, 'agent: the service instance is not valid; not registered');
        return;
      }
      this.log.warn({ unit: name, err: (e as Error).message }, 'agent: registering the service instance failed; trying again');
      s.retry = this.clock.setTimeout(() => {
        s.retry = undefined;
        this.syncSoon(name);
      }, this.retryMs);
      return;
    }
    s.reg = reg;
    s.hash = want.hash;
    this.counts.registered++;
    this.log.info({ unit: name, service: want.def.Name, id: want.def.ID, lease: lease.toString(16) }, 'agent: service instance registered');
    // The lease it was given is gone: rebound (or ended) once the machine has its next lease.
    reg.on('leaseLost', () => this.syncSoon(name));
    // The unit may have stopped, or the lease changed, while the registration was on its way.
    this.syncSoon(name);
  }

  private describe(name: string, hash: string, file: UnitFile): Described {
    const key = `${name}\0${hash}`;
    let d = this.described.get(key);
    if (d) return d;
    const section = findServiceSection(file.sections);
    if (!section) d = { none: true };
    else {
      try {
        const expand = (value: string) => expandSpecifiers(value, name, this.opts.facts);
        d = { def: serviceFromUnit(section, { unitName: name, machineId: this.opts.machineId, address: this.opts.address, expand }) };
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        d = { error: e.message };
        this.log.warn({ unit: name, err: e.message }, 'agent: the unit\'s [X-Service] section is not valid: the unit runs, nothing is registered');
      }
    }
    this.described.set(key, d);
    return d;
  }

  /** Forgets the sections of contents the unit no longer has here. */
  private pruneDescribed(name: string): void {
    const hash = this.opts.units.unit(name)?.hash;
    for (const key of this.described.keys()) {
      const [n, h] = key.split('\0') as [string, string];
      if (n === name && h !== hash) this.described.delete(key);
    }
  }
}
