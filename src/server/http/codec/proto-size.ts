// Protobuf sizes of the decoded requests, for etcd's two size limits: gRPC refuses a message over
// 2 MiB ("grpc: received message larger than max (N vs. 2097152)", N being this size), and etcd
// refuses a write whose Raft entry is over 1.5 MiB ("etcdserver: request is too large").
import type * as api from '../../../kv/api.js';

export function varintSize(n: number | bigint): number {
  if (typeof n === 'bigint') {
    if (n < 0n) return 10;
    let size = 1;
    while (n >= 128n) {
      n >>= 7n;
      size++;
    }
    return size;
  }
  if (n < 0) return 10;
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function bytesSize(b: Uint8Array | undefined, tagSize = 1): number {
  if (!b || b.length === 0) return 0;
  return tagSize + varintSize(b.length) + b.length;
}

function intSize(n: number | bigint | undefined): number {
  if (n === undefined || n === 0 || n === 0n) return 0;
  return 1 + varintSize(n);
}

function boolSize(b: boolean | undefined): number {
  return b ? 2 : 0;
}

function embedded(size: number, tagSize = 1): number {
  return tagSize + varintSize(size) + size;
}

export function rangeSize(r: api.RangeRequest): number {
  return (
    bytesSize(r.key) +
    bytesSize(r.range_end) +
    intSize(r.limit) +
    intSize(r.revision) +
    intSize(r.sort_order) +
    intSize(r.sort_target) +
    boolSize(r.serializable) +
    boolSize(r.keys_only) +
    boolSize(r.count_only) +
    intSize(r.min_mod_revision) +
    intSize(r.max_mod_revision) +
    intSize(r.min_create_revision) +
    intSize(r.max_create_revision)
  );
}

export function putSize(r: api.PutRequest): number {
  return bytesSize(r.key) + bytesSize(r.value) + intSize(r.lease) + boolSize(r.prev_kv) + boolSize(r.ignore_value) + boolSize(r.ignore_lease);
}

export function deleteRangeSize(r: api.DeleteRangeRequest): number {
  return bytesSize(r.key) + bytesSize(r.range_end) + boolSize(r.prev_kv);
}

function compareSize(c: api.Compare): number {
  return (
    intSize(c.result) +
    intSize(c.target) +
    bytesSize(c.key) +
    (c.version !== undefined ? 1 + varintSize(c.version) : 0) +
    (c.create_revision !== undefined ? 1 + varintSize(c.create_revision) : 0) +
    (c.mod_revision !== undefined ? 1 + varintSize(c.mod_revision) : 0) +
    (c.value !== undefined ? 1 + varintSize(c.value.length) + c.value.length : 0) +
    (c.lease !== undefined ? 1 + varintSize(c.lease) : 0) +
    bytesSize(c.range_end, 2)
  );
}

function requestOpSize(op: api.RequestOp): number {
  if ('request_range' in op) return embedded(rangeSize(op.request_range));
  if ('request_put' in op) return embedded(putSize(op.request_put));
  if ('request_delete_range' in op) return embedded(deleteRangeSize(op.request_delete_range));
  if ('request_txn' in op) return embedded(txnSize(op.request_txn));
  return 0;
}

export function txnSize(r: api.TxnRequest): number {
  let size = 0;
  for (const c of r.compare) size += embedded(compareSize(c));
  for (const op of r.success) size += embedded(requestOpSize(op));
  for (const op of r.failure) size += embedded(requestOpSize(op));
  return size;
}

/**
 * The size of the Raft entry etcd makes of a write request of `size` bytes: an InternalRaftRequest
 * with a RequestHeader (14 bytes with its ID, measured on etcd 3.4) and the request in a field.
 */
export function raftEntrySize(size: number): number {
  return 14 + embedded(size);
}
