// The unsynced group and the loop that catches its watchers up from history (etcd's
// syncWatchersLoop), without blocking notify() or the synced watchers.
//
// A round: cancel the watchers whose next revision was compacted, move those that are already
// current to the synced group, then pick the watchers whose stream has room, read one batch of
// history [from, to] with `to` = the current revision, hand each watcher its events (whole
// revisions, at most maxEventsPerResponse per message), and advance its next revision to the end
// of what the batch covered. A watcher whose next revision is then past the hub's revision joins
// the synced group in the same synchronous step: events that arrived through notify() while the
// read was in flight are above `to`, and are read by the next round, so none is missed or doubled.
import type { Logger } from '../../util/log.js';
import type { Event, WatchResponse } from '../api.js';
import { chunkByRevision, eventRevision, normalizeEvent, withoutPrevKv } from './events.js';
import { keyString } from './key-range.js';
import type { Timers } from './progress.js';
import type { WatchableSource } from './source.js';
import { WatcherGroup } from './watcher-group.js';
import type { Watcher } from './watcher.js';

export interface CatchUpHost {
  readonly revision: number;
  readonly closed: boolean;
  header(): WatchResponse['header'];
  toSynced(w: Watcher): void;
  cancelCompacted(w: Watcher, compactRev: number): void;
}

export interface CatchUpOptions {
  catchUpBatch: number;
  maxEventsPerResponse: number;
  maxResponseBytes: number;
  maxWatchersPerSync: number;
  timers: Timers;
  logger: Logger;
}

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 5000;

export class CatchUp {
  /** The unsynced group, in round-robin order (a watcher served in a round goes to the back). */
  readonly watchers = new Set<Watcher>();
  private running = false;
  private kicked = false;
  private retryHandle: unknown = undefined;
  private retryMs = RETRY_MIN_MS;
  private idleWaiters: (() => void)[] = [];
  /** Reads done and events read (counters). */
  reads = 0;
  eventsRead = 0;

  constructor(
    private readonly host: CatchUpHost,
    private readonly source: WatchableSource,
    private readonly opts: CatchUpOptions,
  ) {}

  get size(): number {
    return this.watchers.size;
  }

  add(w: Watcher): void {
    this.watchers.add(w);
  }

  delete(w: Watcher): boolean {
    return this.watchers.delete(w);
  }

  /** Something changed (a new unsynced watcher, a stream with room again): run a round soon. */
  kick(): void {
    if (this.host.closed) return;
    if (this.running) {
      this.kicked = true;
      return;
    }
    if (this.watchers.size === 0) return;
    this.running = true;
    this.kicked = false;
    // Start on a microtask: kick() is called from inside notify()/handle(), which must not run a round.
    queueMicrotask(() => void this.loop());
  }

