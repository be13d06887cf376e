// The write-ahead log: the Raft log, hard state and snapshot metadata as records appended to
// segment files in <dir>/wal/ (<16 hex digits: sequence>.wal), as etcd keeps its WAL.
//
// Why not LevelDB: a synced LevelDB batch costs the put path twice what a synced append to a file
// does (its own log, memtable and compactions, for entries that are written once and read only at
// a restart); measured in docs/benchmarks.md. The records are small and in order, which is what a
// plain file does best.
//
// Durability: a record is written with one write() from the main thread (into the page cache, no
// waiting for the disk), and a synced record is followed by fdatasync() before its promise
// resolves: on the main thread while the disk is fast, in libuv's pool while it is not
// (sync-placement.ts). fdatasync covers the whole file, so every record before a synced one is on
// disk with it. A crash can leave the end of the newest segment cut short or damaged, never an
// acknowledged record: reading stops there and the file is truncated to its last whole record.
// Damage anywhere else is corruption and is reported, not repaired.
//
// Segments: a member opens a new segment at every start, and another when the current one passes
// the segment size. Each starts with a state record (wal-record.ts); a segment is deleted when all
// its entries are below the log's first index (compacted after a snapshot) and a newer one exists.
import { closeSync, fdatasync, fdatasyncSync, openSync, writevSync } from 'node:fs';
import { open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../util/log.js';
import type { Entry, HardState } from '../types.js';
import type { StoredSnapshotMeta } from './codec.js';
import { StorageCorruptError } from './errors.js';
import { fsyncDir } from './snapshot-file.js';
import { AsleepTimer } from './asleep-timer.js';
import { SyncPlacement } from './sync-placement.js';
import { decodeRecord, encodeRecord, frameAt, RecordKind, type WalRecord } from './wal-record.js';

/** A new segment is started when the current one has reached this size. */
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

const SEGMENT_SUFFIX = '.wal';
const SEGMENT_NAME = /^([0-9a-f]{16})\.wal$/;

export function segmentFileName(seq: number): string {
  return seq.toString(16).padStart(16, '0') + SEGMENT_SUFFIX;
}

/** The log's state: what a state record holds. */
export interface LogState {
  hardState: HardState;
  snapshot?: StoredSnapshotMeta;
  first: number;
  last: number;
}

interface Segment {
  seq: number;
  file: string;
  /** The highest entry index written into it (0: none). */
  maxIndex: number;
}

export interface ReplayedLog {
  state: LogState;
  /** The stored entries, first..last. */
  entries: Entry[];
  segments: Segment[];
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: 0, commit: 0 });

async function listSegments(walDir: string): Promise<Segment[]> {
  const names = await readdir(walDir);
  const segments: Segment[] = [];
  for (const file of names) {
    const m = SEGMENT_NAME.exec(file);
    if (m) segments.push({ seq: parseInt(m[1]!, 16), file, maxIndex: 0 });
  }
  return segments.sort((a, b) => a.seq - b.seq);
}

/**
 * Reads every segment and replays its records. With `repair`, the damaged or cut-short end of the
 * newest segment is truncated away (a segment left with nothing whole is deleted); without it, the
 * records before the damage are read and the rest ignored.
 */
export async function replayWal(walDir: string, log: Logger, repair: boolean): Promise<ReplayedLog> {
  const segments = await listSegments(walDir);
  const state: LogState = { hardState: { ...EMPTY_HARD_STATE }, first: 0, last: 0 };
  const byIndex = new Map<number, Entry>();
  let low = 0;
  let top = 0;
  const kept: Segment[] = [];
  for (let s = 0; s < segments.length; s++) {
    const seg = segments[s]!;
    const path = join(walDir, seg.file);
    const buf = await readFile(path);
    const newest = s === segments.length - 1;
    let offset = 0;
    let records = 0;
    let damaged: { offset: number; detail: string } | undefined;
    for (;;) {
      const at = frameAt(buf, offset);
      if (at.kind === 'end') break;
      const where = `write-ahead log ${path} at offset ${offset}`;
      if (at.kind === 'bad') {
        if (!newest) throw new StorageCorruptError(where, at.detail);
        damaged = { offset, detail: at.detail };
        break;
      }
      const r = decodeRecord(where, at.payload);
      if (records === 0 && r.kind !== RecordKind.State) throw new StorageCorruptError(where, 'a segment must start with a state record');
      if (r.entries.length > 0) {
        const lo = r.entries[0]!.index;
        if (byIndex.size === 0) low = lo;
        for (let i = lo; i <= top; i++) byIndex.delete(i);
        for (const e of r.entries) byIndex.set(e.index, e);
        top = r.entries[r.entries.length - 1]!.index;
        seg.maxIndex = Math.max(seg.maxIndex, top);
      }
      state.first = r.first;
      state.last = r.last;
      if (r.hardState) state.hardState = r.hardState;
      if (r.kind === RecordKind.State || r.snapshot) state.snapshot = r.snapshot;
      if (state.first === 0) {
        byIndex.clear();
        top = 0;
      } else if (state.first > low) {
        // Entries compacted away (or discarded by a snapshot) are dropped as the replay goes, so
        // that it holds about one log's worth of entries, not every segment's.
        if (state.first - low > byIndex.size) {
          for (const i of byIndex.keys()) if (i < state.first) byIndex.delete(i);
        } else {
          for (let i = low; i < state.first; i++) byIndex.delete(i);
        }
        low = state.first;
      }
      records++;
      offset = at.next;
    }
    if (records === 0 && newest) {
      // Nothing whole in it: a crash while the segment was being started.
      if (repair) {
        log.warn({ file: path }, 'removed a write-ahead log segment with no complete record');
        await unlink(path);
        await fsyncDir(walDir);
      }
      continue;
    }
    if (newest && repair) {
      if (damaged) {
        log.warn({ file: path, offset: damaged.offset, detail: damaged.detail, bytes: buf.byteLength - damaged.offset }, 'write-ahead log ends in an incomplete record (a crash before it was synced): truncated');
        await truncateSegment(path, damaged.offset);
      } else {
        // What a killed process left in the page cache is read as written: make it durable before
        // records go into a newer segment, where damage to this one would be corruption.
        await syncFile(path);
      }
    }
    kept.push(seg);
  }
  const entries: Entry[] = [];
  for (let i = state.first; state.first !== 0 && i <= state.last; i++) {
    const e = byIndex.get(i);
    if (e === undefined) throw new StorageCorruptError(`write-ahead log ${walDir}`, `log entry ${i} is missing (the log is ${state.first}..${state.last})`);
    entries.push(e);
  }
  return { state, entries, segments: kept };
}

