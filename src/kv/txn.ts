// Applying a Txn as etcd 3.4's applierV3backend.Txn does:
//   1. every compare on the path, nested ones included, is evaluated against the state before the
//      txn (compareToPath), so a nested txn does not see the outer txn's writes in its compares;
//   2. the ops on that path are checked before anything is written: puts first (ignore_value /
//      ignore_lease need the key, a lease must exist), then ranges (revision neither future nor
//      compacted); a failed check fails the whole txn and changes nothing;
//   3. the ops run in order inside one write (one revision for all changes). A range reports the
//      old revision before the first change and the new one after, and sees earlier changes.
// Ranges at an explicit revision cannot see the txn's changes (they are all at a later revision),
// so they are read before the first change: execution itself is synchronous, no other reader
// ever sees half a txn.
import type { PutRequest, RangeRequest, RequestOp, ResponseOp, TxnRequest, TxnResponse } from './api.js';
import { applyCompares } from './compare.js';
import { EMPTY_BYTES, keyInterval, keyStr } from './bytes.js';
import { liveKvs, rangeAt, rangeLive, type RangeResult, type RecordFetcher } from './range.js';
import type { MvccState } from './state.js';
import { validateTxn } from './validate.js';
import { type ApplyBatch, WriteTxn } from './write-txn.js';
import { Errors, EtcdError } from '../util/errors.js';

type Path = Map<TxnRequest, boolean>;

function compareToPath(st: MvccState, t: TxnRequest, path: Path): void {
  const ok = applyCompares(st.tree, t.compare);
  path.set(t, ok);
  for (const op of (ok ? t.success : t.failure) ?? []) if ('request_txn' in op) compareToPath(st, op.request_txn, path);
}

/** The non-txn ops on the path, in order. */
function* pathOps(t: TxnRequest, path: Path): Generator<RequestOp> {
  for (const op of (path.get(t) ? t.success : t.failure) ?? []) {
    if ('request_txn' in op) yield* pathOps(op.request_txn, path);
    else yield op;
  }
}

/** etcd's checkRequestPut inside a txn: the key first, then the lease. */
function checkPut(st: MvccState, p: PutRequest): EtcdError | undefined {
  if ((p.ignore_value || p.ignore_lease) && !st.tree.get(keyStr(p.key))?.isLive()) return Errors.keyNotFound();
  if (p.lease !== undefined && p.lease !== 0n && !st.lessor.lookup(p.lease)) return Errors.leaseNotFound();
  return undefined;
}

/**
 * etcd's checkRequestRange. Its lower bound is compactMainRev, which is -1 before the first
 * compaction: a negative revision (otherwise "current") is "compacted" once anything was compacted.
 */
export function checkRangeRevision(st: MvccState, r: RangeRequest): EtcdError | undefined {
  const rev = r.revision ?? 0;
  if (rev === 0) return undefined;
  if (rev > st.revision) return Errors.futureRev();
  if (rev < st.compactMain) return Errors.compacted();
  return undefined;
}

function checkPath(st: MvccState, t: TxnRequest, path: Path): EtcdError | undefined {
  for (const op of pathOps(t, path)) {
    if ('request_put' in op) {
      const err = checkPut(st, op.request_put);
      if (err) return err;
    }
  }
  for (const op of pathOps(t, path)) {
    if ('request_range' in op) {
      const err = checkRangeRevision(st, op.request_range);
      if (err) return err;
    }
  }
  return undefined;
}

/** Reads the explicit-revision ranges of the path before the txn writes anything. */
async function readAhead(st: MvccState, t: TxnRequest, path: Path, fetch: RecordFetcher): Promise<Map<RangeRequest, RangeResult>> {
  const out = new Map<RangeRequest, RangeResult>();
  for (const op of pathOps(t, path)) {
    if (!('request_range' in op)) continue;
    const r = op.request_range;
    const rev = r.revision ?? 0;
    if (rev <= 0) continue;
    out.set(r, rev >= st.revision ? rangeLive(st.tree, r) : await rangeAt(st.tree, r, rev, fetch));
  }
  return out;
}

