// Durable storage of one Raft member: hard state, log entries and the newest snapshot.
//
// Layout of the data directory (see docs/raft.md, "Storage layout"):
//   <dir>/leveldb/   LevelDB: the format version, and the lock that keeps other processes out
//   <dir>/wal/       the write-ahead log: hard state, snapshot metadata, entries (wal.ts)
//   <dir>/snap/      the data file of the newest snapshot (snapshot-file.ts)
//
// Every append is one record of the write-ahead log followed by one fdatasync (one per Ready:
// group commit). Operations run one at a time in call order; the in-memory bounds of the log
// (first/last stored index) always describe what is on disk. Format 1 kept the log in LevelDB;
// such a directory is converted when it is opened (legacy-log.ts).
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { componentLogger, type Logger } from '../../util/log.js';
import type { Entry, HardState, Snapshot } from '../types.js';
import { decodeVersion, encodeVersion, type StoredSnapshotMeta } from './codec.js';
import {
  LogCompactedError,
  SnapshotOutOfDateError,
  StorageClosedError,
  StorageCorruptError,
  StorageError,
  StorageOpenError,
  StorageUsageError,
} from './errors.js';
import { describeKey, FORMAT_VERSION, isLogIndex, LEGACY_FORMAT_VERSION, VERSION_KEY } from './keys.js';
import { convertLegacyLog } from './legacy-log.js';
import { openDb, type Db } from './lock.js';
import { newMetrics, recordBatchSize, type StorageMetrics } from './metrics.js';
import {
  checkSnapshotFile,
  ensureDir,
  fsyncDir,
  readSnapshotFile,
  removeSnapshotFilesExcept,
  writeSnapshotFile,
  type Failpoint,
  type WrittenSnapshotFile,
} from './snapshot-file.js';
import { SyncPlacement, type SyncPlacementOptions } from './sync-placement.js';
import { DEFAULT_SEGMENT_BYTES, replayWal, WalWriter } from './wal.js';
import { RecordKind, type WalRecord } from './wal-record.js';

export interface RaftStorageOptions {
  logger?: Logger;
  /**
   * Crash-test hook, called at each step of a snapshot write (see SnapshotFailpoint). A test makes
   * the process die there (e.g. process.kill(process.pid, 'SIGKILL')). Leave unset in production.
   */
  failpoint?: Failpoint;
  /** Size at which the write-ahead log starts a new segment file (tests make it small). */
  segmentBytes?: number;
  /** Where the log's fsyncs run (sync-placement.ts); tests pin it. */
  syncPlacement?: SyncPlacementOptions;
}

export interface LoadedState {
  hardState: HardState;
  snapshot?: Snapshot;
  /** The entries after the snapshot (or from index 1), contiguous and in order. */
  entries: Entry[];
}

export interface AppendBatch {
  hardState?: HardState;
  /** Contiguous entries in index order. Entries at or below the snapshot index are ignored. */
  entries: Entry[];
  /** A snapshot received from the leader, to install. */
  snapshot?: Snapshot;
  /**
   * Whether to fsync (default true). Raft needs it whenever the term, the vote or the entries
   * change (Ready.mustSync); a batch that only moves the commit index may skip it, as etcd does:
   * a lost commit index is learned again from the leader.
   */
  sync?: boolean;
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function validateHardState(hs: HardState): void {
  if (!isUint(hs.term) || !isUint(hs.vote) || !isUint(hs.commit)) {
    throw new StorageUsageError(`invalid hard state ${JSON.stringify(hs)}`);
  }
}

function validateEntries(entries: Entry[]): void {
  if (!Array.isArray(entries)) throw new StorageUsageError('entries must be an array');
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (!isLogIndex(e.index)) throw new StorageUsageError(`entry ${i} has an invalid index ${String(e.index)}`);
    if (!isUint(e.term)) throw new StorageUsageError(`entry ${e.index} has an invalid term ${String(e.term)}`);
    if (!isUint(e.type)) throw new StorageUsageError(`entry ${e.index} has an invalid type ${String(e.type)}`);
    if (!(e.data instanceof Uint8Array)) throw new StorageUsageError(`entry ${e.index} data is not a Uint8Array`);
    if (i > 0 && e.index !== entries[i - 1].index + 1) {
      throw new StorageUsageError(`entries are not contiguous: ${entries[i - 1].index} then ${e.index}`);
    }
  }
}

