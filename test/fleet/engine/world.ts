// A small builder of the registry state the scheduler reads, and a simulation of what follows its
// decisions (the engine writes them, the agents start and stop units), for multi-pass tests.
import type { ActiveState, DesiredState, FleetOptions } from '../../../src/fleet/types.js';
import {
  schedule,
  type Decision,
  type SchedulerMachine,
  type SchedulerPlacement,
  type SchedulerResult,
  type SchedulerUnit,
} from '../../../src/fleet/engine/scheduler.js';

export type UnitSpec = Partial<FleetOptions> & { desired?: DesiredState; invalid?: string; hash?: string };

export function options(o: Partial<FleetOptions> = {}): FleetOptions {
  return {
    machineOf: [],
    machineMetadata: {},
    conflicts: [],
    global: false,
    replaces: [],
    ...o,
  };
}

export class World {
  units = new Map<string, SchedulerUnit>();
  machines = new Map<string, SchedulerMachine>();
  placements = new Map<string, SchedulerPlacement>();
  states = new Map<string, Map<string, { active: ActiveState }>>();
  now = 1_000_000;
  holdOffMs = 10_000;

  machine(id: string, o: Partial<SchedulerMachine> = {}): this {
    this.machines.set(id, { id, metadata: {}, cpus: 2, memFree: 1e9, load: 0, ...o });
    return this;
  }

  unit(name: string, spec: UnitSpec = {}): this {
    const { desired = 'launched', invalid, hash = 'h-' + name, ...o } = spec;
    const u: SchedulerUnit = { name, desired, hash };
    if (invalid !== undefined) u.invalid = invalid;
    else u.options = options(o);
    this.units.set(name, u);
    return this;
  }

  /** Placed `ageMs` ago (old enough for any hold-off by default). */
  placed(name: string, machine: string, ageMs = 3_600_000): this {
    this.placements.set(name, { machine, at: this.now - ageMs });
    return this;
  }

  reports(name: string, machine: string, active: ActiveState = 'active'): this {
    let m = this.states.get(name);
    if (!m) this.states.set(name, (m = new Map()));
    m.set(machine, { active });
    return this;
  }

  gone(machine: string): this {
    this.machines.delete(machine);
    for (const [name, m] of this.states) {
      m.delete(machine);
      if (m.size === 0) this.states.delete(name);
    }
    return this;
  }

  run(): SchedulerResult {
    return schedule({
      units: this.units,
      machines: this.machines,
      placements: this.placements,
      states: this.states,
      now: this.now,
      holdOffMs: this.holdOffMs,
    });
  }

  /** Writes the decisions as the engine would. */
  apply(r: SchedulerResult): this {
    for (const d of r.decisions) {
      if (d.kind === 'place') this.placements.set(d.unit, { machine: d.machine, at: this.now });
      else this.placements.delete(d.unit);
    }
    return this;
  }

  /** The agents catch up: each placed launched unit runs on its machine; nothing else runs. */
  settle(): this {
    this.states.clear();
    for (const [name, p] of this.placements) {
      const u = this.units.get(name);
      if (u?.desired === 'launched' && this.machines.has(p.machine)) this.reports(name, p.machine, 'active');
    }
    return this;
  }

  /** Passes (apply + settle, then `stepMs` pass) until nothing changes; returns the last result. */
  converge(max = 10, stepMs = 0): SchedulerResult {
    for (let i = 0; i < max; i++) {
      const r = this.run();
      if (r.decisions.length === 0 && r.retryAt === undefined) return r;
      this.apply(r).settle();
      this.now += stepMs;
    }
    throw new Error('no fixed point');
  }

  where(): Record<string, string> {
    return Object.fromEntries([...this.placements].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, p]) => [n, p.machine]));
  }
}

export function placed(r: SchedulerResult): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of r.decisions) if (d.kind === 'place') out[d.unit] = d.machine;
  return out;
}

export function unplaced(r: SchedulerResult): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of r.decisions) if (d.kind === 'unplace') out[d.unit] = d.from;
  return out;
}

export function reasonOf(r: SchedulerResult, unit: string): string | undefined {
  return r.unschedulable.find((u) => u.unit === unit)?.reason;
}

export function decisionOf(r: SchedulerResult, unit: string): Decision | undefined {
  return r.decisions.find((d) => d.unit === unit);
}

export { seededRandom as rng } from '../../support/seeded-random.js';
