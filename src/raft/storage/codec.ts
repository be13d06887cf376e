// msgpackr encoding of the values stored in LevelDB. Values are small arrays or maps of numbers
// and byte arrays; every decoder validates the shape and throws StorageCorruptError naming the key.
//
// Decoding notes (msgpackr 2): bin values decode as Buffer views into the input unless copyBuffers
// is set, so entry data is copied into a plain Uint8Array; 64-bit integers decode as numbers
// (int64AsType: 'number'); numbers above 2^32 are encoded as float64, which is exact below 2^53.
import { Packr } from 'msgpackr';
import type { ConfState, Entry, EntryType, HardState } from '../types.js';
import { StorageCorruptError } from './errors.js';
import { describeKey } from './keys.js';

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

function unpack(key: Uint8Array, value: Uint8Array): unknown {
  try {
    return packr.unpack(value);
  } catch (err) {
    throw new StorageCorruptError(describeKey(key), `undecodable value (${(err as Error).message})`, err);
  }
}

function corrupt(key: Uint8Array, detail: string): StorageCorruptError {
  return new StorageCorruptError(describeKey(key), detail);
}

/** Copy into a plain Uint8Array that owns its memory (not a view into LevelDB's value buffer). */
function ownBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return out;
}

export function encodeVersion(version: number): Uint8Array {
  return packr.pack(version);
}

export function decodeVersion(key: Uint8Array, value: Uint8Array): number {
  const v = unpack(key, value);
  if (!isUint(v)) throw corrupt(key, `expected a format version number, got ${typeof v}`);
  return v;
}

export function encodeEntry(entry: Entry): Uint8Array {
  return packr.pack([entry.term, entry.type, entry.data]);
}

export function decodeEntry(key: Uint8Array, index: number, value: Uint8Array): Entry {
  const v = unpack(key, value);
  if (!Array.isArray(v) || v.length !== 3) throw corrupt(key, 'expected [term, type, data]');
  const [term, type, data] = v as unknown[];
  if (!isUint(term)) throw corrupt(key, `invalid term ${String(term)}`);
  if (!isUint(type)) throw corrupt(key, `invalid entry type ${String(type)}`);
  if (!(data instanceof Uint8Array)) throw corrupt(key, 'entry data is not a byte array');
  return { term, index, type: type as EntryType, data: ownBytes(data) };
}

export function encodeHardState(hs: HardState): Uint8Array {
  return packr.pack([hs.term, hs.vote, hs.commit]);
}

export function decodeHardState(key: Uint8Array, value: Uint8Array): HardState {
  const v = unpack(key, value);
  if (!Array.isArray(v) || v.length !== 3 || !v.every(isUint)) throw corrupt(key, 'expected [term, vote, commit]');
  const [term, vote, commit] = v as number[];
  return { term, vote, commit };
}

export function encodeSnapshotMeta(meta: StoredSnapshotMeta): Uint8Array {
  return packr.pack({
    index: meta.index,
    term: meta.term,
    voters: meta.confState.voters,
    learners: meta.confState.learners,
    file: meta.file,
    size: meta.size,
    crc32: meta.crc32,
  });
}

export function decodeSnapshotMeta(key: Uint8Array, value: Uint8Array): StoredSnapshotMeta {
  const v = unpack(key, value);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw corrupt(key, 'expected a map');
  const m = v as Record<string, unknown>;
  for (const field of ['index', 'term', 'size', 'crc32'] as const) {
    if (!isUint(m[field])) throw corrupt(key, `invalid ${field} ${String(m[field])}`);
  }
  for (const field of ['voters', 'learners'] as const) {
    const ids = m[field];
    if (!Array.isArray(ids) || !ids.every(isUint)) throw corrupt(key, `invalid ${field} list`);
  }
  if (typeof m.file !== 'string' || !/^[A-Za-z0-9._-]+$/.test(m.file) || m.file.startsWith('.')) {
    throw corrupt(key, `invalid snapshot file name ${JSON.stringify(m.file)}`);
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
