// The watch hub: etcd v3 watch semantics over the MVCC store's history.
export { WatchHub, WATCH_DUPLICATE_ID, WATCH_RANGE_EMPTY, type WatchHubCounters, type WatchHubOptions, type WatchHubStats } from './watch-hub.js';
export { WatchStream, type CloseListener } from './watch-stream.js';
export type { WatchableSource } from './source.js';
export type { Timers } from './progress.js';
