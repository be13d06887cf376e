// The in-memory state of the store, replaced as a whole by a snapshot restore: the key index (with
// the cached live values), the lease table, and the revision counters.
import type { AlarmMember } from './api.js';
import type { Lessor } from './lease/lessor.js';
import { TreeIndex } from './tree-index.js';
import { ValueCache } from './value-cache.js';

export class MvccState {
  readonly tree = new TreeIndex();
  /** The store revision: that of the last write. An empty etcd store is at revision 1. */
  revision = 1;
  /**
   * The compacted revision as etcd's compactMainRev: -1 until the first compaction (so that, as
   * on etcd, compacting at 0 succeeds once on a fresh store).
   */
  compactMain = -1;
  /** The alarms raised (alarms.ts): replicated state, like the revision. */
  alarms: AlarmMember[] = [];
  /** Live keys (the tree also holds deleted keys whose history is not compacted yet). */
  liveKeys = 0;

  readonly values: ValueCache;

  /**
   * The lessor outlives a restore (it carries this member's leadership); its table is reset.
   * `valueBudget`: bytes of live values kept in memory (Infinity: all).
   */
  constructor(
    readonly lessor: Lessor,
    valueBudget = Infinity,
  ) {
    this.values = new ValueCache(valueBudget);
  }

  /** Revisions below this are gone; 0 when nothing was compacted. */
  compactedRevision(): number {
    return Math.max(0, this.compactMain);
  }
}
