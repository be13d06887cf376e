// A revision as etcd's mvcc package has it: `main` is the store revision of one write request
// (every put/delete of one txn shares it), `sub` orders the changes inside that request.
//
// On disk a revision is the key of its record: 'r' + u64be(main) + u32be(sub), so LevelDB's
// bytewise order is revision order and a scan by key prefix walks history in apply order.
import { putUint32BE, putUint64BE } from '../util/big-endian.js';

export interface Revision {
  main: number;
  sub: number;
}

export const REV_SPACE = 0x72; // 'r'
export const REV_KEY_LENGTH = 13;
const TWO_32 = 0x1_0000_0000;

export function revKey(main: number, sub: number): Uint8Array {
  const k = new Uint8Array(REV_KEY_LENGTH);
  k[0] = REV_SPACE;
  putUint64BE(k, 1, main);
  putUint32BE(k, 9, sub);
  return k;
}

/** The first record key of revision `main` (sub 0): a scan bound. */
export function revKeyLow(main: number): Uint8Array {
  return revKey(Math.max(0, main), 0);
}

/** The record key just past every record of revision `main`: an exclusive scan bound. */
export function revKeyAfter(main: number): Uint8Array {
  return revKey(main + 1, 0);
}

export function isRevKey(k: Uint8Array): boolean {
  return k.length === REV_KEY_LENGTH && k[0] === REV_SPACE;
}

export function parseRevKey(k: Uint8Array): Revision {
  const v = new DataView(k.buffer, k.byteOffset, k.byteLength);
  return { main: v.getUint32(1) * TWO_32 + v.getUint32(5), sub: v.getUint32(9) };
}

/** A revision as one Map key (for the records of a batch not yet written). */
export function revId(main: number, sub: number): string {
  return `${main}.${sub}`;
}
