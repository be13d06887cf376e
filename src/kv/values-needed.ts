// Which live values an apply may read. An apply runs synchronously (a txn's reads see its own
// writes), so the values it needs that the value cache does not hold are loaded before it starts:
// the previous value of a key it puts when the put asks for it (prev_kv, ignore_value,
// ignore_lease) or the events carry prev_kv (a watcher wants it), the previous values
// of the keys a delete removes when the request asks for them (prev_kv), compares on VALUE, and
// the answers of a txn's ranges. Both branches of a txn count, whichever runs: the list may be
// longer than what the apply reads, never shorter (a value missing there is a bug the key index
// reports). The values of keys deleted without prev_kv are not loaded: their events go out without
// prev_kv, and the watch hub catches a watcher that wants it up from history.
import type { DeleteRangeRequest, PutRequest, RequestOp, TxnRequest } from './api.js';
import { CompareTarget } from './api.js';
import { keyInterval, keyStr } from './bytes.js';
import type { KeyIndex } from './key-index.js';
import { rangeReadsValues } from './range.js';
import type { InternalRequest } from './request-codec.js';
import type { MvccState } from './state.js';

/**
 * Live keys whose values applying `req` may read and that are not in memory, each once.
 * `eventPrevKv`: whether the batch's events carry prev_kv (ApplyBatch.eventPrevKv).
 */
export function valuesNeeded(st: MvccState, req: InternalRequest, eventPrevKv: boolean): KeyIndex[] {
  const out = new Set<KeyIndex>();
  const need = (ki: KeyIndex | undefined) => {
    if (ki && !ki.hasValue()) out.add(ki);
  };
  const key = (k: Uint8Array | undefined) => {
    if (k) need(st.tree.get(keyStr(k)));
  };
  const range = (k: Uint8Array | undefined, end: Uint8Array | undefined) => {
    if (k) st.tree.visit(keyInterval(k, end), (_s, ki) => need(ki));
  };
  const put = (p: PutRequest) => {
    if (eventPrevKv || p.prev_kv || p.ignore_value || p.ignore_lease) key(p.key);
  };
  const deleted = (d: DeleteRangeRequest) => {
    if (d.prev_kv) range(d.key, d.range_end);
  };
  const ops = (list: RequestOp[] | undefined) => {
    for (const op of list ?? []) {
      if ('request_range' in op) {
        if (rangeReadsValues(op.request_range)) range(op.request_range.key, op.request_range.range_end);
      } else if ('request_put' in op) put(op.request_put);
      else if ('request_delete_range' in op) deleted(op.request_delete_range);
      else if ('request_txn' in op) txn(op.request_txn);
    }
  };
  const txn = (t: TxnRequest) => {
    for (const c of t.compare ?? []) if (c.target === CompareTarget.VALUE) range(c.key, c.range_end);
    ops(t.success);
    ops(t.failure);
  };
  if ('put' in req) put(req.put);
  else if ('delete_range' in req) deleted(req.delete_range);
  else if ('txn' in req) txn(req.txn);
  // A lease revoke's deletes have no prev_kv to answer: nothing to load.
  return [...out];
}
