// The replicated key/value state machine (etcd v3 semantics). See kv-store.ts.
export { KvStore, type KvStoreOptions, type AppliedListener, type RestoredListener } from './kv-store.js';
export { encodeRequest, decodeRequest, RequestDecodeError, type InternalRequest } from './request-codec.js';
export { validateTxn, validatePut, validateRange, validateDeleteRange } from './validate.js';
export { Lessor, DEFAULT_MIN_LEASE_TTL, type LessorOptions, type LeaseTimeToLive } from './lease/lessor.js';
export { KvCorruptError } from './record-codec.js';
export { isRaised, txnHasPut } from './alarms.js';
export { isTxnReadOnly, isTxnSerializable } from './txn.js';
