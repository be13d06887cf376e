// Applying the write requests other than Txn (txn.ts), as etcd's applierV3backend does. Each
// returns the response, or the EtcdError to give the proposer; a failed request changes nothing
// (every check runs before the first change).
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  PutRequest,
  PutResponse,
} from './api.js';
import { EMPTY_BYTES, keyInterval, keyStr, type KeyStr } from './bytes.js';
import { intervalCover, keysCover, type ChunkedDeletes, type DeleteCover } from './chunked-deletes.js';
import { compactIndex } from './compaction.js';
import { encodeNumber, META } from './record-codec.js';
import { liveKvs } from './range.js';
import type { MvccState } from './state.js';
import { validateDeleteRange, validatePut } from './validate.js';
import { type ApplyBatch, WriteTxn } from './write-txn.js';
import { Errors, type EtcdError } from '../util/errors.js';

/** A top-level put checks the lease first, then the key (inside a txn it is the other way round). */
export function applyPut(st: MvccState, batch: ApplyBatch, p: PutRequest): PutResponse | EtcdError {
  const invalid = validatePut(p);
  if (invalid) return invalid;
  const lease = p.lease ?? 0n;
  if (lease !== 0n && !st.lessor.lookup(lease)) return Errors.leaseNotFound();
  const k = keyStr(p.key);
  // The previous KeyValue (two buffers and an object) only when the request uses it.
  const prev = p.prev_kv || p.ignore_value || p.ignore_lease ? st.tree.get(k)?.live() : undefined;
  if ((p.ignore_value || p.ignore_lease) && !prev) return Errors.keyNotFound();
  const value = p.ignore_value ? prev!.value : (p.value ?? EMPTY_BYTES);
  const wt = new WriteTxn(st, batch);
  const rev = wt.put(p.key, value, p.ignore_lease ? prev!.lease : lease, k);
  return p.prev_kv && prev ? { header: { revision: rev }, prev_kv: prev } : { header: { revision: rev } };
}

/**
 * Deleting nothing does not use a revision: the header then carries the current one. A delete of
 * more live keys than `chunked` allows per turn is applied in chunks (chunked-deletes.ts).
 */
export function applyDeleteRange(
  st: MvccState,
  batch: ApplyBatch,
  d: DeleteRangeRequest,
  chunked?: ChunkedDeletes,
): DeleteRangeResponse | EtcdError | Promise<DeleteRangeResponse> {
  const invalid = validateDeleteRange(d);
  if (invalid) return invalid;
  const iv = keyInterval(d.key, d.range_end);
  const prevKvs = d.prev_kv ? liveKvs(st.tree, iv) : [];
  const wt = new WriteTxn(st, batch);
  const victims = wt.liveKeysIn(iv);
  const answer = (): DeleteRangeResponse => ({ header: { revision: wt.rev() }, deleted: victims.length, prev_kvs: prevKvs });
  return deleteKeysThen(st, wt, victims, chunked, () => intervalCover(iv), answer);
}

/**
 * Deletes `keys` (live keys, in key order) through `wt`, then answers: at once when they fit in
 * one chunk, else a chunk per turn of the event loop while the reads `cover` touches wait.
 */
function deleteKeysThen<T>(
  st: MvccState,
  wt: WriteTxn,
  keys: readonly KeyStr[],
  chunked: ChunkedDeletes | undefined,
  cover: () => DeleteCover,
  answer: () => T,
): T | Promise<T> {
  if (!chunked || keys.length <= chunked.chunkKeys) {
    wt.deleteKeys(keys);
    return answer();
  }
  let next = 0;
  const step = (): boolean => {
    const end = Math.min(keys.length, next + chunked.chunkKeys);
    wt.deleteKeys(keys, next, end);
    next = end;
    return next < keys.length;
  };
  return chunked.run(cover(), st, wt.beginRev, step).then(answer);
}

export function applyLeaseGrant(st: MvccState, batch: ApplyBatch, g: LeaseGrantRequest): LeaseGrantResponse | EtcdError {
  const id = g.ID ?? 0n;
  const ttl = g.TTL ?? 0;
  const err = st.lessor.checkGrant(id, ttl);
  if (err) return err;
  const l = st.lessor.grant(id, ttl);
  batch.putLease(id, l.ttl);
  return { header: { revision: st.revision }, ID: id, TTL: l.ttl };
}

/**
 * Deletes the lease's keys in one revision, in key order (as etcd, so every member agrees); more
 * keys than `chunked` allows per turn are deleted in chunks, as a large delete_range's are, and
 * reads that touch one of them wait for the end (keysCover).
 */
export function applyLeaseRevoke(
  st: MvccState,
  batch: ApplyBatch,
  r: LeaseRevokeRequest,
  chunked?: ChunkedDeletes,
): LeaseRevokeResponse | EtcdError | Promise<LeaseRevokeResponse> {
  const l = st.lessor.remove(r.ID);
  if (!l) return Errors.leaseNotFound();
  batch.delLease(r.ID, l.ttl);
  const wt = new WriteTxn(st, batch);
  const keys = [...l.keys].sort();
  return deleteKeysThen(st, wt, keys, chunked, () => keysCover(keys), (): LeaseRevokeResponse => ({ header: { revision: st.revision } }));
}

/**
 * Moves the compacted revision and compacts the key index; returns the records to keep for the
 * physical compaction the store schedules once this batch is written.
 */
export function applyCompaction(
  st: MvccState,
  batch: ApplyBatch,
  c: CompactionRequest,
): { resp: CompactionResponse; keep: Set<string> } | EtcdError {
  const rev = c.revision ?? 0;
  if (rev <= st.compactMain) return Errors.compacted();
  if (rev > st.revision) return Errors.futureRev();
  st.compactMain = rev;
  const keep = compactIndex(st, rev);
  batch.ops.push({ type: 'put', key: META.compacted, value: encodeNumber(rev) });
  return { resp: { header: { revision: st.revision } }, keep };
}
