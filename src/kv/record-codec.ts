// What the store keeps in LevelDB, and how it is encoded (msgpackr, positional arrays: no field
// names on disk, no JSON on the put path).
//
//   'r' + u64be(main) + u32be(sub)   one change: [key, create, version, value, lease] for a put,
//                                    [key] for a tombstone (revision.ts)
//   'l' + i64be(lease id)            a lease: [ttl]
//   'm' + name                       meta numbers: format version, applied index, current revision,
//                                    compacted revision (scheduled) and compaction done (physical);
//                                    the alarms raised: [[member id, alarm type], ...]
//
// create_revision and version are stored with the value (etcd stores the whole KeyValue) because
// the history before a compacted revision is gone: a rebuild starts a key's generation from its
// oldest surviving record and needs both to continue counting.
import { Packr } from 'msgpackr';
import type { KeyValue, LeaseId } from './api.js';
import { EMPTY_BYTES } from './bytes.js';

// int64AsType 'bigint': msgpackr writes every bigint as an int64 and reads it back as a bigint, so
// lease IDs round-trip exactly in the whole int64 range; JS numbers above 2^32 are written as
// float64 and read back as numbers.
export const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'bigint' });

export class KvCorruptError extends Error {
  constructor(what: string, detail: string) {
    super(`kv store: corrupt ${what}: ${detail}`);
    this.name = 'KvCorruptError';
  }
}

const LEASE_SPACE = 0x6c; // 'l'
const META_SPACE = 0x6d; // 'm'

export const LEASE_KEY_MIN: Uint8Array = Uint8Array.of(LEASE_SPACE);
export const LEASE_KEY_END: Uint8Array = Uint8Array.of(LEASE_SPACE + 1);

function metaKey(name: string): Uint8Array {
  return Uint8Array.from([META_SPACE, ...Buffer.from(name, 'latin1')]);
}

export const META = {
  format: metaKey('format'),
  applied: metaKey('applied'),
  revision: metaKey('revision'),
  compacted: metaKey('compacted'),
  compactDone: metaKey('compact-done'),
  alarms: metaKey('alarms'),
} as const;

export const FORMAT_VERSION = 1;

export function encodeNumber(n: number): Uint8Array {
  return packr.pack(n);
}

export function decodeNumber(what: string, b: Uint8Array | undefined): number | undefined {
  if (b === undefined) return undefined;
  const v = packr.unpack(b) as unknown;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new KvCorruptError(what, `not a count: ${String(v)}`);
  return v;
}

/** A lease ID as 8 bytes two's complement big-endian. */
export function leaseKey(id: LeaseId): Uint8Array {
  const k = new Uint8Array(9);
  k[0] = LEASE_SPACE;
  new DataView(k.buffer).setBigInt64(1, id);
  return k;
}

export function leaseIdFromKey(k: Uint8Array): LeaseId {
  if (k.length !== 9 || k[0] !== LEASE_SPACE) throw new KvCorruptError('lease key', `length ${k.length}`);
  return new DataView(k.buffer, k.byteOffset, k.byteLength).getBigInt64(1);
}

export function encodeLease(ttl: number): Uint8Array {
  return packr.pack([ttl]);
}

export function decodeLease(b: Uint8Array): number {
  const v = packr.unpack(b) as unknown;
  if (!Array.isArray(v) || typeof v[0] !== 'number') throw new KvCorruptError('lease record', 'expected [ttl]');
  return v[0];
}

/** Lease 0 (none) is written as the 1-byte number 0; others as int64. */
export function encodeRecord(kv: KeyValue): Uint8Array {
  return packr.pack([kv.key, kv.create_revision, kv.version, kv.value, kv.lease === 0n ? 0 : kv.lease]);
}

export function encodeTombstone(key: Uint8Array): Uint8Array {
  return packr.pack([key]);
}

/** A decoded change record: `kv` is undefined for a tombstone. */
export interface DecodedRecord {
  key: Uint8Array;
  kv: KeyValue | undefined;
}

/**
 * Decodes a record written at revision `main`. Byte fields are views into `b`, which the caller
 * owns (a value LevelDB returned, never reused): safe to keep.
 */
export function decodeRecord(main: number, b: Uint8Array): DecodedRecord {
  const v = packr.unpack(b) as unknown;
  if (!Array.isArray(v) || !(v[0] instanceof Uint8Array)) throw new KvCorruptError(`record at revision ${main}`, 'no key');
  const key = v[0] as Uint8Array;
  if (v.length === 1) return { key, kv: undefined };
  const [, create, version, value, lease] = v as [Uint8Array, unknown, unknown, unknown, unknown];
  if (typeof create !== 'number' || typeof version !== 'number' || !(value instanceof Uint8Array)) {
    throw new KvCorruptError(`record at revision ${main}`, 'bad fields');
  }
  const id = typeof lease === 'bigint' ? lease : typeof lease === 'number' ? BigInt(lease) : undefined;
  if (id === undefined) throw new KvCorruptError(`record at revision ${main}`, 'bad lease');
  return {
    key,
    kv: Object.freeze({
      key,
      create_revision: create,
      mod_revision: main,
      version,
      value: value.length === 0 ? EMPTY_BYTES : value,
      lease: id,
    }),
  };
}