function validateSnapshot(s: Snapshot): void {
  const m = s.meta;
  if (!isLogIndex(m.index) || !isUint(m.term)) {
    throw new StorageUsageError(`invalid snapshot metadata index=${String(m.index)} term=${String(m.term)}`);
  }
  const cs = m.confState;
  if (!cs || !Array.isArray(cs.voters) || !Array.isArray(cs.learners) || ![...cs.voters, ...cs.learners].every(isUint)) {
    throw new StorageUsageError(`snapshot at index ${m.index} has an invalid confState`);
  }
  if (!(s.data instanceof Uint8Array)) throw new StorageUsageError(`snapshot at index ${m.index} data is not a Uint8Array`);
}

export class RaftStorage {
  readonly dir: string;
  readonly metrics: StorageMetrics = newMetrics();

  private readonly db: Db;
  private readonly walDir: string;
  private readonly wal: WalWriter;
  private readonly snapDir: string;
  private readonly log: Logger;
  private readonly failpoint?: Failpoint;

  /** Terms of the stored entries, first..last (what a snapshot's term is checked against). */
  private terms: number[];

  private tail: Promise<unknown> = Promise.resolve();
  private closing?: Promise<void>;
  private failure?: unknown;

  private constructor(init: {
    dir: string;
    db: Db;
    walDir: string;
    wal: WalWriter;
    snapDir: string;
    log: Logger;
    failpoint?: Failpoint;
    terms: number[];
  }) {
    this.dir = init.dir;
    this.db = init.db;
    this.walDir = init.walDir;
    this.wal = init.wal;
    this.snapDir = init.snapDir;
    this.log = init.log;
    this.failpoint = init.failpoint;
    this.terms = init.terms;
  }

