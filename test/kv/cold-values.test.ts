// The store's suites again with a value cache of 0 bytes: after every apply every live value is
// dropped from memory, so each read, compare, prev_kv, event and txn below finds its values through
// the records in LevelDB (or the writes not yet there), as a store much larger than its cache does.
import { setDefaultValueCacheBytes } from './helpers.js';

setDefaultValueCacheBytes(0);
await import('./mvcc.test.js');
await import('./txn.test.js');
await import('./events.test.js');
await import('./lease.test.js');
await import('./compaction.test.js');
await import('./durability.test.js');
