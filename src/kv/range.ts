// Range reads, as etcd's applier Range over mvcc's rangeKeys: the keys of [key, range_end) at a
// revision, `count` taken before the min/max revision filters, then sort (before limit), then limit
// with `more`, then keys_only. Reads at the current revision are served from the live values the key
// index holds in memory (the value cache); reads at a past revision, and reads of values not in
// memory, find each key's record through the index and fetch only the values that end up in the
// answer.
import type { KeyValue, RangeRequest } from './api.js';
import { SortOrder, SortTarget } from './api.js';
import { compareBytes, EMPTY_BYTES, keyInterval, type KeyInterval } from './bytes.js';
import type { KeyIndex } from './key-index.js';
import type { TreeIndex } from './tree-index.js';
import { Errors } from '../util/errors.js';

export interface RangeResult {
  kvs: KeyValue[];
  count: number;
  more: boolean;
}

/** A key as of a past revision before its value is fetched: where its record is. */
export interface HistoricItem {
  create_revision: number;
  mod_revision: number;
  version: number;
  sub: number;
  kv?: KeyValue;
}

/** Fetches the records at the given revisions; undefined where a record is gone (compacted). */
export type RecordFetcher = (revs: { main: number; sub: number }[]) => Promise<(KeyValue | undefined)[]>;

type Meta = Pick<KeyValue, 'create_revision' | 'mod_revision' | 'version'>;

function hasFilters(r: RangeRequest): boolean {
  return !!(r.min_mod_revision || r.max_mod_revision || r.min_create_revision || r.max_create_revision);
}

function applyFilters<T extends Meta>(items: T[], r: RangeRequest): T[] {
  if (!hasFilters(r)) return items;
  const maxMod = r.max_mod_revision ?? 0;
  const minMod = r.min_mod_revision ?? 0;
  const maxCreate = r.max_create_revision ?? 0;
  const minCreate = r.min_create_revision ?? 0;
  return items.filter(
    (kv) =>
      !(maxMod !== 0 && kv.mod_revision > maxMod) &&
      !(minMod !== 0 && kv.mod_revision < minMod) &&
      !(maxCreate !== 0 && kv.create_revision > maxCreate) &&
      !(minCreate !== 0 && kv.create_revision < minCreate),
  );
}

/** The effective order: a target other than KEY without an order sorts ascending (etcd does). */
function effectiveOrder(r: RangeRequest): SortOrder {
  const order = r.sort_order ?? SortOrder.NONE;
  const target = r.sort_target ?? SortTarget.KEY;
  if (order === SortOrder.NONE && target !== SortTarget.KEY) return SortOrder.ASCEND;
  return order;
}

/** Sorts items that arrive in ascending key order. Ties keep key order (JS sort is stable). */
function sortItems<T extends Meta & { value?: Uint8Array }>(items: T[], r: RangeRequest): T[] {
  const order = effectiveOrder(r);
  if (order !== SortOrder.ASCEND && order !== SortOrder.DESCEND) return items;
  const target = r.sort_target ?? SortTarget.KEY;
  const sign = order === SortOrder.DESCEND ? -1 : 1;
  switch (target) {
    case SortTarget.KEY:
      return order === SortOrder.DESCEND ? items.reverse() : items;
    case SortTarget.VERSION:
      return items.sort((a, b) => sign * (a.version - b.version));
    case SortTarget.CREATE:
      return items.sort((a, b) => sign * (a.create_revision - b.create_revision));
    case SortTarget.MOD:
      return items.sort((a, b) => sign * (a.mod_revision - b.mod_revision));
    case SortTarget.VALUE:
      return items.sort((a, b) => sign * compareBytes(a.value ?? EMPTY_BYTES, b.value ?? EMPTY_BYTES));
    default:
      return items;
  }
}

function keysOnly(kvs: KeyValue[], r: RangeRequest): KeyValue[] {
  if (!r.keys_only) return kvs;
  return kvs.map((kv) => (kv.value.length === 0 ? kv : { ...kv, value: EMPTY_BYTES }));
}

function limitOf(r: RangeRequest): number {
  const l = r.limit ?? 0;
  return l > 0 ? l : 0;
}

/** Whether a range's answer needs values (not for a count, nor for keys only unless sorted by value). */
export function rangeReadsValues(r: RangeRequest): boolean {
  return !r.count_only && (!r.keys_only || r.sort_target === SortTarget.VALUE);
}

/** A live key as a KeyValue; with `missing`, one whose value is not in memory is pushed there and comes without it. */
function liveKv(ki: KeyIndex, withValue: boolean, missing: KeyIndex[] | undefined): KeyValue {
  if (withValue && missing !== undefined && ki.value === undefined) {
    missing.push(ki);
    return ki.live(false)!;
  }
  return ki.live(withValue)!;
}

/**
 * Every live key of an interval, in key order (compares, delete ranges, prev_kv). With `missing`,
 * a key whose value is not in memory is pushed there (and comes without its value); without it,
 * every value must be in memory.
 */
