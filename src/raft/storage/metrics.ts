// Counters of the storage's durable writes, read by the runtime's /metrics and by benchmarks.

/** How many recent appends metrics.batchSizes keeps. */
export const BATCH_WINDOW = 256;

export interface StorageMetrics {
  /** fsync calls: one per synced write-ahead log record, two per snapshot file (file and directory). */
  fsyncs: number;
  /** Of the log's fsyncs, those that ran on the event loop's own thread (sync-placement.ts). */
  fsyncsInPlace: number;
  /** Log entries written (replaced entries count again). */
  entriesWritten: number;
  /** Bytes written: write-ahead log records and snapshot files. */
  bytesWritten: number;
  /** Duration of the last synced write (record and fdatasync), in milliseconds. */
  lastSyncMs: number;
  /** Total time spent in synced writes (log records and snapshot files), in milliseconds. */
  syncMsTotal: number;
  /** Entries per append for the most recent appends (oldest first, at most BATCH_WINDOW). */
  batchSizes: number[];
}

export function newMetrics(): StorageMetrics {
  return { fsyncs: 0, fsyncsInPlace: 0, entriesWritten: 0, bytesWritten: 0, lastSyncMs: 0, syncMsTotal: 0, batchSizes: [] };
}

export function recordBatchSize(metrics: StorageMetrics, size: number): void {
  if (metrics.batchSizes.length >= BATCH_WINDOW) metrics.batchSizes.shift();
  metrics.batchSizes.push(size);
}