/** Opens a segment for writing, runs `fn` on it, closes it. */
async function withSegment(path: string, fn: (fh: FileHandle) => Promise<void>): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fn(fh);
  } finally {
    await fh.close();
  }
}

function syncFile(path: string): Promise<void> {
  return withSegment(path, (fh) => fh.datasync());
}

function truncateSegment(path: string, length: number): Promise<void> {
  return withSegment(path, async (fh) => {
    await fh.truncate(length);
    await fh.sync();
  });
}

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/** Appends records to the newest segment, starts new segments and deletes compacted ones. */
export class WalWriter {
  private fd = -1;
  private size = 0;
  /** Times the fsyncs made in place (on the thread that started the writer). */
  private readonly asleep = new AsleepTimer();

  private constructor(
    private readonly walDir: string,
    private readonly segments: Segment[],
    private readonly segmentBytes: number,
    private state: LogState,
    /** Where a record's fdatasync runs (sync-placement.ts); the segments' own syncs always use the pool. */
    readonly placement: SyncPlacement,
  ) {}

  /** The log's state as of the last record written (and synced, when it asked for a sync). */
  get current(): Readonly<LogState> {
    return this.state;
  }

  /** Starts a new segment after `segments` (what replayWal found) holding `state`. */
  static async start(
    walDir: string,
    segments: Segment[],
    state: LogState,
    segmentBytes = DEFAULT_SEGMENT_BYTES,
    placement: SyncPlacement = new SyncPlacement(),
  ): Promise<WalWriter> {
    const w = new WalWriter(walDir, [...segments], segmentBytes, state, placement);
    await w.startSegment();
    return w;
  }

  /** Writes a record; with `sync`, resolves once it is on disk. Returns the bytes written. */
  async write(r: WalRecord, sync: boolean): Promise<number> {
    const frame = encodeRecord(r);
    const n = writevSync(this.fd, frame);
    const bytes = frame[0].byteLength + frame[1].byteLength;
    if (n !== bytes) throw new Error(`short write to the write-ahead log: ${n} of ${bytes} bytes`);
    this.size += bytes;
    if (r.entries.length > 0) {
      const seg = this.segments[this.segments.length - 1]!;
      seg.maxIndex = Math.max(seg.maxIndex, r.entries[r.entries.length - 1]!.index);
    }
    if (sync) await this.syncRecord();
    this.state = {
      hardState: r.hardState ?? this.state.hardState,
      snapshot: r.snapshot ?? this.state.snapshot,
      first: r.first,
      last: r.last,
    };
    if (this.size >= this.segmentBytes) await this.startSegment();
    return bytes;
  }

  private async syncRecord(): Promise<void> {
    const p = this.placement;
    if (p.inline()) {
      const fd = this.fd;
      p.inlineTook(this.asleep.time(() => fdatasyncSync(fd)));
      return;
    }
    p.pooled();
    await datasync(this.fd);
  }

  /** Deletes the oldest segments whose entries are all below the log's first index. */
  async purge(): Promise<string[]> {
    const removed: string[] = [];
    const { first } = this.state;
    while (this.segments.length > 1 && (first === 0 || this.segments[0]!.maxIndex < first)) {
      const seg = this.segments.shift()!;
      await unlink(join(this.walDir, seg.file));
      removed.push(seg.file);
    }
    if (removed.length > 0) await fsyncDir(this.walDir);
    return removed;
  }

  close(): void {
    this.closeSegment();
    this.asleep.close();
  }

  private closeSegment(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private async startSegment(): Promise<void> {
    // Records not synced yet (a commit index) go to disk before a newer segment exists: only the
    // newest segment may end damaged.
    if (this.fd >= 0) await datasync(this.fd);
    const seq = this.segments.length > 0 ? this.segments[this.segments.length - 1]!.seq + 1 : 1;
    const file = segmentFileName(seq);
    const fd = openSync(join(this.walDir, file), 'wx');
    const frame = encodeRecord({ kind: RecordKind.State, ...this.state, entries: [] });
    try {
      writevSync(fd, frame);
      await datasync(fd);
      await fsyncDir(this.walDir);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.closeSegment();
    this.fd = fd;
    this.size = frame[0].byteLength + frame[1].byteLength;
    this.segments.push({ seq, file, maxIndex: 0 });
  }
}

export type { WalRecord };
