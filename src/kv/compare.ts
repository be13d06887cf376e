// Txn compares, as etcd's applyCompare/compareKV: a compare over a range holds only if every key
// in it satisfies it; a range with no keys compares the zero KeyValue, except on VALUE, which is
// then always false (even NOT_EQUAL: a missing value cannot be told from an empty one).
import type { Compare, KeyValue } from './api.js';
import { CompareResult, CompareTarget } from './api.js';
import { compareBytes, EMPTY_BYTES, keyInterval } from './bytes.js';
import { liveKvs } from './range.js';
import type { TreeIndex } from './tree-index.js';

const ZERO_KV: KeyValue = Object.freeze({
  key: EMPTY_BYTES,
  create_revision: 0,
  mod_revision: 0,
  version: 0,
  value: EMPTY_BYTES,
  lease: 0n,
});

function sign(n: number | bigint): number {
  return n > 0 ? 1 : n < 0 ? -1 : 0;
}

export function compareKv(c: Compare, kv: KeyValue): boolean {
  let result: number;
  switch (c.target) {
    case CompareTarget.VALUE:
      result = compareBytes(kv.value, c.value ?? EMPTY_BYTES);
      break;
    case CompareTarget.CREATE:
      result = sign(kv.create_revision - (c.create_revision ?? 0));
      break;
    case CompareTarget.MOD:
      result = sign(kv.mod_revision - (c.mod_revision ?? 0));
      break;
    case CompareTarget.VERSION:
      result = sign(kv.version - (c.version ?? 0));
      break;
    case CompareTarget.LEASE:
      result = sign(kv.lease - (c.lease ?? 0n));
      break;
    default:
      result = 0;
  }
  switch (c.result) {
    case CompareResult.EQUAL:
      return result === 0;
    case CompareResult.NOT_EQUAL:
      return result !== 0;
    case CompareResult.GREATER:
      return result > 0;
    case CompareResult.LESS:
      return result < 0;
    default:
      // etcd: an unknown result holds.
      return true;
  }
}

export function applyCompare(tree: TreeIndex, c: Compare): boolean {
  const kvs = liveKvs(tree, keyInterval(c.key, c.range_end), c.target === CompareTarget.VALUE);
  if (kvs.length === 0) return c.target === CompareTarget.VALUE ? false : compareKv(c, ZERO_KV);
  for (const kv of kvs) if (!compareKv(c, kv)) return false;
  return true;
}

export function applyCompares(tree: TreeIndex, cs: Compare[] | undefined): boolean {
  for (const c of cs ?? []) if (!applyCompare(tree, c)) return false;
  return true;
}
