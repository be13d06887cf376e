// msgpackr encoding of the stored values: the format version (LevelDB), and the hard state,
// snapshot metadata and entries (write-ahead log records, and LevelDB keys in format 1). Values
// are small arrays or maps of numbers and byte arrays; every decoder validates the shape and
// throws StorageCorruptError naming where the value was (a key, or a log file and offset).
//
// Decoding notes (msgpackr 2): bin values decode as Buffer views into the input unless copyBuffers
// is set, so entry data is copied into a plain Uint8Array; 64-bit integers decode as numbers
// (int64AsType: 'number'); numbers above 2^32 are encoded as float64, which is exact below 2^53.
import { Packr } from 'msgpackr';
import type { ConfState, Entry, EntryType, HardState } from '../types.js';
import { StorageCorruptError } from './errors.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Snapshot metadata as stored: the Raft SnapshotMeta plus where its data is and how to check it. */
export interface StoredSnapshotMeta {
  index: number;
  term: number;
  confState: ConfState;
  /** File name (no directory) inside the snapshot directory. */
  file: string;
  size: number;
  crc32: number;
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function unpack(where: string, value: Uint8Array): unknown {
  try {
    return packr.unpack(value);
  } catch (err) {
    throw new StorageCorruptError(where, `undecodable value (${(err as Error).message})`, err);
  }
}

function corrupt(where: string, detail: string): StorageCorruptError {
  return new StorageCorruptError(where, detail);
}

/** Copy into a plain Uint8Array that owns its memory (not a view into the buffer read). */
function ownBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return out;
}

export function encodeVersion(version: number): Uint8Array {
  return packr.pack(version);
}

export function decodeVersion(where: string, value: Uint8Array): number {
  const v = unpack(where, value);
  if (!isUint(v)) throw corrupt(where, `expected a format version number, got ${typeof v}`);
  return v;
}

/** An entry as a [term, type, data] tuple (its index is implied by where it is stored). */
export function entryTuple(entry: Entry): unknown[] {
  return [entry.term, entry.type, entry.data];
}

/** An entry from its tuple; `where` names it in errors. */
export function entryFromTuple(where: string, index: number, v: unknown): Entry {
  if (!Array.isArray(v) || v.length !== 3) throw corrupt(where, 'expected [term, type, data]');
  const [term, type, data] = v as unknown[];
  if (!isUint(term)) throw corrupt(where, `invalid term ${String(term)}`);
  if (!isUint(type)) throw corrupt(where, `invalid entry type ${String(type)}`);
  if (!(data instanceof Uint8Array)) throw corrupt(where, 'entry data is not a byte array');
  return { term, index, type: type as EntryType, data: ownBytes(data) };
}

export function hardStateTuple(hs: HardState): number[] {
  return [hs.term, hs.vote, hs.commit];
}

export function hardStateFromTuple(where: string, v: unknown): HardState {
  if (!Array.isArray(v) || v.length !== 3 || !v.every(isUint)) throw corrupt(where, 'expected [term, vote, commit]');
  const [term, vote, commit] = v as number[];
  return { term, vote, commit };
}

export function snapshotMetaMap(meta: StoredSnapshotMeta): Record<string, unknown> {
  return {
    index: meta.index,
    term: meta.term,
    voters: meta.confState.voters,
    learners: meta.confState.learners,
    file: meta.file,
    size: meta.size,
    crc32: meta.crc32,
  };
}

export function snapshotMetaFromMap(where: string, v: unknown): StoredSnapshotMeta {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw corrupt(where, 'expected a map');
  const m = v as Record<string, unknown>;
  for (const field of ['index', 'term', 'size', 'crc32'] as const) {
    if (!isUint(m[field])) throw corrupt(where, `invalid ${field} ${String(m[field])}`);
  }
  for (const field of ['voters', 'learners'] as const) {
    const ids = m[field];
    if (!Array.isArray(ids) || !ids.every(isUint)) throw corrupt(where, `invalid ${field} list`);
  }
  if (typeof m.file !== 'string' || !/^[A-Za-z0-9._-]+$/.test(m.file) || m.file.startsWith('.')) {
    throw corrupt(where, `invalid snapshot file name ${JSON.stringify(m.file)}`);
  }
  return {
    index: m.index as number,
    term: m.term as number,
    confState: { voters: [...(m.voters as number[])], learners: [...(m.learners as number[])] },
    file: m.file,
    size: m.size as number,
    crc32: m.crc32 as number,
  };
}

/** Format 1 kept the hard state, snapshot metadata and each entry as LevelDB values of their own. */
export function decodeLegacyEntry(where: string, index: number, value: Uint8Array): Entry {
  return entryFromTuple(where, index, unpack(where, value));
}

export function decodeLegacyHardState(where: string, value: Uint8Array): HardState {
  return hardStateFromTuple(where, unpack(where, value));
}

export function decodeLegacySnapshotMeta(where: string, value: Uint8Array): StoredSnapshotMeta {
  return snapshotMetaFromMap(where, unpack(where, value));
}

export function packValue(v: unknown): Uint8Array {
  return packr.pack(v);
}

export function unpackValue(where: string, bytes: Uint8Array): unknown {
  return unpack(where, bytes);
}