export function liveKvs(tree: TreeIndex, iv: KeyInterval, withValue = true, missing?: KeyIndex[]): KeyValue[] {
  const out: KeyValue[] = [];
  tree.visit(iv, (_k, ki) => {
    if (ki.isLive()) out.push(liveKv(ki, withValue, missing));
  });
  return out;
}

/**
 * A range at the current revision, from memory. Synchronous: a txn's reads run between its writes
 * (its apply loaded the values first). With `missing`, keys of the answer whose values are not in
 * memory are pushed there and the answer is incomplete; without it, those values must be there.
 */
export function rangeLive(tree: TreeIndex, r: RangeRequest, missing?: KeyIndex[]): RangeResult {
  const iv = keyInterval(r.key, r.range_end);
  const limit = limitOf(r);
  const order = effectiveOrder(r);
  const target = r.sort_target ?? SortTarget.KEY;
  if (r.count_only) {
    let count = 0;
    tree.visit(iv, (_k, ki) => {
      if (ki.isLive()) count++;
    });
    return { kvs: [], count, more: false };
  }
  // The common case (key order, no filters) walks once: count everything, keep the first `limit`.
  if (!hasFilters(r) && target === SortTarget.KEY) {
    const kvs: KeyValue[] = [];
    let count = 0;
    const withValue = rangeReadsValues(r);
    const take = (_k: string, ki: KeyIndex) => {
      if (!ki.isLive()) return;
      count++;
      if (limit === 0 || kvs.length < limit) kvs.push(liveKv(ki, withValue, missing));
    };
    if (order === SortOrder.DESCEND) tree.visitReversed(iv, take);
    else tree.visit(iv, take);
    return { kvs, count, more: limit > 0 && count > limit };
  }
  const all = liveKvs(tree, iv, rangeReadsValues(r), missing);
  const count = all.length;
  let kvs = sortItems(applyFilters(all, r), r);
  let more = false;
  if (limit > 0 && kvs.length > limit) {
    kvs = kvs.slice(0, limit);
    more = true;
  }
  return { kvs: keysOnly(kvs, r), count, more };
}

async function materialize(items: HistoricItem[], fetch: RecordFetcher): Promise<KeyValue[]> {
  const need = items.filter((it) => !it.kv);
  if (need.length > 0) {
    const got = await fetch(need.map((it) => ({ main: it.mod_revision, sub: it.sub })));
    for (let i = 0; i < need.length; i++) {
      const kv = got[i];
      // The record went away under us: a compaction passed this revision while we read.
      if (!kv) throw Errors.compacted();
      need[i]!.kv = kv;
    }
  }
  return items.map((it) => it.kv!);
}

/** A range at a past revision `rev` (checked by the caller against the compacted revision). */
export async function rangeAt(tree: TreeIndex, r: RangeRequest, rev: number, fetch: RecordFetcher): Promise<RangeResult> {
  const iv = keyInterval(r.key, r.range_end);
  const limit = limitOf(r);
  const item = (ki: KeyIndex): HistoricItem | undefined => {
    const at = ki.get(rev);
    if (!at) return undefined;
    // The live value is the record at its mod revision: no need to fetch it.
    const live = ki.cachedAt(at.main) ? ki.live() : undefined;
    return { create_revision: at.create, mod_revision: at.main, version: at.version, sub: at.sub, kv: live };
  };
  if (r.count_only) {
    let count = 0;
    tree.visit(iv, (_k, ki) => {
      if (ki.existsAt(rev)) count++;
    });
    return { kvs: [], count, more: false };
  }
  // Key order without filters: count every key, build items for the first `limit` only.
  if (!hasFilters(r) && (r.sort_target ?? SortTarget.KEY) === SortTarget.KEY) {
    const page: HistoricItem[] = [];
    let count = 0;
    const take = (_k: string, ki: KeyIndex) => {
      if (!ki.existsAt(rev)) return;
      count++;
      if (limit === 0 || page.length < limit) page.push(item(ki)!);
    };
    if (effectiveOrder(r) === SortOrder.DESCEND) tree.visitReversed(iv, take);
    else tree.visit(iv, take);
    return { kvs: keysOnly(await materialize(page, fetch), r), count, more: limit > 0 && count > limit };
  }
  const items: HistoricItem[] = [];
  tree.visit(iv, (_k, ki) => {
    const it = item(ki);
    if (it) items.push(it);
  });
  const count = items.length;
  let page = applyFilters(items, r);
  if ((r.sort_target ?? SortTarget.KEY) === SortTarget.VALUE && effectiveOrder(r) !== SortOrder.NONE) {
    // Sorting by value needs every value first.
    const kvs = sortItems(await materialize(page, fetch), r);
    const more = limit > 0 && kvs.length > limit;
    return { kvs: keysOnly(more ? kvs.slice(0, limit) : kvs, r), count, more };
  }
  page = sortItems(page, r);
  let more = false;
  if (limit > 0 && page.length > limit) {
    page = page.slice(0, limit);
    more = true;
  }
  return { kvs: keysOnly(await materialize(page, fetch), r), count, more };
}
