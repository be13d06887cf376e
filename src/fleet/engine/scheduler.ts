// The engine's decisions, as a pure function of the registry's state: which unit goes on which
// machine, which placement must go, and why a unit is left where it is or waits. No I/O and no clock
// (`now` is an input), so that every rule can be tested by building a state and reading the answer,
// and so that the same state always gives the same decisions.
//
// A pass works on a copy of the placements and updates it after each decision: units placed in one
// pass see each other (a MachineOf follower finds its target, two conflicting units never land on
// the same machine). Units are taken in dependency order: a MachineOf target before its followers, a
// unit before the units it replaces.
import type { ActiveState, DesiredState, FleetOptions } from '../types.js';
import { isTemplate, matchGlob } from '../unit/index.js';

export interface SchedulerUnit {
  name: string;
  desired: DesiredState;
  hash: string;
  /** Its [X-Fleet] options; undefined when its file could not be read (`invalid` says why). */
  options?: FleetOptions;
  invalid?: string;
}

/** The parts of a machine record the scheduler reads (a registry MachineRecord is one). */
export interface SchedulerMachine {
  id: string;
  metadata: Readonly<Record<string, string>>;
  cpus: number;
  /** Bytes. */
  memFree: number;
  /** 1-minute load average. */
  load: number;
}

export interface SchedulerPlacement {
  machine: string;
  /** When it was placed (ms, the engine's clock): the hold-off counts from here. */
  at: number;
}

export interface SchedulerInput {
  units: ReadonlyMap<string, SchedulerUnit>;
  /** Live machines only (a machine whose lease expired is not here). */
  machines: ReadonlyMap<string, SchedulerMachine>;
  placements: ReadonlyMap<string, SchedulerPlacement>;
  /** unit -> machine -> what that machine reports of the unit. */
  states: ReadonlyMap<string, ReadonlyMap<string, { active: ActiveState }>>;
  now: number;
  /** A placement younger than this is not moved (damping); 0 moves at once. */
  holdOffMs: number;
}

export type Decision =
  /**
   * `leaving`: the machine, gone, that the unit was placed on. The move is right only while that
   * machine stays gone: the engine's write is guarded by its absence (see placementGuards).
   */
  | { kind: 'place'; unit: string; machine: string; reason: string; leaving?: string }
  | { kind: 'unplace'; unit: string; from: string; reason: string };

/** A unit that needs a machine (or a move) and did not get one in this pass, and why. */
export interface Unschedulable {
  unit: string;
  reason: string;
}

export interface SchedulerResult {
  decisions: Decision[];
  unschedulable: Unschedulable[];
  /** The earliest time a change now held off becomes possible (a pass then makes it). */
  retryAt?: number;
}

/** States in which a unit still runs (or is being started or stopped) on a machine. */
const RUNNING: ReadonlySet<ActiveState> = new Set<ActiveState>(['activating', 'active', 'deactivating']);

/** The short machine id that fleetctl prints. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

export function schedule(input: SchedulerInput): SchedulerResult {
  return new Pass(input).run();
}

/** The order in which the constraints rule machines out: the first that rules out every machine is the reason given. */
type Stage = 'MachineID' | 'MachineOf' | 'MachineMetadata' | 'Conflicts';
const STAGES: readonly Stage[] = ['MachineID', 'MachineOf', 'MachineMetadata', 'Conflicts'];

interface Refusal {
  stage: Stage;
  reason: string;
}

class Pass {
  private readonly decisions: Decision[] = [];
  private readonly unschedulable: Unschedulable[] = [];
  private retryAt: number | undefined;
  /** The working placements: unit -> machine (also placements on dead machines that are held off). */
  private readonly placement = new Map<string, string>();
  /** Live machine -> units placed on it (working). */
  private readonly placedOn = new Map<string, Set<string>>();
  /** Live machine -> Global units that run there (desired loaded/launched, metadata matches). */
  private readonly globalOn = new Map<string, Set<string>>();
  /** Live machine -> units it reports running (possibly unplaced and being stopped). */
  private readonly runningOn = new Map<string, Set<string>>();
  /** Units moved off a live machine in this pass (-> that machine): they are placed again in a later pass. */
  private readonly movedOff = new Map<string, string>();
  /** Units placed in this pass. */
  private readonly placedNow = new Set<string>();
  private readonly machineIds: string[];
  private readonly order: string[];

