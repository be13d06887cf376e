// One watcher: what it watches (range, filters, prev_kv, progress_notify) and where it stands.
//
// A watcher is in exactly one of two groups:
// - synced: it has everything up to the hub's revision and gets live events from notify();
// - unsynced: it still needs the events from `nextRev` on, which the catch-up reads from history.
import { EventType, WatchFilterType, type Event, type WatchCreateRequest } from '../api.js';
import { rangeContains, rangeEnd, type KeyRange, type KeyString } from './key-range.js';
import type { WatchStream } from './watch-stream.js';

/**
 * `compacted`: canceled by a compaction but, as in etcd 3.4, its id stays taken in the stream until
 * the client cancels it (or the stream closes); it is in no group and gets nothing more.
 */
export type WatcherState = 'new' | 'synced' | 'unsynced' | 'compacted' | 'canceled';

export class Watcher {
  /** `new` until its created response is out and it has joined a group. */
  state: WatcherState = 'new';
  /**
   * Unsynced: the first revision not yet delivered. Synced: unused (a synced watcher implicitly
   * has everything up to the hub's revision).
   */
  nextRev = 0;
  /** progress_notify: no event was sent since the last progress tick (etcd's `progress[id]`). */
  idle = true;

  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly progressNotify: boolean;
  /** The client accepts a large response split into fragments (`fragment: true` on all but the last). */
  readonly fragment: boolean;
  /** Upper bound for the interval index (null = +infinity). */
  readonly end: KeyString | null;

  constructor(
    readonly id: number,
    readonly stream: WatchStream,
    readonly range: KeyRange,
    /** The first revision this watcher wants (a future one for a future start_revision). */
    readonly startRev: number,
    req: WatchCreateRequest,
  ) {
    const filters = req.filters ?? [];
    this.noPut = filters.includes(WatchFilterType.NOPUT);
    this.noDelete = filters.includes(WatchFilterType.NODELETE);
    this.prevKv = req.prev_kv === true;
    this.progressNotify = req.progress_notify === true;
    this.fragment = req.fragment === true;
    this.end = rangeEnd(range);
  }

  get start(): KeyString {
    return this.range.start;
  }

  contains(key: KeyString): boolean {
    return rangeContains(this.range, key);
  }

  /** False when a NOPUT / NODELETE filter drops the event. */
  accepts(ev: Event): boolean {
    return ev.type === EventType.DELETE ? !this.noDelete : !this.noPut;
  }
}
