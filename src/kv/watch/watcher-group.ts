// A group of watchers indexed by what they watch, so that finding the watchers of a key costs a
// map lookup plus a stabbing query over the distinct ranges, not a scan of every watcher.
// Used for the synced group (live events) and, per catch-up round, for the watchers being caught up.
import { IntervalIndex } from './interval-index.js';
import type { KeyString } from './key-range.js';
import type { Watcher } from './watcher.js';

export class WatcherGroup {
  /** Single-key watchers by key. */
  private readonly exact = new Map<KeyString, Set<Watcher>>();
  /** Prefix, range and from-key watchers. */
  private readonly ranges = new IntervalIndex<Watcher>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Distinct keys and ranges watched (for stats). */
  get distinctRanges(): number {
    return this.exact.size + this.ranges.intervals;
  }

  add(w: Watcher): void {
    if (w.range.kind === 'key') {
      let set = this.exact.get(w.start);
      if (!set) {
        set = new Set();
        this.exact.set(w.start, set);
      }
      if (set.has(w)) return;
      set.add(w);
    } else {
      const before = this.ranges.size;
      this.ranges.add(w.start, w.end, w);
      if (this.ranges.size === before) return;
    }
    this.count++;
  }

  remove(w: Watcher): boolean {
    let removed: boolean;
    if (w.range.kind === 'key') {
      const set = this.exact.get(w.start);
      removed = set !== undefined && set.delete(w);
      if (removed && set!.size === 0) this.exact.delete(w.start);
    } else {
      removed = this.ranges.remove(w.start, w.end, w);
    }
    if (removed) this.count--;
    return removed;
  }

  forEach(fn: (w: Watcher) => void): void {
    for (const set of this.exact.values()) for (const w of set) fn(w);
    this.ranges.forEachItem(fn);
  }

  /** Appends every watcher whose range contains `key` to `out`. */
  collect(key: KeyString, out: Watcher[]): void {
    const set = this.exact.get(key);
    if (set) for (const w of set) out.push(w);
    if (this.ranges.size > 0) {
      this.ranges.forEachContaining(key, (items) => {
        for (const w of items) out.push(w);
      });
    }
  }
}
