// Reads and writes of fleet's records in the store, each one a single request or a guarded txn, so
// that two fleetctls, two engines or an engine and an operator never overwrite each other blindly.
import { Compare, Op, toText, type Client, type TxnCompare } from '../../client/index.js';
import type { DesiredState, UnitFile } from '../types.js';
import { unitHash } from '../unit/index.js';
import { RegistryKeys } from './keys.js';
import {
  decodeMachine,
  decodePlacement,
  decodeState,
  decodeUnit,
  encodeRecord,
  RecordError,
  type MachineRecord,
  type PlacementRecord,
  type UnitRecord,
  type UnitStateRecord,
} from './records.js';

export class RegistryError extends Error {
  constructor(
    readonly code: 'UnitExists' | 'UnitNotFound' | 'ContentMissing' | 'Conflict',
    message: string,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** Everything under the prefix at one revision. */
export interface RegistrySnapshot {
  revision: number;
  units: Map<string, UnitRecord>;
  contents: Map<string, string>;
  placements: Map<string, PlacementRecord>;
  machines: Map<string, MachineRecord>;
  /** unit name -> machine id -> state */
  states: Map<string, Map<string, UnitStateRecord>>;
  /** The mod revision of every key read (for guarded writes). */
  modRevisions: Map<string, number>;
  /** Records that could not be decoded (skipped). */
  errors: RecordError[];
}

export type SubmitResult = 'created' | 'unchanged' | 'replaced';

/** One unit's new placement (undefined: unplaced), written only if `guards` hold. */
export interface PlacementChange {
  name: string;
  placement: PlacementRecord | undefined;
  guards: readonly TxnCompare[];
}

/** How many times a read-modify-write is retried when another writer got there first. */
const CAS_ATTEMPTS = 20;

export class Registry {
  readonly keys: RegistryKeys;

  constructor(
    readonly client: Client,
    prefix?: string,
  ) {
    this.keys = new RegistryKeys(prefix);
  }

  /** One linearizable read of the whole registry. */
  async snapshot(opts: { serializable?: boolean } = {}): Promise<RegistrySnapshot> {
    const r = await this.client.get(this.keys.prefix, { prefix: true, serializable: opts.serializable });
    const snap = emptySnapshot(r.header.revision ?? 0);
    for (const kv of r.kvs) applyPut(this.keys, snap, toText(kv.key), toText(kv.value), kv.mod_revision);
    return snap;
  }

  async getUnit(name: string): Promise<{ unit: UnitRecord; modRevision: number } | undefined> {
    const key = this.keys.unit(name);
    const r = await this.client.get(key);
    const kv = r.kvs[0];
    if (!kv) return undefined;
    return { unit: decodeUnit(key, toText(kv.value)), modRevision: kv.mod_revision };
  }

  async getContent(hash: string): Promise<string> {
    const r = await this.client.get(this.keys.content(hash));
    const kv = r.kvs[0];
    if (!kv) throw new RegistryError('ContentMissing', `unit content ${hash} is missing from the registry`);
    return toText(kv.value);
  }

  /**
   * Submits a unit. An identical resubmission changes nothing; different content is refused unless
   * `replace` (then the unit keeps its desired state and the machine running it restarts it).
   */
  async submit(unit: UnitFile, opts: { desired?: DesiredState; replace?: boolean } = {}): Promise<SubmitResult> {
    const hash = unitHash(unit.text);
    const contentKey = this.keys.content(hash);
    const unitKey = this.keys.unit(unit.name);
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const current = await this.getUnit(unit.name);
      if (current && current.unit.hash === hash) {
        if (opts.desired && rank(opts.desired) > rank(current.unit.desired)) {
          await this.setDesired(unit.name, opts.desired, { onlyRaise: true });
        }
        return 'unchanged';
      }
      if (current && !opts.replace) {
        throw new RegistryError('UnitExists', `unit ${unit.name} already exists with different content (use --replace to update it in place)`);
      }
      const rec: UnitRecord = { name: unit.name, hash, desired: current ? maxDesired(current.unit.desired, opts.desired) : (opts.desired ?? 'inactive') };
      const guard = current ? Compare.modRevision(unitKey, '=', current.modRevision) : Compare.createRevision(unitKey, '=', 0);
      const r = await this.client
        .txn()
        .if(guard)
        .then(Op.put(contentKey, unit.text), Op.put(unitKey, encodeRecord(rec)))
        .commit();
      if (r.succeeded) return current ? 'replaced' : 'created';
    }
    throw new RegistryError('Conflict', `unit ${unit.name} kept changing while it was being submitted; try again`);
  }

  /** Sets what the operator wants of a unit; `onlyRaise` never lowers it (submit of a loaded unit). */
  async setDesired(name: string, desired: DesiredState, opts: { onlyRaise?: boolean } = {}): Promise<UnitRecord> {
    const key = this.keys.unit(name);
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const current = await this.getUnit(name);
      if (!current) throw new RegistryError('UnitNotFound', `unit ${name} does not exist`);
      if (current.unit.desired === desired || (opts.onlyRaise && rank(desired) <= rank(current.unit.desired))) return current.unit;
      const rec: UnitRecord = { ...current.unit, desired };
      const r = await this.client.txn().if(Compare.modRevision(key, '=', current.modRevision)).then(Op.put(key, encodeRecord(rec))).commit();
      if (r.succeeded) return rec;
    }
    throw new RegistryError('Conflict', `unit ${name} kept changing; try again`);
  }

