// One write request's changes (etcd's storeTxnWrite): every put and delete of the request shares
// the main revision currentRevision + 1, numbered by sub-revision in order. Changes go straight
// into the in-memory index and live values (reads inside the same txn see them), into the LevelDB
// batch of the apply call, into the records not yet written (so that history reads find them), and
// into the batch's events. The revision only counts as used once a change has been made: a txn
// that changes nothing leaves the store revision where it was.
import type { Event, KeyValue, LeaseId } from './api.js';
import { EventType } from './api.js';
import { EMPTY_BYTES, keyStr, latin1, type KeyInterval, type KeyStr } from './bytes.js';
import type { Lessor } from './lease/lessor.js';
import type { LevelOp } from '../raft/storage/level-batch.js';
import { encodeLease, encodeRecord, encodeTombstone, leaseKey } from './record-codec.js';
import { revId, revKey } from './revision.js';
import type { TreeIndex } from './tree-index.js';
import type { ValueCache } from './value-cache.js';

/** One operation of an apply's LevelDB batch. */
export type BatchOp = LevelOp;

/** A change record of a batch not written yet. */
export interface PendingRecord {
  main: number;
  sub: number;
  key: Uint8Array;
  /** undefined for a tombstone. */
  kv: KeyValue | undefined;
}

/** Everything one apply() call writes: one LevelDB batch, the events it produced. */
export class ApplyBatch {
  readonly ops: BatchOp[] = [];
  readonly events: Event[] = [];
  /** revIds of the batch's records (in `pending` until the batch is written). */
  readonly ids: string[] = [];
  /** Approximate bytes the batch adds to the database. */
  bytes = 0;

  constructor(
    /** Records of this batch by revId, readable (history, events) before the batch is written. */
    readonly pending: Map<string, PendingRecord>,
    /**
     * Whether the events carry prev_kv. Only a watcher that asked for it needs it, and building
     * it costs a put or a delete two buffers and an object per key (a third of a large delete's
     * CPU); without it the watch hub reads the previous values from history if a watcher that
     * wants them turns up (watch-hub.ts, fromHistory).
     */
    readonly eventPrevKv = true,
  ) {}

  putRecord(main: number, sub: number, kv: KeyValue | undefined, key: Uint8Array): void {
    const value = kv ? encodeRecord(kv) : encodeTombstone(key);
    this.ops.push({ type: 'put', key: revKey(main, sub), value });
    const id = revId(main, sub);
    this.pending.set(id, { main, sub, key, kv });
    this.ids.push(id);
    this.bytes += value.length + 13;
  }

  putLease(id: LeaseId, ttl: number): void {
    const key = leaseKey(id);
    const value = encodeLease(ttl);
    this.ops.push({ type: 'put', key, value });
    this.bytes += key.length + value.length;
  }

  delLease(id: LeaseId, ttl: number): void {
    const key = leaseKey(id);
    this.ops.push({ type: 'del', key });
    this.bytes -= key.length + encodeLease(ttl).length;
  }
}

/** The store state a write touches. */
export interface WriteTarget {
  tree: TreeIndex;
  values: ValueCache;
  lessor: Lessor;
  revision: number;
  liveKeys: number;
}

/** A DELETE event's kv: etcd fills only key and mod_revision. */
function deletedKv(key: Uint8Array, main: number): KeyValue {
  return Object.freeze({ key, create_revision: 0, mod_revision: main, version: 0, value: EMPTY_BYTES, lease: 0n });
}

export class WriteTxn {
  readonly beginRev: number;
  private changes = 0;
  constructor(
    private readonly s: WriteTarget,
    private readonly batch: ApplyBatch,
  ) {
    this.beginRev = s.revision;
  }

  /** The revision a read inside the txn reports: the new one once something changed. */
  rev(): number {
    return this.changes > 0 ? this.beginRev + 1 : this.beginRev;
  }

  hasChanges(): boolean {
    return this.changes > 0;
  }

  /** Writes key = value (with lease, 0n for none); returns the new revision. */
  put(key: Uint8Array, value: Uint8Array, lease: LeaseId, k: KeyStr = keyStr(key)): number {
    const main = this.beginRev + 1;
    const sub = this.changes++;
    const ki = this.s.tree.getOrCreate(k);
    const wasLive = ki.isLive();
    const prevLease = ki.lease;
    const prev = wasLive && this.batch.eventPrevKv ? ki.live() : undefined;
    const kv: KeyValue = Object.freeze({
      key,
      create_revision: wasLive ? ki.created : main,
      mod_revision: main,
      version: wasLive ? ki.ver + 1 : 1,
      value: value.length === 0 ? EMPTY_BYTES : value,
      lease,
    });
    ki.put(main, sub, lease);
    this.s.values.set(ki, latin1(value));
    if (!wasLive) this.s.liveKeys++;
    this.batch.putRecord(main, sub, kv, key);
    // A create event (version 1) has no prev_kv, as on etcd's watch, even when a from-key delete
    // earlier in the same txn removed the key.
    this.batch.events.push(prev ? { type: EventType.PUT, kv, prev_kv: prev } : { type: EventType.PUT, kv });
    const lessor = this.s.lessor;
    if (wasLive && prevLease !== 0n) lessor.detach(prevLease, k);
    if (lease !== 0n) lessor.attach(lease, k);
    this.s.revision = main;
    return main;
  }

  /** Deletes the live keys of the interval; returns how many. */
  deleteRange(iv: KeyInterval): number {
    return this.deleteKeys(this.liveKeysIn(iv));
  }

  /** The live keys of the interval, in key order. */
  liveKeysIn(iv: KeyInterval): KeyStr[] {
    const keys: KeyStr[] = [];
    this.s.tree.visit(iv, (k, ki) => {
      if (ki.isLive()) keys.push(k);
    });
    return keys;
  }

  /** Deletes keys[from, to) (live keys, as liveKeysIn found them); returns how many were live. */
  deleteKeys(keys: readonly KeyStr[], from = 0, to = keys.length): number {
    let n = 0;
    for (let i = from; i < to; i++) if (this.deleteKey(keys[i]!)) n++;
    return n;
  }

  /**
   * Deletes one key if it is live; returns whether it was. The event carries prev_kv when some
   * watcher wants it and the value is in memory; a delete that did not ask for the previous values
   * does not load them (a delete_range over a million cold keys would read them all), and the
   * watch hub reads them from history for the watchers that want them.
   */
  deleteKey(k: KeyStr): boolean {
    const ki = this.s.tree.get(k);
    if (!ki || !ki.isLive()) return false;
    const prev = this.batch.eventPrevKv && ki.hasValue() ? ki.live() : undefined;
    const key = prev ? prev.key : Buffer.from(k, 'latin1');
    const lease = ki.lease;
    const main = this.beginRev + 1;
    const sub = this.changes++;
    ki.tombstone(main, sub);
    this.s.values.drop(ki);
    this.s.liveKeys--;
    this.batch.putRecord(main, sub, undefined, key);
    const kv = deletedKv(key, main);
    this.batch.events.push(prev ? { type: EventType.DELETE, kv, prev_kv: prev } : { type: EventType.DELETE, kv });
    if (lease !== 0n) this.s.lessor.detach(lease, k);
    this.s.revision = main;
    return true;
  }
}
