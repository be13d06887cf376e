// One record of the write-ahead log, and its frame on disk.
//
// A record says what the log looks like after it: its bounds (first and last stored index) always,
// and the hard state, snapshot metadata and entries it changes. Entries replace the stored ones from
// their first index on (a follower's log conflicting with the leader's is cut there). Because the
// bounds are resolved when the record is written, reading the log back is replaying records in
// order, with no Raft logic (see wal.ts).
//
// A segment file starts with a state record (kind STATE: the whole hard state and snapshot
// metadata, no entries), so the segments before one can be deleted once their entries are
// compacted.
//
// Frame: u32 BE payload length, u32 BE CRC-32 of the payload, then the payload (msgpack:
// [kind, first, last, hardState | null, snapshotMeta | null, lo, [[term, type, data], ...]]).
import { crc32 } from 'node:zlib';
import type { Entry, HardState } from '../types.js';
import {
  entryFromTuple,
  entryTuple,
  hardStateFromTuple,
  hardStateTuple,
  packValue,
  snapshotMetaFromMap,
  snapshotMetaMap,
  unpackValue,
  type StoredSnapshotMeta,
} from './codec.js';
import { StorageCorruptError } from './errors.js';

export const RecordKind = {
  /** First record of a segment: the state so far, no entries. */
  State: 0,
  /** A change: an append, an installed snapshot, a compaction. */
  Change: 1,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

export interface WalRecord {
  kind: RecordKind;
  /** Lowest and highest stored index after this record (0 and 0: no entry stored). */
  first: number;
  last: number;
  hardState?: HardState;
  snapshot?: StoredSnapshotMeta;
  /** The entries written by this record, contiguous from entries[0].index. */
  entries: Entry[];
}

export const FRAME_HEADER_BYTES = 8;

/** A record's frame: header and payload, to be written in this order. */
export function encodeRecord(r: WalRecord): [Buffer, Uint8Array] {
  const lo = r.entries.length > 0 ? r.entries[0]!.index : 0;
  const payload = packValue([
    r.kind,
    r.first,
    r.last,
    r.hardState ? hardStateTuple(r.hardState) : null,
    r.snapshot ? snapshotMetaMap(r.snapshot) : null,
    lo,
    r.entries.map(entryTuple),
  ]);
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(payload.byteLength, 0);
  header.writeUInt32BE(crc32(payload), 4);
  return [header, payload];
}

/** What is at an offset of a segment: a whole frame, the end of the data, or a frame cut short or damaged. */
export type FrameAt =
  | { kind: 'frame'; payload: Uint8Array; next: number }
  | { kind: 'end' }
  | { kind: 'bad'; detail: string };

export function frameAt(buf: Uint8Array, offset: number): FrameAt {
  if (offset === buf.byteLength) return { kind: 'end' };
  if (buf.byteLength - offset < FRAME_HEADER_BYTES) return { kind: 'bad', detail: `${buf.byteLength - offset} bytes, too short for a frame header` };
  const view = new DataView(buf.buffer, buf.byteOffset + offset, FRAME_HEADER_BYTES);
  const length = view.getUint32(0);
  const sum = view.getUint32(4);
  // A zero header is what a file extended by a crash before its data reached the disk reads as.
  if (length === 0) return { kind: 'bad', detail: sum === 0 ? 'zeros where a frame should be' : 'a frame of length 0' };
  const start = offset + FRAME_HEADER_BYTES;
  if (buf.byteLength - start < length) return { kind: 'bad', detail: `a frame of ${length} bytes with only ${buf.byteLength - start} left` };
  const payload = buf.subarray(start, start + length);
  const actual = crc32(payload);
  if (actual !== sum) return { kind: 'bad', detail: `checksum ${actual} does not match the frame's ${sum}` };
  return { kind: 'frame', payload, next: start + length };
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** The record in a frame's payload; `where` names it in errors. */
export function decodeRecord(where: string, payload: Uint8Array): WalRecord {
  const v = unpackValue(where, payload);
  if (!Array.isArray(v) || v.length !== 7) throw new StorageCorruptError(where, 'expected a 7-field record');
  const [kind, first, last, hs, meta, lo, tuples] = v as unknown[];
  if (kind !== RecordKind.State && kind !== RecordKind.Change) throw new StorageCorruptError(where, `unknown record kind ${String(kind)}`);
  if (!isUint(first) || !isUint(last) || (first === 0) !== (last === 0) || last < first - 1) {
    throw new StorageCorruptError(where, `invalid log bounds ${String(first)}..${String(last)}`);
  }
  if (!isUint(lo) || !Array.isArray(tuples) || (tuples.length > 0 && lo < 1)) throw new StorageCorruptError(where, 'invalid entries');
  const entries = tuples.map((t, i) => entryFromTuple(`${where}, log entry ${lo + i}`, lo + i, t));
  return {
    kind,
    first,
    last,
    hardState: hs === null ? undefined : hardStateFromTuple(where, hs),
    snapshot: meta === null ? undefined : snapshotMetaFromMap(where, meta),
    entries,
  };
}
