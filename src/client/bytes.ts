// Keys and values: strings are UTF-8, Uint8Array as is; ranges as etcd's clientv3 builds them.

export type Bytes = string | Uint8Array;

const EMPTY = new Uint8Array(0);
const ZERO = new Uint8Array([0]);

export function toBytes(b: Bytes | undefined): Uint8Array {
  if (b === undefined) return EMPTY;
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
}

/** UTF-8 text of some bytes (a key or value of a response). */
export function toText(b: Uint8Array | undefined): string {
  if (!b) return '';
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
}

/**
 * The end of the range of every key that starts with `prefix` (etcd's GetPrefixRangeEnd): the
 * prefix with its last byte below 0xff incremented and what follows dropped; `\0` (to the end of
 * the keyspace) when every byte is 0xff or the prefix is empty.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = Uint8Array.from(prefix.subarray(0, i + 1)); // a copy: Buffer.slice would share memory
      end[i] = end[i]! + 1;
      return end;
    }
  }
  return ZERO;
}

export interface RangeSpec {
  prefix?: boolean;
  fromKey?: boolean;
  rangeEnd?: Bytes;
}

/** The [key, range_end) of a request, with etcd's conventions for an empty key. */
export function keyRange(key: Bytes, opts: RangeSpec = {}): { key: Uint8Array; range_end?: Uint8Array } {
  let k = toBytes(key);
  if (opts.rangeEnd !== undefined) return { key: k, range_end: toBytes(opts.rangeEnd) };
  if (opts.prefix) {
    if (k.length === 0) return { key: ZERO, range_end: ZERO };
    return { key: k, range_end: prefixEnd(k) };
  }
  if (opts.fromKey) {
    if (k.length === 0) k = ZERO;
    return { key: k, range_end: ZERO };
  }
  return { key: k };
}

export function b64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

export function unb64(s: unknown): Uint8Array {
  if (typeof s !== 'string' || s.length === 0) return EMPTY;
  return Buffer.from(s, 'base64');
}

/** A lease or member ID given as bigint, a decimal string, `0x`-hex string or a safe integer. */
export function toId(id: bigint | string | number): bigint {
  if (typeof id === 'bigint') return id;
  if (typeof id === 'number') {
    if (!Number.isSafeInteger(id)) throw new TypeError(`not an integer ID: ${id}`);
    return BigInt(id);
  }
  const s = id.trim();
  if (!/^-?(0x[0-9a-fA-F]+|\d+)$/.test(s)) throw new TypeError(`not an ID: ${JSON.stringify(id)}`);
  return s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
}

/** A lease ID as etcd prints it in lock and election keys: lower-case hex, unpadded (two's complement for negatives). */
export function leaseHex(id: bigint): string {
  return BigInt.asUintN(64, id).toString(16);
}
