// The replicated key/value state machine: etcd v3's MVCC store over LevelDB, driven by the Raft
// node through StateMachine and read by the watch hub through WatchableSource.
//
// - State: the key index with every key's history and live value in memory (tree-index.ts), the
//   change records in LevelDB keyed by revision (record-codec.ts), the lease table (lease/).
// - apply(): changes memory at once and answers; its writes go to LevelDB behind it (write-behind),
//   in call order, the batches of several calls coalesced into one LevelDB write, each with the
//   applied index, unsynced (the Raft log is the durable record: entries after the stored applied
//   index are applied again at start, entries at or below it are skipped: exactly once). Records
//   not written yet are read from `pending`. The Raft node hands over only entries that are in
//   this member's log on disk, so that the store on disk is never ahead of the log.
// - Reads at the current revision are served from memory; past revisions fetch their records.
// - One operation at a time changes the state (apply, snapshot, restore, close); reads run
//   alongside and always see whole requests.
import type {
  AlarmMember,
  Event,
  KeyValue,
  LeaseId,
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from './api.js';
import { EventType } from './api.js';
import { applyCompaction, applyDeleteRange, applyLeaseGrant, applyLeaseRevoke, applyPut } from './apply.js';
import { EMPTY_BYTES, keyStr, latin1 } from './bytes.js';
import { HistoryHasher } from './history-hash.js';
import { applyAlarm, encodeAlarms, refusedByAlarm } from './alarms.js';
import { ChunkedDeletes } from './chunked-deletes.js';
import { Compactor } from './compaction.js';
import { compactWholeDb, openDataDir, openNextDb, removeDb, switchDb, type Db } from './data-dir.js';
import { writeOps } from '../raft/storage/level-batch.js';
import { Lessor } from './lease/lessor.js';
import { attachLeases, loadStore, type LoadedStore } from './load.js';
import type { KeyIndex } from './key-index.js';
import { rangeAt, rangeLive, type RangeResult, type RecordFetcher } from './range.js';
import { decodeRequest, type InternalRequest } from './request-codec.js';
import { decodeRecord, encodeLease, encodeNumber, FORMAT_VERSION, KvCorruptError, leaseKey, META } from './record-codec.js';
import { parseRevKey, revId, revKey, revKeyAfter, revKeyLow, REV_SPACE } from './revision.js';
import { readSnapshotHeader, SnapshotWriter, snapshotRecords } from './snapshot.js';
import type { MvccState } from './state.js';
import { applyTxn, isTxnReadOnly } from './txn.js';
import { validateRange } from './validate.js';
import { valuesNeeded } from './values-needed.js';
import { ApplyBatch, type BatchOp, type PendingRecord } from './write-txn.js';
import type { AppliedEntry, StateMachine } from '../raft/node/state-machine.js';
import type { WatchableSource } from './watch/source.js';
import { Errors, EtcdError } from '../util/errors.js';
import { componentLogger, type Logger } from '../util/log.js';

export interface KvStoreOptions {
  logger?: Logger;
  /** Milliseconds; drives lease expiry. Defaults to Date.now. */
  clock?: () => number;
  /** Minimum lease TTL in seconds (default 2, etcd's at its default election timeout). */
  minLeaseTtl?: number;
  /** Records per batch of physical compaction (default 1000). */
  compactionBatchSize?: number;
  /**
   * How long applied changes may wait in memory before their LevelDB write starts, so that the
   * applies of that time share one write (etcd's backend commits every 100 ms). Default 100 ms;
   * 0 writes at once. Reads never wait: records not written yet are served from memory.
   */
  writeDelayMs?: number;
  /**
   * Whether every write of applied changes is synced (default true). Unsynced, a power cut could
   * lose older writes and keep newer ones (LevelDB does not sync the log file it leaves when its
   * memtable fills): a hole in the store no Raft entry fills. `kill -9` loses nothing either way.
   */
  syncWrites?: boolean;
  /**
   * Bytes of live values kept in memory (the value cache); the others are read from LevelDB when
   * needed. Default Infinity: every value stays in memory.
   */
  valueCacheBytes?: number;
  /**
   * A delete_range or lease revoke of more live keys than this is applied this many at a time, the
   * member serving reads of other keys between chunks (default 2,000; see chunked-deletes.ts).
   */
  deleteChunkKeys?: number;
}

/** Called synchronously after each apply() batch is written, with its events in order. */
export type AppliedListener = (events: Event[], revision: number) => void;
/** Called after a snapshot replaced the state: watchers must catch up from history. */
export type RestoredListener = (revision: number) => void;

const REV_MIN = Uint8Array.of(REV_SPACE);
const REV_END = Uint8Array.of(REV_SPACE + 1);
const RESTORE_BATCH_BYTES = 4 * 1024 * 1024;
/** Applies wait for the LevelDB writes behind them once this many operations are queued. */
const MAX_QUEUED_OPS = 50_000;
const DEFAULT_WRITE_DELAY_MS = 100;
/** Queued operations that start a write at once, without waiting for writeDelayMs. */
const WRITE_NOW_OPS = 5_000;

/** One apply() call's LevelDB write, queued behind the ones before it. */
interface QueuedWrite {
  ops: BatchOp[];
  /** revIds of its records in `pending`, dropped once the write landed. */
  ids: string[];
  /** The store revision after the batch. */
  revision: number;
  /** The applied index after the batch. */
  applied: number;
  compactions: { rev: number; keep: Set<string> }[];
}

export class KvStore implements StateMachine, WatchableSource {
  readonly lessor: Lessor;
  private st: MvccState;
  private applied: number;
  /** Records up to this revision are in LevelDB; later ones are in `pending` until their batch lands. */
  private durableRev: number;
  private readonly pending = new Map<string, PendingRecord>();
  private bytes: number;
  private compactor: Compactor;
  private readonly chunkedDeletes: ChunkedDeletes;
  /** Apply listeners, each with whether it needs the events' prev_kv now. */
  private readonly appliedListeners = new Map<AppliedListener, () => boolean>();
  private readonly restoredListeners = new Set<RestoredListener>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Applied batches whose LevelDB write has not started yet, and the write in flight. */
  private writeQueue: QueuedWrite[] = [];
  private queuedOps = 0;
  private writing: Promise<void> | undefined;
  /** persist() calls waiting for a synced write that covers their applied index. */
  private syncWaiters: { index: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  /** The write in flight is synced (and covers everything applied when the queue is empty). */
  private syncInFlight = false;
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private db: Db,
    private dbName: string,
    loaded: LoadedStore,
    lessor: Lessor,
    private readonly log: Logger,
    private readonly opts: KvStoreOptions,
  ) {
    this.lessor = lessor;
    this.st = loaded.st;
    this.applied = loaded.applied;
    this.durableRev = loaded.st.revision;
    this.bytes = loaded.bytes;
    this.compactor = this.newCompactor(loaded);
    this.chunkedDeletes = new ChunkedDeletes(opts.deleteChunkKeys);
  }

  static async open(dir: string, opts: KvStoreOptions = {}): Promise<KvStore> {
    const log = opts.logger ?? componentLogger('kv');
    const lessor = new Lessor({ clock: opts.clock ?? Date.now, minTtl: opts.minLeaseTtl });
    const { db, name } = await openDataDir(dir);
    try {
      const loaded = await loadStore(db, lessor, log, opts.valueCacheBytes);
      attachLeases(loaded.st, loaded.leases, log);
      return new KvStore(dir, db, name, loaded, lessor, log, opts);
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  private newCompactor(loaded: LoadedStore): Compactor {
    const c = new Compactor(this.db, loaded.compactDone, {
      logger: this.log,
      batchSize: this.opts.compactionBatchSize,
      onRemoved: (b) => {
        this.bytes = Math.max(0, this.bytes - b);
      },
    });
    if (loaded.pendingCompaction) c.schedule(loaded.pendingCompaction.rev, loaded.pendingCompaction.keep);
    return c;
  }

  // ---- state ------------------------------------------------------------------------------

  appliedIndex(): number {
    return this.applied;
  }

  currentRevision(): number {
    return this.st.revision;
  }

  /** Revisions below this are gone (0 when nothing was compacted). */
  compactedRevision(): number {
    return this.st.compactedRevision();
  }

  /** The alarms raised (alarms.ts). */
  alarms(): readonly AlarmMember[] {
    return this.st.alarms;
  }

  /** Approximate bytes of data in the database (records and leases, before LevelDB's own overhead). */
  dbSize(): number {
    return this.bytes;
  }

  /** Live keys. */
  keyCount(): number {
    return this.st.liveKeys;
  }

  /**
   * Calls `listener` with each applied batch's events. `wantsPrevKv` says whether it needs their
   * prev_kv right now (the watch hub: while a watcher asked for it); by default it always does.
   * While no listener does, the events go without it (write-txn.ts, ApplyBatch.eventPrevKv).
   */
  onApplied(listener: AppliedListener, wantsPrevKv: () => boolean = () => true): () => void {
    this.appliedListeners.set(listener, wantsPrevKv);
    return () => this.appliedListeners.delete(listener);
  }

  /** Whether some listener needs the events' prev_kv now. */
  private eventPrevKv(): boolean {
    for (const wants of this.appliedListeners.values()) if (wants()) return true;
    return false;
  }

  onRestored(listener: RestoredListener): () => void {
    this.restoredListeners.add(listener);
    return () => this.restoredListeners.delete(listener);
  }

  /** Resolves once the physical compaction of `rev` is done (CompactionRequest.physical). */
  waitCompaction(rev: number): Promise<void> {
    return this.compactor.wait(rev);
  }

  private usable(): void {
    if (this.closed) throw new Error('kv store is closed');
    if (this.failure) throw new Error(`kv store failed: ${this.failure.message}`, { cause: this.failure });
  }

  /** Runs state-changing operations one at a time, in call order. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      this.usable();
      return fn();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  // ---- apply ------------------------------------------------------------------------------

  apply(entries: AppliedEntry[]): Promise<unknown[]> {
    return this.exclusive(async () => {
      try {
        return await this.applyBatch(entries);
      } catch (err) {
        // A bug, not a request error (those are results): memory may hold half a batch that is
        // not on disk. Refuse further work; a restart applies the entries again from the log.
        if (!this.failure) {
          this.failure = err as Error;
          this.log.fatal({ err }, 'kv: apply failed');
        }
        throw err;
      }
    });
  }

  private async applyBatch(entries: AppliedEntry[]): Promise<unknown[]> {
    if (this.queuedOps > MAX_QUEUED_OPS) await this.flushWrites();
    const values = this.st.values;
    values.hold();
    try {
      return await this.applyEntries(entries);
    } finally {
      values.release();
      values.evict();
    }
  }

  private async applyEntries(entries: AppliedEntry[]): Promise<unknown[]> {
    const results: unknown[] = new Array<unknown>(entries.length).fill(undefined);
    const batch = new ApplyBatch(this.pending, this.eventPrevKv());
    const compactions: { rev: number; keep: Set<string> }[] = [];
    const before = this.applied;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.index <= this.applied) continue; // applied before a restart: exactly once
      if (e.kind === 'normal') {
        const r = this.applyEntry(e, batch, compactions);
        results[i] = r instanceof Promise ? await r : r;
      }
      this.applied = e.index;
    }
    if (this.applied === before) return results;
    const ops: BatchOp[] = batch.ops;
    ops.push({ type: 'put', key: META.applied, value: encodeNumber(this.applied) });
    ops.push({ type: 'put', key: META.revision, value: encodeNumber(this.st.revision) });
    this.bytes += batch.bytes;
    this.writeQueue.push({ ops, ids: batch.ids, revision: this.st.revision, applied: this.applied, compactions });
    this.queuedOps += ops.length;
    this.scheduleWrite();
    for (const l of this.appliedListeners.keys()) {
      try {
        l(batch.events, this.st.revision);
      } catch (err) {
        this.log.error({ err }, 'kv: an apply listener threw');
      }
    }
    return results;
  }

  private writeTimer: NodeJS.Timeout | undefined;

  /** Starts the writer now, or after writeDelayMs (several applies then share one write). */
  private scheduleWrite(): void {
    if (this.writing) return;
    const delay = this.opts.writeDelayMs ?? DEFAULT_WRITE_DELAY_MS;
    if (delay <= 0 || this.queuedOps >= WRITE_NOW_OPS) {
      if (this.writeTimer) clearTimeout(this.writeTimer);
      this.writeTimer = undefined;
      this.writing = this.drainWrites();
      return;
    }
    this.writeTimer ??= setTimeout(() => {
      this.writeTimer = undefined;
      if (!this.writing && this.writeQueue.length > 0) this.writing = this.drainWrites();
    }, delay);
  }

  /**
   * Writes the queued batches, in order, all those queued meanwhile as one LevelDB write. A failed
   * write leaves memory ahead of the disk: the store refuses further work (a restart applies the
   * entries again from the Raft log). A write is synced (always, unless syncWrites is false; then
   * when a persist() call waits for it).
   */
  private async drainWrites(): Promise<void> {
    try {
      while (this.writeQueue.length > 0) {
        const ws = this.writeQueue;
        this.writeQueue = [];
        const ops = ws.length === 1 ? ws[0]!.ops : ws.flatMap((w) => w.ops);
        this.queuedOps -= ops.length;
        const sync = this.opts.syncWrites !== false || this.syncWaiters.length > 0;
        this.syncInFlight = sync;
        await writeOps(this.db, ops, sync);
        this.syncInFlight = false;
        for (const w of ws) {
          for (const id of w.ids) this.pending.delete(id);
          this.durableRev = w.revision;
          // Physical compaction scans the database: only once the records it may delete are there.
          for (const c of w.compactions) this.compactor.schedule(c.rev, c.keep);
        }
        if (sync) this.settleSyncWaiters(ws[ws.length - 1]!.applied);
      }
    } catch (err) {
      if (!this.failure) {
        this.failure = err as Error;
        this.log.fatal({ err }, 'kv: writing applied changes failed');
      }
      this.settleSyncWaiters(Infinity, this.failure);
    } finally {
      this.writing = undefined;
      this.syncInFlight = false;
    }
  }

  private settleSyncWaiters(synced: number, err?: Error): void {
    const waiting = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiting) {
      if (w.index > synced) this.syncWaiters.push(w);
      else if (err) w.reject(new Error(`kv store failed: ${err.message}`, { cause: err }));
      else w.resolve();
    }
  }

  /**
   * Resolves once everything applied so far is in LevelDB and synced to disk (one synced write,
   * shared by the calls waiting meanwhile). The Raft node calls it before it drops log entries
   * the store has applied: from then on the store, not the log, is their durable copy.
   */
  async persist(): Promise<void> {
    this.usable();
    const index = this.applied;
    await new Promise<void>((resolve, reject) => {
      this.syncWaiters.push({ index, resolve, reject });
      // Nothing queued and no synced write in flight (all written, or in an unsynced write):
      // queue a write of the applied index itself, so that a synced write follows.
      if (this.writeQueue.length === 0 && !this.syncInFlight) {
        const ops: BatchOp[] = [{ type: 'put', key: META.applied, value: encodeNumber(index) }];
        this.writeQueue.push({ ops, ids: [], revision: this.st.revision, applied: index, compactions: [] });
        this.queuedOps += ops.length;
      }
      if (this.writeTimer) clearTimeout(this.writeTimer);
      this.writeTimer = undefined;
      if (!this.writing) this.writing = this.drainWrites();
    });
  }

  /** Resolves once every applied batch is in LevelDB. */
  private async flushWrites(): Promise<void> {
    if (this.writeTimer) clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    if (!this.writing && this.writeQueue.length > 0) this.writing = this.drainWrites();
    while (this.writing) await this.writing;
    if (this.failure) throw new Error(`kv store failed: ${this.failure.message}`, { cause: this.failure });
  }

  private applyEntry(e: AppliedEntry, batch: ApplyBatch, compactions: { rev: number; keep: Set<string> }[]): unknown {
    let req;
    try {
      req = decodeRequest(e.data);
    } catch (err) {
      // Every member decodes the same bytes the same way: answer the proposer, change nothing.
      this.log.error({ err, index: e.index }, 'kv: undecodable entry');
      return err;
    }
    // Until the cache first evicts, every live value is in memory: nothing to look for.
    const need = this.st.values.holdsAll() ? [] : valuesNeeded(this.st, req, batch.eventPrevKv);
    if (need.length === 0) return this.applyRequest(req, batch, compactions);
    return this.loadValues(need).then(() => this.applyRequest(req, batch, compactions));
  }

  /**
   * Reads the values of live keys from their records into the value cache. Nothing changes the
   * keys meanwhile: applies run one at a time, and this runs inside one.
   */
  private async loadValues(kis: KeyIndex[]): Promise<void> {
    const got = await this.fetch(kis.map((ki) => ({ main: ki.modified, sub: ki.sub })));
    const values = this.st.values;
    for (let i = 0; i < kis.length; i++) {
      const kv = got[i];
      if (!kv) throw new KvCorruptError('database', `the record of a live key at revision ${kis[i]!.modified} is missing`);
      values.set(kis[i]!, latin1(kv.value));
    }
  }

  private applyRequest(req: InternalRequest, batch: ApplyBatch, compactions: { rev: number; keep: Set<string> }[]): unknown {
    const st = this.st;
    const refused = refusedByAlarm(st.alarms, req);
    if (refused) return refused;
    if ('alarm' in req) return applyAlarm(st, batch, req.alarm);
    if ('put' in req) return applyPut(st, batch, req.put);
    if ('delete_range' in req) return applyDeleteRange(st, batch, req.delete_range, this.chunkedDeletes);
    if ('txn' in req) return applyTxn(st, batch, this.fetch, req.txn);
    if ('lease_grant' in req) return applyLeaseGrant(st, batch, req.lease_grant);
    if ('lease_revoke' in req) return applyLeaseRevoke(st, batch, req.lease_revoke, this.chunkedDeletes);
    const r = applyCompaction(st, batch, req.compaction);
    if (r instanceof EtcdError) return r;
    compactions.push({ rev: req.compaction.revision, keep: r.keep });
    return r.resp;
  }

  // ---- reads ------------------------------------------------------------------------------

  /** The value cache: bytes of the values in memory, its budget, live keys in all. */
  valueCacheStats(): { bytes: number; budget: number; liveKeys: number } {
    const st = this.st;
    return { bytes: st.values.bytes, budget: st.values.budget, liveKeys: st.liveKeys };
  }

  /** Reads the records at the given revisions (from the batch in flight, else LevelDB). */
  private readonly fetch: RecordFetcher = async (revs) => {
    const out: (KeyValue | undefined)[] = new Array(revs.length);
    const need: number[] = [];
    for (let i = 0; i < revs.length; i++) {
      const p = this.pending.get(revId(revs[i]!.main, revs[i]!.sub));
      if (p) out[i] = p.kv;
      else need.push(i);
    }
    if (need.length > 0) {
      const values = await this.db.getMany(need.map((i) => revKey(revs[i]!.main, revs[i]!.sub)));
      for (let j = 0; j < need.length; j++) {
        const v = values[j];
        const i = need[j]!;
        out[i] = v === undefined ? undefined : decodeRecord(revs[i]!.main, v).kv;
      }
    }
    return out;
  };

  /**
   * A local (serializable) range. Rejects with EtcdError: empty key, future revision, compacted.
   * The returned KeyValues are the caller's.
   */
  async range(req: RangeRequest): Promise<RangeResponse> {
    this.usable();
    const invalid = validateRange(req);
    if (invalid) throw invalid;
    // A delete over these keys is half applied: the answer waits for all of it.
    const deleting = this.chunkedDeletes.overlapping(req.key, req.range_end);
    if (deleting) await deleting;
    const st = this.st;
    const cur = st.revision;
    let rev = req.revision ?? 0;
    if (rev > cur) throw Errors.futureRev();
    if (rev <= 0) rev = cur;
    if (rev < st.compactMain) throw Errors.compacted();
    if (rev === cur) {
      const [res, at] = await this.rangeCurrent(req);
      return { header: { revision: at }, kvs: res.kvs, more: res.more, count: res.count };
    }
    const res = await rangeAt(st.tree, req, rev, this.fetch);
    return { header: { revision: cur }, kvs: res.kvs, more: res.more, count: res.count };
  }

  /**
   * A txn of ranges only (isTxnReadOnly), answered from this member's state without the log. It
   * runs between applies, as an apply would, so its compares and ranges all see one revision; a
   * delete being applied in chunks is over by then. Rejects with EtcdError as the txn's apply
   * would answer (future or compacted revision).
   */
  readTxn(req: TxnRequest): Promise<TxnResponse> {
    if (!isTxnReadOnly(req)) return Promise.reject(new Error('readTxn: the txn writes'));
    return this.exclusive(async () => {
      const st = this.st;
      st.values.hold();
      try {
        const need = st.values.holdsAll() ? [] : valuesNeeded(st, { txn: req }, false);
        if (need.length > 0) await this.loadValues(need);
        // Nothing is written: the batch only satisfies applyTxn's signature and is dropped.
        const resp = await applyTxn(st, new ApplyBatch(this.pending, false), this.fetch, req);
        if (resp instanceof EtcdError) throw resp;
        return resp;
      } finally {
        st.values.release();
        st.values.evict();
      }
    });
  }

  /**
   * A range at the current revision: from memory when the answer's values are all there; else as
   * a read at this revision, fetching the records of the values that are not, which then join the
   * cache while they are still the live ones. Resolves with the answer and the revision it is at.
   */
  private async rangeCurrent(req: RangeRequest): Promise<[RangeResult, number]> {
    for (let attempt = 1; ; attempt++) {
      const st = this.st;
      const at = st.revision;
      const missing: KeyIndex[] = [];
      const res = rangeLive(st.tree, req, missing);
      if (missing.length === 0) return [res, at];
      let read: RangeResult;
      try {
        read = await rangeAt(st.tree, req, at, this.fetch);
      } catch (err) {
        // A record went while we read it (the key was written again and a compaction passed):
        // read again at the newer revision, where the key's live record is another.
        if (attempt < 3 && err instanceof EtcdError && err.message === Errors.compacted().message) continue;
        throw err;
      }
      if (st !== this.st || req.keys_only) return [read, at]; // restored meanwhile, or no values to keep
      for (const kv of read.kvs) {
        const ki = st.tree.get(keyStr(kv.key));
        if (ki && ki.value === undefined && ki.isLive() && ki.modified === kv.mod_revision) st.values.set(ki, latin1(kv.value));
      }
      st.values.evict();
      return [read, at];
    }
  }

  /**
   * History for the watch hub (WatchableSource): the events of revisions [from, to], whole
   * revisions, stopping once `limit` events are reached; prev_kv when asked (the key as of the
   * revision before). Rejects with the compacted error when `from` is below the compacted revision.
   */
  async events(from: number, to: number, limit: number, withPrevKv: boolean): Promise<Event[]> {
    this.usable();
    const st = this.st;
    if (from < st.compactMain) throw Errors.compacted();
    from = Math.max(from, 1);
    to = Math.min(to, st.revision);
    limit = Math.max(1, limit);
    const out: Event[] = [];
    if (from > to) return out;
    const durable = this.durableRev;
    // The in-flight batch's records, captured now: once it lands they are in LevelDB instead.
    const inFlight = to > durable ? [...this.pending.values()] : [];
    let lastMain = -1;
    let full = false;
    const add = (main: number, key: Uint8Array, kv: KeyValue | undefined): boolean => {
      if (out.length >= limit && main !== lastMain) return false;
      lastMain = main;
      out.push(
        kv
          ? { type: EventType.PUT, kv }
          : {
              type: EventType.DELETE,
              kv: { key, create_revision: 0, mod_revision: main, version: 0, value: EMPTY_BYTES, lease: 0n },
            },
      );
      return true;
    };
    if (from <= durable) {
      const it = this.db.iterator({ gte: revKeyLow(from), lt: revKeyAfter(Math.min(to, durable)) });
      try {
        scan: for (;;) {
          const chunk = await it.nextv(Math.min(1000, Math.max(16, limit + 1)));
          if (chunk.length === 0) break;
          for (const [k, v] of chunk) {
            const { main } = parseRevKey(k);
            const rec = decodeRecord(main, v);
            if (!add(main, rec.key, rec.kv)) {
              full = true;
              break scan;
            }
          }
        }
      } finally {
        await it.close();
      }
    }
    if (!full) {
      for (const p of inFlight) {
        if (p.main < from || p.main <= durable || p.main > to) continue;
        if (!add(p.main, p.key, p.kv)) break;
      }
    }
    if (withPrevKv) await this.fillPrevKvs(st, out);
    return out;
  }

  /**
   * prev_kv of each event: the key as of the revision before the event's, as etcd's watch reads it;
   * never for a create (a PUT at version 1).
   */
  private async fillPrevKvs(st: MvccState, evs: Event[]): Promise<void> {
    const want: { ev: Event; main: number; sub: number }[] = [];
    for (const ev of evs) {
      if (ev.type === EventType.PUT && ev.kv.version === 1) continue;
      const ki = st.tree.get(keyStr(ev.kv.key));
      const at = ki?.get(ev.kv.mod_revision - 1);
      if (!ki || !at) continue;
      if (ki.cachedAt(at.main)) ev.prev_kv = ki.live();
      else want.push({ ev, main: at.main, sub: at.sub });
    }
    if (want.length === 0) return;
    const got = await this.fetch(want);
    for (let i = 0; i < want.length; i++) {
      const kv = got[i];
      if (kv) want[i]!.ev.prev_kv = kv;
    }
  }

  // ---- leases -----------------------------------------------------------------------------

  /** This member became the leader: leases get a full TTL from now (+ extendMs). */
  promote(extendMs = 0): void {
    this.lessor.promote(extendMs);
  }

  demote(): void {
    this.lessor.demote();
  }

  /** Keepalive on the leader: the TTL, or 0 when the lease is unknown or already expired. */
  renew(id: LeaseId): number {
    return this.lessor.renew(id);
  }

  remainingTTL(id: LeaseId): number {
    return this.lessor.remainingTTL(id);
  }

  /** Leases past their deadline, for the leader to propose revokes for. */
  expired(limit?: number): LeaseId[] {
    return this.lessor.expired(limit);
  }

  /** See Lessor.nextDeadline. */
  nextLeaseDeadline(): number {
    return this.lessor.nextDeadline();
  }

  leases(): LeaseId[] {
    return this.lessor.leases();
  }

  leaseKeepAlive(req: LeaseKeepAliveRequest): LeaseKeepAliveResponse {
    return { header: { revision: this.st.revision }, ID: req.ID, TTL: this.lessor.renew(req.ID) };
  }

  leaseTimeToLive(req: LeaseTimeToLiveRequest): LeaseTimeToLiveResponse {
    return { header: { revision: this.st.revision }, ...this.lessor.timeToLive(req.ID, req.keys ?? false) };
  }

  /**
   * leaseTimeToLive once no chunked delete is in progress: with keys, a delete of the lease's keys
   * half applied would list some of them (the lessor drops each key as it is deleted).
   */
  async leaseTimeToLiveSettled(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse> {
    if (req.keys) for (let d = this.chunkedDeletes.inProgress(); d; d = this.chunkedDeletes.inProgress()) await d;
    return this.leaseTimeToLive(req);
  }

  leaseLeases(): LeaseLeasesResponse {
    return { header: { revision: this.st.revision }, leases: this.lessor.leases().map((ID) => ({ ID })) };
  }

  // ---- maintenance ------------------------------------------------------------------------

  /**
   * etcd's HashKV: a hash of the history up to `rev` (0: the current revision) that every member
   * holding the same history agrees on (history-hash.ts). Rejects a revision at or below the
   * compacted one, and a future one, with etcd's errors.
   */
  async hashKV(rev: number): Promise<{ hash: number; compactRevision: number; revision: number }> {
    // As for a snapshot, only the capture is exclusive; the records are read from the iterator's
    // implicit snapshot of the database while applies go on.
    const { it, compactMain, revision } = await this.exclusive(async () => {
      const st = this.st;
      if (rev > 0 && rev <= st.compactMain) throw Errors.compacted();
      if (rev > st.revision) throw Errors.futureRev();
      await this.flushWrites();
      const upTo = rev > 0 ? rev : st.revision;
      return { it: this.db.iterator({ gte: REV_MIN, lt: revKeyAfter(upTo), reverse: true }), compactMain: st.compactMain, revision: st.revision };
    });
    const hasher = new HistoryHasher(compactMain);
    try {
      for (;;) {
        const chunk = await it.nextv(1000);
        if (chunk.length === 0) break;
        for (const [k, v] of chunk) hasher.add(parseRevKey(k).main, k, v);
      }
    } finally {
      await it.close();
    }
    return { hash: hasher.finish(), compactRevision: compactMain, revision };
  }

  /**
   * etcd's Defragment: LevelDB rewrites its files over the store's whole key range, so that the
   * space of records removed by compaction and overwritten leases goes back to the file system now
   * rather than whenever LevelDB's own compactions reach them. Applies go on meanwhile.
   */
  async defragment(): Promise<void> {
    this.usable();
    await compactWholeDb(this.db);
  }

  // ---- snapshots --------------------------------------------------------------------------

  /** The whole state at the applied index (see snapshot.ts for the format), in one buffer. */
  async snapshot(): Promise<Uint8Array> {
    // One copy into a buffer of its own size (a view would keep a whole 8 MB block alive).
    return Buffer.concat(await this.snapshotPieces());
  }

  /**
   * The same byte string as consecutive pieces of a few MB: what the Raft node sends to a
   * follower, without copying a large store into one buffer first.
   */
  async snapshotPieces(): Promise<Uint8Array[]> {
    // Only the capture is exclusive: the header, and a LevelDB iterator, which reads from an
    // implicit snapshot of the database taken when it is created. The records are read after the
    // lock is released, so that applies go on meanwhile (a store of a million keys takes seconds
    // to read, and every put waited for it).
    const { writer, it } = await this.exclusive(async () => {
      await this.flushWrites();
      const st = this.st;
      const writer = new SnapshotWriter({
        applied: this.applied,
        revision: st.revision,
        compactMain: st.compactMain,
        leases: this.lessor.entries(),
        alarms: st.alarms,
      });
      return { writer, it: this.db.iterator({ gte: REV_MIN, lt: REV_END }) };
    });
    try {
      for (;;) {
        const chunk = await it.nextv(1000);
        if (chunk.length === 0) break;
        for (const [k, v] of chunk) writer.record(k, v);
      }
    } finally {
      await it.close();
    }
    return writer.finish();
  }

  /**
   * Replaces the whole state with a snapshot taken at Raft index `index`. The new state is written
   * into a fresh database and made live by one atomic rename: a crash leaves the old state or the
   * new one.
   */
  restore(data: Uint8Array, index: number): Promise<void> {
    return this.exclusive(async () => {
      await this.flushWrites();
      const { header, body } = readSnapshotHeader(data);
      const next = await openNextDb(this.dir, this.dbName);
      let loaded: LoadedStore;
      try {
        let ops: BatchOp[] = [];
        let size = 0;
        const flush = async () => {
          await writeOps(next.db, ops, false);
          ops = [];
          size = 0;
        };
        for (const [k, v] of snapshotRecords(data, body)) {
          ops.push({ type: 'put', key: k, value: v });
          size += k.length + v.length;
          if (size >= RESTORE_BATCH_BYTES || ops.length >= 10_000) await flush();
        }
        for (const [id, ttl] of header.leases) ops.push({ type: 'put', key: leaseKey(id), value: encodeLease(ttl) });
        ops.push({ type: 'put', key: META.format, value: encodeNumber(FORMAT_VERSION) });
        ops.push({ type: 'put', key: META.applied, value: encodeNumber(index) });
        ops.push({ type: 'put', key: META.revision, value: encodeNumber(header.revision) });
        if (header.compactMain >= 0) ops.push({ type: 'put', key: META.compacted, value: encodeNumber(header.compactMain) });
        if (header.alarms.length > 0) ops.push({ type: 'put', key: META.alarms, value: encodeAlarms(header.alarms) });
        // The snapshot may hold records a compaction had not removed yet: compact again after load.
        await flush();
        // The new database must be on disk before it becomes the live one.
        await next.db.put(META.format, encodeNumber(FORMAT_VERSION), { sync: true });
        loaded = await loadStore(next.db, this.lessor, this.log, this.opts.valueCacheBytes);
      } catch (err) {
        await next.db.close().catch(() => undefined);
        await removeDb(this.dir, next.name).catch(() => undefined);
        throw err;
      }
      await this.compactor.stop();
      await switchDb(this.dir, next.name);
      const old = this.db;
      const oldName = this.dbName;
      this.db = next.db;
      this.dbName = next.name;
      attachLeases(loaded.st, loaded.leases, this.log);
      this.st = loaded.st;
      this.applied = index;
      this.durableRev = loaded.st.revision;
      this.pending.clear();
      this.bytes = loaded.bytes;
      this.compactor = this.newCompactor(loaded);
      await old.close().catch((err: unknown) => this.log.warn({ err }, 'kv: closing the replaced database failed'));
      await removeDb(this.dir, oldName);
      this.log.info({ index, revision: this.st.revision, keys: this.st.liveKeys }, 'kv: restored a snapshot');
      for (const l of this.restoredListeners) {
        try {
          l(this.st.revision);
        } catch (err) {
          this.log.error({ err }, 'kv: a restore listener threw');
        }
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    await this.flushWrites().catch(() => undefined);
    this.closed = true;
    await this.compactor.stop();
    await this.db.close();
  }
}
