// Flotilla's client library for kvd (and etcd 3.4): see docs/client.md.
export { Client, type ClientOptions, type CallOptions, type WriteOptions, type GetOptions, type PutOptions, type DeleteOptions } from './client.js';
export { ClientError, CompactedError, ErrorMessages, GrpcCode, isClientError, type ClientErrorKind } from './errors.js';
export { Compare, Op, TxnBuilder, type CommitOptions, type CompareOp, type TxnCompare, type TxnOp } from './txn.js';
export { Watcher, type WatchOptions } from './watch.js';
export { KeepAlive, type KeepAliveOptions } from './lease.js';
export { REFUSED_BEFORE_PROPOSAL, decide, type Decision, type Failure } from './retry.js';
export { keyRange, leaseHex, prefixEnd, toBytes, toId, toText, type Bytes, type RangeSpec } from './bytes.js';
export { parseEndpoint, type ClientTls } from './transport.js';
export type { SortOrderName, SortTargetName } from './codec.js';
export * from './types.js';
export { Session, Mutex, Election, ConcurrencyError, type SessionOptions, type LockOptions, type ElectionCallOptions } from './concurrency/index.js';