  constructor(private readonly input: SchedulerInput) {
    this.machineIds = [...input.machines.keys()].sort();
    for (const id of this.machineIds) {
      this.placedOn.set(id, new Set());
      this.globalOn.set(id, new Set());
      this.runningOn.set(id, new Set());
    }
    for (const [name, p] of sortedEntries(input.placements)) {
      this.placement.set(name, p.machine);
      this.placedOn.get(p.machine)?.add(name);
    }
    for (const [name, u] of sortedEntries(input.units)) {
      if (!isGlobal(u) || u.desired === 'inactive' || isTemplate(name)) continue;
      for (const id of this.machineIds) {
        if (metadataMatches(u.options!.machineMetadata, input.machines.get(id)!.metadata)) this.globalOn.get(id)!.add(name);
      }
    }
    for (const [name, byMachine] of sortedEntries(input.states)) {
      for (const [machine, st] of byMachine) {
        if (RUNNING.has(st.active)) this.runningOn.get(machine)?.add(name);
      }
    }
    this.order = dependencyOrder(input.units, (a, b) => this.replaces(a, b));
  }

  run(): SchedulerResult {
    // First the units that are placed: keep, unplace or (machine gone) free for placing again.
    const placedOrder = [
      ...this.order.filter((n) => this.input.placements.has(n)),
      ...[...this.input.placements.keys()].filter((n) => !this.input.units.has(n)).sort(),
    ];
    const fromDead = new Map<string, string>();
    for (const name of placedOrder) {
      const dead = this.review(name);
      if (dead !== undefined) fromDead.set(name, dead);
    }
    // Then every unit that needs a machine.
    for (const name of this.order) this.place(name, fromDead.get(name));
    const result: SchedulerResult = { decisions: this.decisions, unschedulable: this.unschedulable };
    if (this.retryAt !== undefined) result.retryAt = this.retryAt;
    return result;
  }

  /** A placed unit: keeps it, unplaces it, or returns the dead machine it must leave. */
  private review(name: string): string | undefined {
    const p = this.input.placements.get(name)!;
    const u = this.input.units.get(name);
    if (!u) return void this.unplace(name, p.machine, 'the unit no longer exists');
    if (u.desired === 'inactive') return void this.unplace(name, p.machine, 'desired state is inactive');
    if (isTemplate(name)) return void this.unplace(name, p.machine, 'a template unit is never placed (its instances are)');
    if (isGlobal(u)) return void this.unplace(name, p.machine, 'the unit is Global now: every matching machine runs it, unplaced');
    const machine = this.input.machines.get(p.machine);
    if (!machine) {
      if (this.heldOff(name, p, `machine ${shortId(p.machine)} is gone`)) return undefined;
      this.placement.delete(name);
      return p.machine;
    }
    if (!u.options) {
      this.unschedulable.push({ unit: name, reason: `unit file is invalid (${u.invalid ?? 'unknown error'}); left on ${shortId(p.machine)}` });
      return undefined;
    }
    const refusal = this.refusal(u, machine, 'keep');
    if (!refusal) return undefined;
    const why = `no longer eligible on ${shortId(p.machine)}: ${refusal.reason}`;
    if (this.heldOff(name, p, why)) return undefined;
    this.moveOff(name, p.machine, why);
    return undefined;
  }

  /** Places `name` if it needs a machine and one is eligible; says why not otherwise. */
  private place(name: string, deadMachine: string | undefined): void {
    const u = this.input.units.get(name)!;
    if (u.desired === 'inactive' || isGlobal(u) || this.placement.has(name)) return;
    const from = deadMachine ? `machine ${shortId(deadMachine)} is gone; ` : '';
    const cannot = (reason: string) => {
      this.unschedulable.push({ unit: name, reason: from + reason });
      // A placement left on a dead machine would name a machine that runs nothing.
      if (deadMachine) this.unplace(name, deadMachine, `machine ${shortId(deadMachine)} is gone and no machine can take the unit: ${reason}`);
    };
    if (isTemplate(name)) return cannot('a template unit is never placed: start an instance (name@1.service)');
    if (!u.options) return cannot(`unit file is invalid: ${u.invalid ?? 'unknown error'}`);
    const leaving = this.movedOff.get(name);
    if (leaving !== undefined) return cannot(`moving off ${shortId(leaving)}: placed again once it stopped there`);
    const runningOn = this.machineIds.filter((id) => this.runningOn.get(id)!.has(name));
    if (runningOn.length === 1 && !this.refusal(u, this.input.machines.get(runningOn[0]!)!, 'place')) {
      // Still running where it may run: placing it back there cannot put it on two machines.
      return this.placeOn(u, runningOn[0]!, `${from}still running on ${shortId(runningOn[0]!)}, which is eligible: placed back there`, deadMachine);
    }
    if (runningOn.length > 0) {
      return cannot(`waiting for ${runningOn.map(shortId).join(', ')} to stop it before it runs elsewhere`);
    }
    if (this.machineIds.length === 0) return cannot('no live machines');
    const refusals = new Map<string, Refusal>();
    const eligible: SchedulerMachine[] = [];
    for (const id of this.machineIds) {
      const m = this.input.machines.get(id)!;
      const r = this.refusal(u, m, 'place');
      if (r) refusals.set(id, r);
      else eligible.push(m);
    }
    if (eligible.length === 0) return cannot(this.summary(u, refusals));
    const counts = new Map(eligible.map((m) => [m.id, this.present(m.id).size]));
    eligible.sort((a, b) => compareMachines(a, b, counts));
    const target = eligible[0]!;
    const what = u.desired === 'launched' ? 'launched' : 'loaded';
    this.placeOn(u, target.id, `${from}desired ${what}: least loaded of ${eligible.length} eligible machine${eligible.length === 1 ? '' : 's'}`, deadMachine);
  }

