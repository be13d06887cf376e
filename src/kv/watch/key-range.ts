// The key range a watcher covers, in etcd's three forms, and the key encoding used for matching.
//
// Keys are bytes. For matching they are turned into "latin1" strings (one char per byte, code
// units 0..255), so that JavaScript's string comparison is exactly the bytewise order etcd uses.

/** A key as a string of one char per byte (bytewise order = string order). */
export type KeyString = string;

export function keyString(key: Uint8Array): KeyString {
  if (key.length === 0) return '';
  if (key.length <= 64) {
    // Short keys (the common case) are cheaper to build directly than through a Buffer.
    return String.fromCharCode.apply(null, key as unknown as number[]);
  }
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1');
}

export function keyBytes(key: KeyString): Uint8Array {
  return new Uint8Array(Buffer.from(key, 'latin1'));
}

/**
 * - `key`: exactly one key (`end` absent);
 * - `range`: [start, end) with start < end;
 * - `from`: every key >= start (etcd's range_end "\0").
 */
export type KeyRange =
  | { kind: 'key'; start: KeyString }
  | { kind: 'range'; start: KeyString; end: KeyString }
  | { kind: 'from'; start: KeyString };

export class EmptyWatchRangeError extends Error {
  constructor() {
    super('mvcc: watcher range is empty');
    this.name = 'EmptyWatchRangeError';
  }
}

/**
 * The range of a create_request, with etcd's rules (v3rpc recvLoop + mvcc watchStream.Watch): an
 * empty key is "\0" (the smallest key), an empty range_end means the single key, a range_end of
 * "\0" means "from key on", and a range_end <= key is "mvcc: watcher range is empty".
 */
export function watchRange(key: Uint8Array | undefined, rangeEnd: Uint8Array | undefined): KeyRange {
  const start = key && key.length > 0 ? keyString(key) : '\0';
  if (!rangeEnd || rangeEnd.length === 0) return { kind: 'key', start };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { kind: 'from', start };
  const end = keyString(rangeEnd);
  if (start >= end) throw new EmptyWatchRangeError();
  return { kind: 'range', start, end };
}

export function rangeContains(r: KeyRange, k: KeyString): boolean {
  switch (r.kind) {
    case 'key':
      return k === r.start;
    case 'range':
      return k >= r.start && k < r.end;
    case 'from':
      return k >= r.start;
  }
}

/** The upper bound of a range for the interval index: null = +infinity. */
export function rangeEnd(r: KeyRange): KeyString | null {
  return r.kind === 'range' ? r.end : r.kind === 'from' ? null : r.start + '\0';
}
