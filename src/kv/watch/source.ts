// What the watch hub needs from the MVCC store: the revision bounds and the history of events.
import type { Event } from '../api.js';

export interface WatchableSource {
  currentRevision(): number;
  /** Revisions below this are gone (0 when nothing was compacted). */
  compactedRevision(): number;
  /**
   * Every event with a revision in [from, to], in revision order (and in order within a txn), for
   * all keys; each PUT or DELETE with `prev_kv` set when `withPrevKv` (the key's value just before).
   * At most `limit` events; the caller asks again from the last revision it got (never split a revision
   * across calls: return whole revisions, possibly more than `limit` events for the last one).
   */
  events(from: number, to: number, limit: number, withPrevKv: boolean): Promise<Event[]>;
}