  private placeOn(u: SchedulerUnit, machine: string, reason: string, leaving?: string): void {
    this.decisions.push({ kind: 'place', unit: u.name, machine, reason, ...(leaving !== undefined && { leaving }) });
    this.placement.set(u.name, machine);
    this.placedOn.get(machine)!.add(u.name);
    this.placedNow.add(u.name);
    // The units it replaces on that machine make room (after their hold-off). One placed in this
    // very pass (only possible in a cycle of Replaces) is left to the next pass.
    for (const other of [...this.placedOn.get(machine)!].sort()) {
      if (other === u.name || this.placedNow.has(other) || !this.replaces(u.name, other)) continue;
      const p = this.input.placements.get(other)!;
      const why = `replaced on ${shortId(machine)} by ${u.name}`;
      if (this.heldOff(other, p, why)) continue;
      this.moveOff(other, machine, why);
    }
  }

  /** The first step of a move off a live machine: the placement goes; a later pass places it again. */
  private moveOff(name: string, from: string, why: string): void {
    this.unplace(name, from, `${why}; moving it off (placed elsewhere once it stopped there)`);
    this.movedOff.set(name, from);
  }

  private unplace(name: string, from: string, reason: string): void {
    this.decisions.push({ kind: 'unplace', unit: name, from, reason });
    this.placement.delete(name);
    this.placedOn.get(from)?.delete(name);
  }

  /** True (and the wait noted) when the placement is too young to change. */
  private heldOff(name: string, p: SchedulerPlacement, why: string): boolean {
    const until = p.at + this.input.holdOffMs;
    if (this.input.now >= until) return false;
    const left = ((until - this.input.now) / 1000).toFixed(1);
    this.unschedulable.push({ unit: name, reason: `${why}; held off ${left} s more (placed ${((this.input.now - p.at) / 1000).toFixed(1)} s ago)` });
    if (this.retryAt === undefined || until < this.retryAt) this.retryAt = until;
    return true;
  }

  /**
   * Why `u` may not be on `m`, or undefined when it may. `keep` judges a unit already there against
   * the units placed there; `place` also counts the units still running there (being stopped).
   */
  private refusal(u: SchedulerUnit, m: SchedulerMachine, mode: 'keep' | 'place'): Refusal | undefined {
    const o = u.options!;
    if (o.machineId !== undefined && o.machineId !== m.id) {
      return { stage: 'MachineID', reason: `MachineID=${o.machineId} names another machine` };
    }
    const hosted = this.hosted(m.id);
    for (const target of o.machineOf) {
      if (!hosted.has(target)) return { stage: 'MachineOf', reason: `MachineOf=${target} is not placed there` };
    }
    if (!metadataMatches(o.machineMetadata, m.metadata)) {
      return { stage: 'MachineMetadata', reason: `does not match MachineMetadata ${formatMetadata(o.machineMetadata)}` };
    }
    const present = mode === 'keep' ? hosted : this.present(m.id);
    for (const other of [...present].sort()) {
      if (other === u.name) continue;
      if (this.replaces(u.name, other)) continue; // it makes room for this one
      if (this.replaces(other, u.name)) return { stage: 'Conflicts', reason: `${other} replaces it there` };
      const ours = o.conflicts.find((p) => matchGlob(p, other));
      if (ours !== undefined) return { stage: 'Conflicts', reason: `conflicts with ${other} (Conflicts=${ours})` };
      const theirs = this.input.units.get(other)?.options?.conflicts.find((p) => matchGlob(p, u.name));
      if (theirs !== undefined) return { stage: 'Conflicts', reason: `${other} conflicts with it (its Conflicts=${theirs})` };
    }
    return undefined;
  }

