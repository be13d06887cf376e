// Keys are bytes, compared bytewise as etcd does. In memory they are held as "latin1" strings (one
// char per byte, code units 0..255) because JavaScript compares such strings exactly in bytewise
// order and they make cheap B+ tree and Map keys. TextDecoder('latin1') must not be used for this:
// the WHATWG decoder is windows-1252 and remaps 0x80..0x9f.

/** A key as a string of one char per byte (bytewise order = string order). */
export type KeyStr = string;

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

export function keyStr(key: Uint8Array): KeyStr {
  return latin1(key);
}

/** Bytes as a string of one char per byte (keys, and the live values the key index holds). */
export function latin1(bytes: Uint8Array): string {
  const n = bytes.length;
  if (n === 0) return '';
  if (n <= 64) {
    // Short ones (most keys) are cheaper to build directly than through a Buffer.
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, n).toString('latin1');
}

/** The bytes of a key string, in a fresh Uint8Array that owns its memory. */
export function strBytes(key: KeyStr): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

/**
 * A key interval in etcd's forms, as strings: `end === undefined` is the single key `start`;
 * `end === null` is every key >= start (range_end "\0"); otherwise [start, end), empty when
 * end <= start.
 */
export interface KeyInterval {
  start: KeyStr;
  end: KeyStr | null | undefined;
}

/** etcd's mkGteRange plus the single-key form: how a (key, range_end) pair reads. */
export function keyInterval(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeyInterval {
  const start = keyStr(key);
  if (!rangeEnd || rangeEnd.length === 0) return { start, end: undefined };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start, end: null };
  return { start, end: keyStr(rangeEnd) };
}

export function intervalContains(iv: KeyInterval, k: KeyStr): boolean {
  if (iv.end === undefined) return k === iv.start;
  if (k < iv.start) return false;
  return iv.end === null || k < iv.end;
}

/** Whether two intervals share a key: the later start lies in both. */
export function intervalsOverlap(a: KeyInterval, b: KeyInterval): boolean {
  const s = a.start > b.start ? a.start : b.start;
  return intervalContains(a, s) && intervalContains(b, s);
}
