export { RaftStorage, type AppendBatch, type LoadedState, type RaftStorageOptions } from './raft-storage.js';
export * from './errors.js';
export type { StorageMetrics } from './metrics.js';
export type { SnapshotFailpoint } from './snapshot-file.js';