  /** Why no machine took `u`: the first constraint that ruled out every machine left. */
  private summary(u: SchedulerUnit, refusals: Map<string, Refusal>): string {
    const o = u.options!;
    const byStage = (s: Stage) => [...refusals].filter(([, r]) => r.stage === s);
    const last = STAGES.filter((s) => byStage(s).length > 0).at(-1)!;
    switch (last) {
      case 'MachineID':
        return `MachineID=${o.machineId} is not a live machine`;
      case 'MachineOf': {
        const missing = o.machineOf.filter((t) => !this.machineIds.some((id) => this.hosted(id).has(t)));
        if (missing.length > 0) return missing.map((t) => `waiting for MachineOf=${t}: ${this.whereIs(t)}`).join('; ');
        return `no machine hosts all of MachineOf=${o.machineOf.join(',')}`;
      }
      case 'MachineMetadata':
        return `no machine matches MachineMetadata ${formatMetadata(o.machineMetadata)}`;
      case 'Conflicts':
        return `every candidate machine has a conflict: ${byStage('Conflicts')
          .map(([id, r]) => `${shortId(id)}: ${r.reason}`)
          .join('; ')}`;
    }
  }

  private whereIs(name: string): string {
    if (!this.input.units.has(name)) return `${name} does not exist`;
    const on = this.placement.get(name);
    return on === undefined ? `${name} is not placed` : `${name} is on machine ${shortId(on)}, which is gone`;
  }

  /** Units placed on the machine, and the Global units that run there. */
  private hosted(id: string): Set<string> {
    return new Set([...this.placedOn.get(id)!, ...this.globalOn.get(id)!]);
  }

  /** Hosted units and the units it still reports running. */
  private present(id: string): Set<string> {
    return new Set([...this.hosted(id), ...this.runningOn.get(id)!]);
  }

  /** `a` displaces `b` (Replaces= matches b), unless each replaces the other (ignored, as fleet does). */
  private replaces(a: string, b: string): boolean {
    const ra = this.input.units.get(a)?.options?.replaces ?? [];
    if (!ra.some((p) => matchGlob(p, b))) return false;
    const rb = this.input.units.get(b)?.options?.replaces ?? [];
    return !rb.some((p) => matchGlob(p, a));
  }
}

/** Fewest units, then most free memory, then lowest load per CPU, then id. */
function compareMachines(a: SchedulerMachine, b: SchedulerMachine, counts: ReadonlyMap<string, number>): number {
  const count = counts.get(a.id)! - counts.get(b.id)!;
  if (count !== 0) return count;
  if (a.memFree !== b.memFree) return b.memFree - a.memFree;
  const la = a.load / Math.max(a.cpus, 1);
  const lb = b.load / Math.max(b.cpus, 1);
  if (la !== lb) return la - lb;
  return a.id < b.id ? -1 : 1; // ids are unique
}

function isGlobal(u: SchedulerUnit): boolean {
  return u.options?.global === true;
}

/** Every key required must have one of its values (same key repeated = OR, different keys = AND). */
export function metadataMatches(required: Readonly<Record<string, readonly string[]>>, metadata: Readonly<Record<string, string>>): boolean {
  for (const [key, values] of Object.entries(required)) {
    const have = Object.hasOwn(metadata, key) ? metadata[key] : undefined;
    if (have === undefined || !values.includes(have)) return false;
  }
  return true;
}

/** `region=us-east|us-west disk=ssd`. */
export function formatMetadata(required: Readonly<Record<string, readonly string[]>>): string {
  return Object.entries(required)
    .map(([k, vs]) => `${k}=${vs.join('|')}`)
    .join(' ');
}

function sortedEntries<V>(m: ReadonlyMap<string, V>): [string, V][] {
  return [...m].sort(([a], [b]) => (a < b ? -1 : 1)); // keys are unique
}

/**
 * Unit names in an order where a MachineOf target comes before its followers and a unit before
 * those it replaces; otherwise by name. Units in a cycle come last, by name.
 */
function dependencyOrder(units: ReadonlyMap<string, SchedulerUnit>, replaces: (a: string, b: string) => boolean): string[] {
  const names = [...units.keys()].sort();
  const after = new Map<string, Set<string>>(names.map((n) => [n, new Set()]));
  const before = new Map<string, number>(names.map((n) => [n, 0]));
  const edge = (from: string, to: string) => {
    if (from === to || after.get(from)!.has(to)) return;
    after.get(from)!.add(to);
    before.set(to, before.get(to)! + 1);
  };
  for (const name of names) {
    const o = units.get(name)!.options;
    if (!o) continue;
    for (const target of o.machineOf) if (units.has(target)) edge(target, name);
    if (o.replaces.length > 0) for (const other of names) if (replaces(name, other)) edge(name, other);
  }
  const ready = names.filter((n) => before.get(n) === 0);
  const out: string[] = [];
  while (ready.length > 0) {
    const n = ready.shift()!;
    out.push(n);
    for (const next of after.get(n)!) {
      const left = before.get(next)! - 1;
      before.set(next, left);
      if (left === 0) insertSorted(ready, next);
    }
  }
  if (out.length < names.length) {
    const done = new Set(out);
    out.push(...names.filter((n) => !done.has(n)));
  }
  return out;
}

function insertSorted(list: string[], item: string): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]! < item) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, item);
}
