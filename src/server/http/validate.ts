// The request checks etcd's gRPC layer makes before a request reaches Raft (v3rpc/key.go). The
// front end runs them only where it must answer before the service does, so that its answers come
// in etcd's order: for a request over the 1.5 MiB Raft limit (etcd checks the request first, the
// size after), and for a txn holding an op with no request set (which the service's types cannot
// carry; etcd answers "key not found" for it).
import * as api from '../../kv/api.js';
import { Errors } from '../../util/errors.js';
import { EMPTY_OP } from './codec/decode.js';

export function checkPutRequest(r: api.PutRequest): void {
  if (r.key.length === 0) throw Errors.emptyKey();
  if (r.ignore_value && r.value !== undefined && r.value.length !== 0) throw Errors.valueProvided();
  if (r.ignore_lease && r.lease !== undefined && r.lease !== 0n) throw Errors.leaseProvided();
}

function checkRequestOp(op: api.RequestOp): void {
  if (op === EMPTY_OP) throw Errors.keyNotFound();
  if ('request_range' in op) {
    if (op.request_range.key.length === 0) throw Errors.emptyKey();
  } else if ('request_put' in op) {
    checkPutRequest(op.request_put);
  } else if ('request_delete_range' in op) {
    if (op.request_delete_range.key.length === 0) throw Errors.emptyKey();
  } else if ('request_txn' in op) {
    checkTxnRequest(op.request_txn);
  }
}

export function checkTxnRequest(r: api.TxnRequest): void {
  if (Math.max(r.compare.length, r.success.length, r.failure.length) > api.MAX_TXN_OPS) throw Errors.tooManyOps();
  for (const c of r.compare) if (c.key.length === 0) throw Errors.emptyKey();
  for (const op of r.success) checkRequestOp(op);
  for (const op of r.failure) checkRequestOp(op);
}

/** Whether the txn (or a txn nested in it) holds an op with no request set. */
export function hasEmptyOp(r: api.TxnRequest): boolean {
  for (const list of [r.success, r.failure]) {
    for (const op of list) {
      if (op === EMPTY_OP) return true;
      if ('request_txn' in op && hasEmptyOp(op.request_txn)) return true;
    }
  }
  return false;
}
