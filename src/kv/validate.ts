// Request checks that need no state, as etcd's v3rpc layer does them before proposing (key.go:
// checkPutRequest, checkRangeRequest, checkDeleteRequest, checkTxnRequest, checkIntervals). They
// are pure so that the server can reject a bad request before it costs a Raft round, and the store
// runs them again when applying so that no malformed proposal can break its invariants (one change
// per key per revision relies on the duplicate-key rule).
import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from './api.js';
import { MAX_TXN_OPS } from './api.js';
import { intervalContains, keyInterval, keyStr, type KeyInterval, type KeyStr } from './bytes.js';
import { Errors, type EtcdError } from '../util/errors.js';

const isEmpty = (b: Uint8Array | undefined): boolean => b === undefined || b.length === 0;

export function validateRange(r: RangeRequest): EtcdError | undefined {
  if (isEmpty(r.key)) return Errors.emptyKey();
  return undefined;
}

export function validatePut(p: PutRequest): EtcdError | undefined {
  if (isEmpty(p.key)) return Errors.emptyKey();
  if (p.ignore_value && !isEmpty(p.value)) return Errors.valueProvided();
  if (p.ignore_lease && p.lease !== undefined && p.lease !== 0n) return Errors.leaseProvided();
  return undefined;
}

export function validateDeleteRange(d: DeleteRangeRequest): EtcdError | undefined {
  if (isEmpty(d.key)) return Errors.emptyKey();
  return undefined;
}

function validateOp(op: RequestOp, maxOps: number): EtcdError | undefined {
  if ('request_range' in op) return validateRange(op.request_range);
  if ('request_put' in op) return validatePut(op.request_put);
  if ('request_delete_range' in op) return validateDeleteRange(op.request_delete_range);
  if ('request_txn' in op) return checkTxn(op.request_txn, maxOps);
  return undefined;
}

/** etcd's checkTxnRequest: the op limit applies to compare, success and failure separately. */
function checkTxn(t: TxnRequest, maxOps: number): EtcdError | undefined {
  const compare = t.compare ?? [];
  const success = t.success ?? [];
  const failure = t.failure ?? [];
  if (Math.max(compare.length, success.length, failure.length) > maxOps) return Errors.tooManyOps();
  for (const c of compare) if (isEmpty(c.key)) return Errors.emptyKey();
  for (const op of success) {
    const err = validateOp(op, maxOps);
    if (err) return err;
  }
  for (const op of failure) {
    const err = validateOp(op, maxOps);
    if (err) return err;
  }
  return undefined;
}

class DuplicateKey extends Error {}

function intersects(dels: KeyInterval[], k: KeyStr): boolean {
  for (const iv of dels) if (intervalContains(iv, k)) return true;
  return false;
}

/**
 * etcd's checkIntervals: the keys one branch of a txn puts and the ranges it deletes. A key put
 * twice, or put and deleted, on the path a txn can take (this level plus nested txns) is a
 * duplicate; the same key in a nested txn's success and failure branches is fine (only one runs);
 * two deletes may overlap.
 *
 * As in etcd 3.4, a delete with range_end "\0" (every key from `key` on) becomes the interval
 * [key, "\0"), which is empty: such a delete conflicts with nothing, and a txn may delete from k
 * on and put k again (the key then gets a new generation within the one revision).
 */
function checkIntervals(reqs: RequestOp[]): { puts: Set<KeyStr>; dels: KeyInterval[] } {
  const dels: KeyInterval[] = [];
  for (const op of reqs) {
    if ('request_delete_range' in op) {
      const d = op.request_delete_range;
      const iv = keyInterval(d.key, d.range_end);
      if (iv.end !== null) dels.push(iv);
    }
  }
  const puts = new Set<KeyStr>();
  for (const op of reqs) {
    if (!('request_txn' in op)) continue;
    const t = op.request_txn;
    const then = checkIntervals(t.success ?? []);
    const els = checkIntervals(t.failure ?? []);
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, k)) throw new DuplicateKey();
      puts.add(k);
    }
    for (const k of els.puts) {
      if (puts.has(k) && !then.puts.has(k)) throw new DuplicateKey();
      if (intersects(dels, k)) throw new DuplicateKey();
      puts.add(k);
    }
    dels.push(...then.dels, ...els.dels);
  }
  for (const op of reqs) {
    if (!('request_put' in op)) continue;
    const k = keyStr(op.request_put.key);
    if (puts.has(k) || intersects(dels, k)) throw new DuplicateKey();
    puts.add(k);
  }
  return { puts, dels };
}

/**
 * Everything etcd checks about a txn before proposing it: too many operations (per list, at every
 * nesting level), empty keys, ignore_value/ignore_lease misuse, then duplicate keys in success and
 * in failure. Returns the error to answer, or undefined when the txn may be proposed.
 */
export function validateTxn(t: TxnRequest, maxOps: number = MAX_TXN_OPS): EtcdError | undefined {
  const err = checkTxn(t, maxOps);
  if (err) return err;
  try {
    checkIntervals(t.success ?? []);
    checkIntervals(t.failure ?? []);
  } catch (e) {
    if (e instanceof DuplicateKey) return Errors.duplicateKey();
    throw e;
  }
  return undefined;
}
