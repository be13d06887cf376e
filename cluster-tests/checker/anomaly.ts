// What the checkers report: one anomaly per violated property, with the operations and events that
// show it.

export type AnomalyType =
  /** A key's history has no linearization. */
  | 'not-linearizable'
  /** A read returned a value that no operation ever wrote. */
  | 'read-of-unwritten-value'
  /** A read saw a value with another mod_revision than the revision of the write that made it. */
  | 'read-revision-mismatch'
  /** Revisions contradict real time: an operation saw a revision older than one already returned. */
  | 'stale-revision'
  /** The same value was written at two revisions (a write applied twice). */
  | 'duplicate-apply'
  /** A watcher saw revisions out of order or twice. */
  | 'watch-order'
  /** A watcher missed an event of a committed write within the revisions it covered. */
  | 'watch-gap'
  /** An event matches no write of the history, or not the write of its value. */
  | 'watch-mismatch'
  /** Two watchers saw different events at one revision. */
  | 'watch-divergence'
  /** A revision that must exist (between two that were seen, or acknowledged) was seen by no watcher. */
  | 'revision-gap'
  /** A watcher never caught up with the final revision once the faults had healed. */
  | 'watch-incomplete'
  /** The cluster did not serve a linearizable read after every fault was healed. */
  | 'no-recovery'
  /** Once healed, two members' key-value histories up to the final revision differ (HashKV). */
  | 'member-divergence'
  /** The linearizability search gave up (too many configurations). */
  | 'inconclusive';

export interface Anomaly {
  type: AnomalyType;
  message: string;
  key?: string;
  /** Lines of history (operations, events) that show it. */
  excerpt?: string[];
}