function execPut(st: MvccState, wt: WriteTxn, p: PutRequest): ResponseOp {
  const k = keyStr(p.key);
  const prev = p.prev_kv || p.ignore_value || p.ignore_lease ? st.tree.get(k)?.live() : undefined;
  // checkPut saw the key before the txn; only a from-key delete earlier in this txn (which etcd
  // 3.4's duplicate check lets through) can have removed it since. etcd panics there; this store
  // writes the empty value / no lease instead.
  const value = p.ignore_value ? (prev?.value ?? EMPTY_BYTES) : (p.value ?? EMPTY_BYTES);
  const lease = p.ignore_lease ? (prev?.lease ?? 0n) : (p.lease ?? 0n);
  const rev = wt.put(p.key, value, lease, k);
  return { response_put: p.prev_kv && prev ? { header: { revision: rev }, prev_kv: prev } : { header: { revision: rev } } };
}

function execTxn(st: MvccState, wt: WriteTxn, t: TxnRequest, path: Path, ahead: Map<RangeRequest, RangeResult>): TxnResponse {
  const succeeded = path.get(t) ?? false;
  const responses: ResponseOp[] = [];
  for (const op of (succeeded ? t.success : t.failure) ?? []) {
    if ('request_range' in op) {
      const r = op.request_range;
      const res = ahead.get(r) ?? rangeLive(st.tree, r);
      responses.push({ response_range: { header: { revision: wt.rev() }, ...res } });
    } else if ('request_put' in op) {
      responses.push(execPut(st, wt, op.request_put));
    } else if ('request_delete_range' in op) {
      const d = op.request_delete_range;
      const iv = keyInterval(d.key, d.range_end);
      const prevKvs = d.prev_kv ? liveKvs(st.tree, iv) : [];
      const deleted = wt.deleteRange(iv);
      responses.push({ response_delete_range: { header: { revision: wt.rev() }, deleted, prev_kvs: prevKvs } });
    } else if ('request_txn' in op) {
      // A nested txn's response has an empty header, as on etcd.
      const inner = execTxn(st, wt, op.request_txn, path, ahead);
      responses.push({ response_txn: inner });
    }
  }
  return { header: {}, succeeded, responses };
}

/**
 * A txn whose ops are all ranges, nested txns excluded (etcd's isTxnReadonly): it changes nothing,
 * so a member serves it from its own state instead of the log.
 */
export function isTxnReadOnly(t: TxnRequest): boolean {
  for (const op of t.success ?? []) if (!('request_range' in op)) return false;
  for (const op of t.failure ?? []) if (!('request_range' in op)) return false;
  return true;
}

/**
 * Whether a read-only txn may be answered without a linearizable read first: every range asks
 * for a serializable read. etcd 3.4 also counts a txn of compares only as serializable, so a
 * follower answers one from whatever it has applied; here such a txn is linearized: its answer
 * (succeeded or not) is a read, and nothing in it asked for a stale one.
 */
export function isTxnSerializable(t: TxnRequest): boolean {
  let ranges = 0;
  for (const op of [...(t.success ?? []), ...(t.failure ?? [])]) {
    if (!('request_range' in op) || !op.request_range.serializable) return false;
    ranges++;
  }
  return ranges > 0;
}

export async function applyTxn(st: MvccState, batch: ApplyBatch, fetch: RecordFetcher, t: TxnRequest): Promise<TxnResponse | EtcdError> {
  const invalid = validateTxn(t);
  if (invalid) return invalid;
  const path: Path = new Map();
  compareToPath(st, t, path);
  const err = checkPath(st, t, path);
  if (err) return err;
  let ahead: Map<RangeRequest, RangeResult>;
  try {
    ahead = await readAhead(st, t, path, fetch);
  } catch (e) {
    if (e instanceof EtcdError) return e;
    throw e;
  }
  const wt = new WriteTxn(st, batch);
  const resp = execTxn(st, wt, t, path, ahead);
  resp.header = { revision: wt.rev() };
  return resp;
}