  /** Resolves when no round is running (for tests and shutdown). */
  whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    if (this.retryHandle !== undefined) {
      this.opts.timers.clearTimeout(this.retryHandle);
      this.retryHandle = undefined;
    }
    this.watchers.clear();
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        if (this.host.closed) break;
        this.kicked = false;
        const progressed = await this.round();
        if (!progressed && !this.kicked) break;
      }
    } catch (err) {
      // round() handles the source's errors itself; this is a bug, but must not kill the hub.
      this.opts.logger.error({ err }, 'watch catch-up failed');
      this.retryLater();
    } finally {
      this.running = false;
      for (const fn of this.idleWaiters.splice(0)) fn();
    }
  }

  /** One round; true when some watcher advanced (another round may be useful). */
  private async round(): Promise<boolean> {
    const compacted = this.source.compactedRevision();
    const cur = Math.min(this.host.revision, this.source.currentRevision());

    // Pass 1: compacted ones out, current ones to the synced group, the rest by eligibility.
    let head: Watcher | undefined;
    for (const w of this.watchers) {
      if (w.nextRev < compacted) {
        this.host.cancelCompacted(w, compacted);
        continue;
      }
      if (w.nextRev > this.host.revision) {
        this.host.toSynced(w);
        continue;
      }
      if (head === undefined && w.nextRev <= cur && w.stream.hasRoom()) head = w;
    }
    if (head === undefined) {
      // Nothing can be read now: either every stream is full (each will kick when it drains), or the
      // source is behind the hub's revision (retry shortly).
      for (const w of this.watchers) {
        if (w.nextRev > cur && w.stream.hasRoom()) {
          this.retryLater();
          break;
        }
      }
      return false;
    }

    // The round serves the least recently served eligible watcher (`head`) and every other eligible
    // watcher at or after its position, so one far-behind watcher does not hold the others back.
    const from = Math.max(1, head.nextRev);
    const batch: Watcher[] = [];
    let withPrevKv = false;
    for (const w of this.watchers) {
      if (w.nextRev < from || w.nextRev > cur || !w.stream.hasRoom()) continue;
      batch.push(w);
      if (w.prevKv) withPrevKv = true;
      if (batch.length >= this.opts.maxWatchersPerSync) break;
    }
    if (batch.length === 0) return false; // (cannot happen: head qualifies)

    const limit = this.opts.catchUpBatch;
    let events: Event[];
    try {
      this.reads++;
      events = await this.source.events(from, cur, limit, withPrevKv);
    } catch (err) {
      if (this.host.closed) return false;
      if (this.source.compactedRevision() > from) return true; // the next round cancels them
      this.opts.logger.warn({ err, from, to: cur }, 'watch catch-up: history read failed; retrying');
      this.retryLater();
      return false;
    }
    if (this.host.closed) return false;
    this.retryMs = RETRY_MIN_MS;
    this.eventsRead += events.length;

    // What the read covered: everything up to `cur` when it returned fewer than `limit` events, else
    // up to the last (whole) revision it returned.
    const covered = events.length < limit ? cur : Math.min(cur, eventRevision(events[events.length - 1]));

    // Which batch watchers does each event concern? Index them like the synced group.
    const index = new WatcherGroup();
    for (const w of batch) if (w.state === 'unsynced') index.add(w);
    const perWatcher = new Map<Watcher, Event[]>();
    const matches: Watcher[] = [];
    for (let i = 0; i < events.length; i++) {
      const ev = normalizeEvent(events[i]);
      const rev = eventRevision(ev);
      if (rev > covered) break;
      matches.length = 0;
      index.collect(keyString(ev.kv.key), matches);
      if (matches.length === 0) continue;
      let bare: Event | undefined;
      for (const w of matches) {
        if (rev < w.nextRev || !w.accepts(ev)) continue;
        let list = perWatcher.get(w);
        if (!list) perWatcher.set(w, (list = []));
        list.push(w.prevKv ? ev : (bare ??= withoutPrevKv(ev)));
      }
    }

    const header = this.host.header();
    for (const w of batch) {
      if (w.state !== 'unsynced' || w.nextRev > covered) continue;
      const evs = perWatcher.get(w);
      if (evs) {
        w.idle = false;
        for (const chunk of chunkByRevision(evs, this.opts.maxEventsPerResponse, this.opts.maxResponseBytes)) {
          w.stream.send(w, header, chunk);
        }
      }
      // enqueue() may have run the sink, which may have canceled this watcher.
      if (w.state !== 'unsynced') continue;
      w.nextRev = covered + 1;
      if (w.nextRev > this.host.revision) {
        this.host.toSynced(w);
      } else {
        // Round robin: to the back of the group.
        this.watchers.delete(w);
        this.watchers.add(w);
      }
    }
    return true;
  }

  private retryLater(): void {
    if (this.retryHandle !== undefined || this.host.closed) return;
    const ms = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    this.retryHandle = this.opts.timers.setTimeout(() => {
      this.retryHandle = undefined;
      this.kick();
    }, ms);
  }
}