  /** Removes a unit and its placement; its machine stops it. Returns false when it did not exist. */
  async destroy(name: string): Promise<boolean> {
    const r = await this.client.txn().then(Op.delete(this.keys.unit(name)), Op.delete(this.keys.placement(name))).commit();
    const del = r.responses[0];
    return !!del && 'response_delete_range' in del && Number(del.response_delete_range.deleted) > 0;
  }

  /** Deletes a unit text, only if `guards` hold (the engine's: its election key, the text's mod revision). */
  async deleteContent(hash: string, guards: TxnCompare[]): Promise<boolean> {
    const r = await this.client.txn().if(...guards).then(Op.delete(this.keys.content(hash))).commit();
    return r.succeeded;
  }

  /**
   * The engine's write: places (or with `machine` undefined, unplaces) a unit, only if `guards`
   * hold (the engine's own leadership key, the placement as the engine last saw it).
   */
  async setPlacement(name: string, placement: PlacementRecord | undefined, guards: TxnCompare[]): Promise<boolean> {
    return this.setPlacements([{ name, placement, guards }]);
  }

  /**
   * Several placement changes in one transaction: all are written, or none (when one guard of any
   * of them fails). Each unit at most once, and at most 128 compares and 128 operations in all
   * (kvd's and etcd's default --max-txn-ops); the engine's passes stay within both.
   */
  async setPlacements(changes: readonly PlacementChange[], shared: readonly TxnCompare[] = []): Promise<boolean> {
    const guards = [...shared, ...changes.flatMap((c) => c.guards)];
    const ops = changes.map(({ name, placement }) => {
      const key = this.keys.placement(name);
      return placement ? Op.put(key, encodeRecord(placement)) : Op.delete(key);
    });
    const r = await this.client.txn().if(...guards).then(...ops).commit();
    return r.succeeded;
  }

  /**
   * The agent's announcement of its machine, under its lease. Returns the revision of the write: a
   * view that has reached it has seen every placement change made before the machine (re)appeared.
   */
  async announce(machine: MachineRecord, lease: bigint): Promise<number> {
    const r = await this.client.put(this.keys.machine(machine.id), encodeRecord(machine), { lease });
    return r.header.revision ?? 0;
  }

  async reportState(state: UnitStateRecord, lease: bigint): Promise<void> {
    await this.client.put(this.keys.state(state.name, state.machine), encodeRecord(state), { lease });
  }

  async clearState(name: string, machine: string): Promise<void> {
    await this.client.delete(this.keys.state(name, machine));
  }
}

/** A registry with nothing in it, as of `revision`. */
export function emptySnapshot(revision = 0): RegistrySnapshot {
  return {
    revision,
    units: new Map(),
    contents: new Map(),
    placements: new Map(),
    machines: new Map(),
    states: new Map(),
    modRevisions: new Map(),
    errors: [],
  };
}

/** Applies one key's value to a snapshot (also used by the live view for watch events). */
export function applyPut(keys: RegistryKeys, snap: RegistrySnapshot, key: string, value: string, modRevision: number): void {
  const p = keys.parse(key);
  if (!p) return;
  snap.modRevisions.set(key, modRevision);
  try {
    switch (p.kind) {
      case 'content':
        snap.contents.set(p.hash, value);
        break;
      case 'unit':
        snap.units.set(p.name, decodeUnit(key, value));
        break;
      case 'placement':
        snap.placements.set(p.name, decodePlacement(key, value));
        break;
      case 'machine':
        snap.machines.set(p.id, decodeMachine(key, value));
        break;
      case 'state': {
        let m = snap.states.get(p.name);
        if (!m) snap.states.set(p.name, (m = new Map()));
        m.set(p.machine, decodeState(key, value));
        break;
      }
      case 'engine':
        break;
    }
  } catch (e) {
    if (e instanceof RecordError) snap.errors.push(e);
    else throw e;
  }
}

export function applyDelete(keys: RegistryKeys, snap: RegistrySnapshot, key: string): void {
  const p = keys.parse(key);
  if (!p) return;
  snap.modRevisions.delete(key);
  switch (p.kind) {
    case 'content':
      snap.contents.delete(p.hash);
      break;
    case 'unit':
      snap.units.delete(p.name);
      break;
    case 'placement':
      snap.placements.delete(p.name);
      break;
    case 'machine':
      snap.machines.delete(p.id);
      break;
    case 'state': {
      const m = snap.states.get(p.name);
      m?.delete(p.machine);
      if (m && m.size === 0) snap.states.delete(p.name);
      break;
    }
    case 'engine':
      break;
  }
}

function rank(d: DesiredState): number {
  return d === 'inactive' ? 0 : d === 'loaded' ? 1 : 2;
}

function maxDesired(a: DesiredState, b: DesiredState | undefined): DesiredState {
  return b && rank(b) > rank(a) ? b : a;
}