  /**
   * Open the storage in `dir`, creating the directory if needed. Throws DataDirLockedError when
   * another process (or another RaftStorage of this process) has it open.
   */
  static async open(dir: string, opts: RaftStorageOptions = {}): Promise<RaftStorage> {
    const absDir = resolve(dir);
    const log = opts.logger ?? componentLogger('raft-storage', { dir: absDir });
    try {
      const created = await mkdir(absDir, { recursive: true });
      if (created !== undefined) await fsyncDir(dirname(created));
    } catch (err) {
      throw new StorageOpenError(absDir, (err as Error).message, err);
    }
    const db = await openDb(absDir, join(absDir, 'leveldb'));
    try {
      const snapDir = join(absDir, 'snap');
      await ensureDir(snapDir, absDir);

      const walDir = join(absDir, 'wal');
      await ensureDir(walDir, absDir);
      const versionValue = await db.get(VERSION_KEY);
      if (versionValue === undefined) {
        const anyKey = await db.keys({ limit: 1 }).all();
        if (anyKey.length > 0) {
          throw new StorageCorruptError(describeKey(VERSION_KEY), `missing, but the database holds ${describeKey(anyKey[0])}`);
        }
        await db.put(VERSION_KEY, encodeVersion(FORMAT_VERSION), { sync: true });
      } else {
        const version = decodeVersion(describeKey(VERSION_KEY), versionValue);
        if (version === LEGACY_FORMAT_VERSION) {
          await convertLegacyLog(db, walDir, log);
        } else if (version !== FORMAT_VERSION) {
          throw new StorageOpenError(absDir, `unsupported storage format version ${version} (this build reads ${FORMAT_VERSION}, and converts ${LEGACY_FORMAT_VERSION})`);
        }
      }

      const replayed = await replayWal(walDir, log, true);
      const { hardState, snapshot: snapMeta, first, last } = replayed.state;
      const snapIndex = snapMeta?.index ?? 0;
      if (first !== 0 && first > snapIndex + 1) {
        throw new StorageCorruptError(
          `write-ahead log ${walDir}`,
          `the log starts at ${first} but the snapshot covers only up to ${snapIndex}: entries ${snapIndex + 1}..${first - 1} are missing`,
        );
      }

      if (snapMeta) await checkSnapshotFile(snapDir, snapMeta);
      const removed = await removeSnapshotFilesExcept(snapDir, snapMeta?.file);
      if (removed.length > 0) log.warn({ removed }, 'removed snapshot files left by an interrupted write');

      const wal = await WalWriter.start(
        walDir,
        replayed.segments,
        replayed.state,
        opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
        new SyncPlacement(opts.syncPlacement),
      );
      const terms = replayed.entries.map((e) => e.term);
      log.info({ firstIndex: first, lastIndex: last, snapshotIndex: snapIndex, hardState }, 'raft storage opened');
      return new RaftStorage({ dir: absDir, db, walDir, wal, snapDir, log, failpoint: opts.failpoint, terms });
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  /** Lowest stored entry index; 0 when no entry is stored. (The write-ahead log's state is the one record of it.) */
  private get first(): number {
    return this.wal.current.first;
  }

  /** Highest stored entry index; 0 when no entry is stored. */
  private get last(): number {
    return this.wal.current.last;
  }

  /** Index of the first stored entry (entries below it were compacted), 0 when the log is empty. */
  get firstIndex(): number {
    return this.first;
  }

  /** Index of the last entry: the last stored one, or the snapshot's index when the log is empty. */
  get lastIndex(): number {
    return this.last || this.snapshotIndex;
  }

  /** Index of the stored snapshot, 0 when there is none. */
  get snapshotIndex(): number {
    return this.wal.current.snapshot?.index ?? 0;
  }

  /** Everything needed to restart the member: hard state, newest snapshot, the log after it. */
  load(): Promise<LoadedState> {
    return this.run(async () => {
      const { hardState, snapshot: meta } = this.wal.current;
      const snapIndex = meta?.index ?? 0;
      let snapshot: Snapshot | undefined;
      if (meta) {
        const { index, term, confState } = meta;
        const data = await readSnapshotFile(this.snapDir, meta);
        snapshot = { meta: { index, term, confState: { voters: [...confState.voters], learners: [...confState.learners] } }, data };
      }
      const entries = this.last > snapIndex ? await this.readRange(snapIndex + 1, this.last) : [];
      return { hardState: { ...hardState }, snapshot, entries };
    });
  }

  /** Stored entries with lo <= index < hi (entries kept below the snapshot index included). */
  entries(lo: number, hi: number): Promise<Entry[]> {
    return this.run(async () => {
      if (!isLogIndex(lo) || !isUint(hi) || hi < lo) throw new StorageUsageError(`invalid entry range [${lo}, ${hi})`);
      if (lo === hi) return [];
      if ((this.first !== 0 && lo < this.first) || (this.first === 0 && lo <= this.snapshotIndex)) {
        throw new LogCompactedError(lo, this.first || this.snapshotIndex + 1);
      }
      if (this.first === 0 || hi - 1 > this.last) {
        throw new StorageUsageError(`entry range [${lo}, ${hi}) goes beyond the last index ${this.lastIndex}`);
      }
      return this.readRange(lo, hi - 1);
    });
  }

  /**
   * Persist one Ready: hard state, entries and snapshot in one synced record of the write-ahead log
   * (the snapshot's data file is written and fsynced first). Entries replace stored ones at the
   * same index and every stored entry after the last new one is dropped. A snapshot discards the
   * entries up to its index (all of them when the log's term at that index differs).
   */
  append(batch: AppendBatch): Promise<void> {
    return this.run(async () => {
      this.assertWritable();
      validateEntries(batch.entries);
      if (batch.hardState) validateHardState(batch.hardState);
      if (batch.snapshot) validateSnapshot(batch.snapshot);

      const before = { first: this.first, last: this.last };
      let { first, last } = before;
      let snapIndex = this.snapshotIndex;
      let newMeta: StoredSnapshotMeta | undefined;
      // The terms kept in memory change only once the record is written (a failed write stops the
      // storage); `keepFrom`/`keepTo` say which of the stored terms stay.
      let keepFrom = first;
      let keepTo = last;

      if (batch.snapshot) {
        const { meta } = batch.snapshot;
        if (meta.index <= snapIndex) throw new SnapshotOutOfDateError(meta.index, snapIndex);
        const discardTo = this.termAt(meta.index) === meta.term ? meta.index : last;
        if (discardTo >= last) {
          first = 0;
          last = 0;
        } else if (first !== 0) {
          first = discardTo + 1;
        }
        keepFrom = first;
        keepTo = last;
        snapIndex = meta.index;
      }

      let entries = batch.entries;
      if (entries.length > 0 && entries[0].index <= snapIndex) entries = entries.slice(snapIndex + 1 - entries[0].index);
      if (entries.length > 0) {
        const lo = entries[0].index;
        const logLast = last || snapIndex;
        if (lo > logLast + 1) {
          throw new StorageUsageError(`entries starting at ${lo} would leave a gap after the last index ${logLast}`);
        }
        if (first === 0) first = lo;
        keepTo = Math.min(keepTo, lo - 1);
        last = entries[entries.length - 1].index;
      }

      if (!batch.hardState && !batch.snapshot && entries.length === 0) return;
      if (batch.snapshot) {
        // Everything is validated: now make the data file durable, then commit its metadata below.
        const { meta, data } = batch.snapshot;
        const written = await this.writeSnapshotData(meta.index, meta.term, data);
        newMeta = { index: meta.index, term: meta.term, confState: meta.confState, ...written };
      }

      const record: WalRecord = { kind: RecordKind.Change, first, last, hardState: batch.hardState, snapshot: newMeta, entries };
      const ms = await this.commit(record, entries.length, batch.sync !== false || !!batch.snapshot);
      recordBatchSize(this.metrics, entries.length);
      this.keepTerms(before, keepFrom, keepTo);
      for (const e of entries) this.terms.push(e.term);
      this.log.debug({ entries: entries.length, lastIndex: this.lastIndex, ms }, 'append synced');
      if (newMeta) await this.snapshotCommitted(newMeta);
    });
  }

  /**
   * Persist a snapshot the application took at snapshot.meta.index (which must be in the log, with
   * that term), then drop the log entries with index < compactBelow (compactBelow may be at most
   * meta.index + 1). Metadata and the new bounds are one synced record, after the data file is
   * durable; log segments whose entries are all compacted are deleted after it.
   * The data file is written and synced before the operation takes its turn after the ones called
   * before it, so that appends go on meanwhile (a large store's snapshot takes a while to write);
   * only the switch to it waits. A file left by a snapshot refused at its turn is removed with the
   * next snapshot or at the next open.
   */
  async saveSnapshot(snapshot: Snapshot, compactBelow: number): Promise<void> {
    this.assertWritable();
    validateSnapshot(snapshot);
    if (this.closing) throw new StorageClosedError(this.dir, 'it was closed');
    let early: Omit<WrittenSnapshotFile, 'fsyncs' | 'bytes'>;
    try {
      early = await this.writeSnapshotData(snapshot.meta.index, snapshot.meta.term, snapshot.data);
    } catch (err) {
      // A newer snapshot committed meanwhile removes the files of older ones, this one's too.
      if (this.snapshotIndex >= snapshot.meta.index) throw new SnapshotOutOfDateError(snapshot.meta.index, this.snapshotIndex);
      throw err;
    }
    const refused = async (err: unknown): Promise<never> => {
      // Refused before anything was committed: its file is of no use. (After a failed commit the
      // metadata may point to it: it stays, and the next open sorts it out.)
      if (err instanceof SnapshotOutOfDateError || err instanceof StorageUsageError) await rm(join(this.snapDir, early.file), { force: true }).catch(() => undefined);
      throw err;
    };
    return this.run(async () => {
      this.assertWritable();
      const { meta, data } = snapshot;
      if (!isUint(compactBelow)) throw new StorageUsageError(`invalid compactBelow ${String(compactBelow)}`);
      if (meta.index <= this.snapshotIndex) throw new SnapshotOutOfDateError(meta.index, this.snapshotIndex);
      if (meta.index > this.lastIndex) {
        throw new StorageUsageError(`snapshot index ${meta.index} is beyond the last log index ${this.lastIndex}`);
      }
      const termThere = this.termAt(meta.index);
      if (termThere !== meta.term) {
        throw new StorageUsageError(`snapshot at index ${meta.index} has term ${meta.term} but the log has term ${termThere}`);
      }
      if (compactBelow > meta.index + 1) {
        throw new StorageUsageError(
          `cannot compact below ${compactBelow}: the snapshot covers entries up to ${meta.index} only`,
        );
      }

      const newMeta: StoredSnapshotMeta = { index: meta.index, term: meta.term, confState: meta.confState, ...early };
      const before = { first: this.first, last: this.last };
      let { first, last } = before;
      if (first !== 0 && compactBelow > first) {
        const to = Math.min(compactBelow - 1, last);
        if (to >= last) {
          first = 0;
          last = 0;
        } else {
          first = to + 1;
        }
      }
      const ms = await this.commit({ kind: RecordKind.Change, first, last, snapshot: newMeta, entries: [] }, 0, true);
      this.keepTerms(before, first, last);
      this.log.info({ snapshotIndex: meta.index, bytes: data.byteLength, firstIndex: first, ms }, 'snapshot saved');
      await this.snapshotCommitted(newMeta);
    }).catch(refused);
  }

  /** Wait for the operations already called, then close the database. Later calls fail. */
  close(): Promise<void> {
    if (!this.closing) {
      const pending = this.tail;
      this.closing = pending.then(async () => {
        this.wal.close();
        await this.db.close();
        this.log.info('raft storage closed');
      });
    }
    return this.closing;
  }

  // --- internals ---

  /** Run `fn` after every operation called before it. */
  private run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new StorageClosedError(this.dir, 'it was closed'));
    const result = this.tail.then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private assertWritable(): void {
    if (this.failure !== undefined) {
      throw new StorageClosedError(this.dir, 'an earlier synced write failed; reopen it to recover', this.failure);
    }
  }

  /**
   * Keeps the terms of entries from..to of the log as it was `before` the record just written (an
   * empty range when from is 0 or to < from).
   */
  private keepTerms(before: { first: number; last: number }, from: number, to: number): void {
    if (before.first === 0 || from === 0 || to < from) {
      this.terms = [];
      return;
    }
    if (to < before.last) this.terms.length = to + 1 - before.first;
    if (from > before.first) this.terms = this.terms.slice(from - before.first);
  }

  /** Term of the stored entry at `index`, or undefined when it is not stored. */
  private termAt(index: number): number | undefined {
    if (this.first === 0 || index < this.first || index > this.last) return undefined;
    return this.terms[index - this.first];
  }

  /** Entries lo..hi (inclusive), which must all be stored: read back from the write-ahead log. */
  private async readRange(lo: number, hi: number): Promise<Entry[]> {
    const { state, entries } = await replayWal(this.walDir, this.log, false);
    if (state.first !== this.first || state.last !== this.last) {
      throw new StorageCorruptError(`write-ahead log ${this.walDir}`, `it holds ${state.first}..${state.last}, expected ${this.first}..${this.last}`);
    }
    return entries.slice(lo - this.first, hi + 1 - this.first);
  }

  private async writeSnapshotData(
    index: number,
    term: number,
    data: Uint8Array,
  ): Promise<Omit<WrittenSnapshotFile, 'fsyncs' | 'bytes'>> {
    const t0 = performance.now();
    let written: WrittenSnapshotFile;
    try {
      written = await writeSnapshotFile(this.snapDir, index, term, data, this.failpoint);
    } catch (err) {
      throw new StorageError('STORAGE_WRITE_FAILED', `writing snapshot ${index} into ${this.snapDir} failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.metrics.fsyncs += written.fsyncs;
    this.metrics.bytesWritten += written.bytes;
    this.metrics.syncMsTotal += performance.now() - t0;
    return { file: written.file, size: written.size, crc32: written.crc32 };
  }

  /** Write one record (synced unless `sync` is false). A failure leaves the disk state unknown, so the storage refuses further writes. */
  private async commit(record: WalRecord, entries: number, sync: boolean): Promise<number> {
    const t0 = performance.now();
    let bytes: number;
    try {
      bytes = await this.wal.write(record, sync);
    } catch (err) {
      this.failure = err;
      this.log.error({ err }, 'write to the write-ahead log failed; the storage refuses further writes');
      throw new StorageError('STORAGE_WRITE_FAILED', `write to ${this.walDir} failed: ${(err as Error).message}`, { cause: err });
    }
    const ms = performance.now() - t0;
    const m = this.metrics;
    m.entriesWritten += entries;
    m.bytesWritten += bytes;
    if (sync) {
      m.fsyncs++;
      m.fsyncsInPlace = this.wal.placement.inlineCount;
      m.lastSyncMs = ms;
      m.syncMsTotal += ms;
    }
    return ms;
  }

  /** The new snapshot's metadata is durable: remove older log segments and snapshot files. */
  private async snapshotCommitted(meta: StoredSnapshotMeta): Promise<void> {
    await this.failpoint?.('snapshot:committed');
    try {
      const purged = await this.wal.purge();
      if (purged.length > 0) this.log.info({ purged }, 'removed write-ahead log segments whose entries are compacted');
    } catch (err) {
      this.log.warn({ err }, 'could not remove compacted write-ahead log segments; they will be removed after the next snapshot');
    }
    try {
      await removeSnapshotFilesExcept(this.snapDir, meta.file, { keepAbove: meta.index });
    } catch (err) {
      this.log.warn({ err }, 'could not remove old snapshot files; they will be removed at the next open');
    }
  }
}
