// The watch hub: etcd v3 watch semantics (3.4) over a WatchableSource.
//
// The store calls notify(events, revision) synchronously after each apply batch (restored(revision)
// after a snapshot replaced its state). notify()
// looks the events' keys up in the synced group's index (exact keys in a map, ranges in an interval
// tree), and queues one response per concerned watcher: live events go out one revision per
// message. A watcher whose stream is full (a slow client) moves to the unsynced group, which the
// catch-up loop (catch-up.ts) feeds from the store's history until it is current again. Watchers
// that start at a past revision begin in the unsynced group the same way.
//
// See ETCD-NOTES.md for the shapes: `created` first with the current revision; a compacted start
// gets `created`, then `{canceled, compact_revision}` with a header without revision; cancels echo
// the id; progress_request answers watch_id -1.
import { componentLogger, type Logger } from '../../util/log.js';
import { MAX_REQUEST_BYTES, type Event, type ResponseHeader, type WatchCreateRequest, type WatchResponse } from '../api.js';
import type { WatchSink } from '../../server/service.js';
import { CatchUp } from './catch-up.js';
import { eventRevision, lacksPrevKv, normalizeEvent, withoutPrevKv } from './events.js';
import { EmptyWatchRangeError, keyString, watchRange, type KeyRange } from './key-range.js';
import { realTimers, type Timers } from './progress.js';
import type { WatchableSource } from './source.js';
import { WatcherGroup } from './watcher-group.js';
import { Watcher } from './watcher.js';
import { WatchStream, type StreamHost } from './watch-stream.js';

export interface WatchHubOptions {
  /** The header fields other than revision (cluster_id, member_id, raft_term); called for each notify() and control response. */
  header?: () => Omit<ResponseHeader, 'revision'>;
  /** progress_notify period; etcd's default is 10 minutes. 0 disables the ticker. */
  progressIntervalMs?: number;
  /** Most events in one history-replay message (whole revisions are never split). Default 1000. */
  maxEventsPerResponse?: number;
  /**
   * Size bound (keys + values + prev_kvs) of a message: a replay message is cut (between revisions)
   * before it, and a watcher that asked for `fragment` gets larger messages in fragments, as etcd
   * does above its max request size. Default 1.5 MiB, etcd's.
   */
  maxResponseBytes?: number;
  /** Events per history read of the catch-up. Default 1000. */
  catchUpBatch?: number;
  /** Watchers served by one catch-up round (etcd: maxWatchersPerSync = 512). */
  maxWatchersPerSync?: number;
  /**
   * Responses a stream may hold while its sink's promise is pending before its watchers are moved
   * to the unsynced group (etcd: the watch stream's channel of 128).
   */
  maxQueuedResponses?: number;
  timers?: Partial<Timers>;
  logger?: Logger;
}

export interface WatchHubStats {
  watchers: number;
  syncedWatchers: number;
  unsyncedWatchers: number;
  sessions: number;
}

/** Running totals (for metrics and tests). */
export interface WatchHubCounters {
  /** Synced watchers moved to the unsynced group because their stream was full. */
  slowed: number;
  /** Unsynced watchers that caught up and joined the synced group. */
  rejoined: number;
  /** Watchers canceled because the history they needed was compacted. */
  compactedCancels: number;
  /** Synced watchers that want prev_kv sent to history for a delete whose previous values were not in memory. */
  prevFromHistory: number;
  /** History reads made by the catch-up. */
  historyReads: number;
  /** Events read from history by the catch-up. */
  historyEvents: number;
}

export const WATCH_RANGE_EMPTY = 'mvcc: watcher range is empty';
export const WATCH_DUPLICATE_ID = 'mvcc: duplicate watch ID provided on the WatchStream';

const noHeader = () => ({});

/** The given timer functions (bound to their object, which may be a class instance), the real ones for the rest. */
function withDefaults(t: Partial<Timers> | undefined): Timers {
  if (!t) return realTimers;
  return {
    setInterval: t.setInterval ? t.setInterval.bind(t) : realTimers.setInterval,
    clearInterval: t.clearInterval ? t.clearInterval.bind(t) : realTimers.clearInterval,
    setTimeout: t.setTimeout ? t.setTimeout.bind(t) : realTimers.setTimeout,
    clearTimeout: t.clearTimeout ? t.clearTimeout.bind(t) : realTimers.clearTimeout,
  };
}

export class WatchHub implements StreamHost {
  private rev: number;
  private closedFlag = false;
  private readonly synced = new WatcherGroup();
  private prevKvWatchers = 0;
  private readonly catchUp: CatchUp;
  private readonly sessions = new Set<WatchStream>();
  private readonly baseHeader: () => Omit<ResponseHeader, 'revision'>;
  private readonly timers: Timers;
  private readonly log: Logger;
  private readonly progressIntervalMs: number;
  private readonly maxQueued: number;
  private readonly maxResponseBytes: number;
  private readonly counts = { slowed: 0, rejoined: 0, compactedCancels: 0, prevFromHistory: 0 };

  constructor(
    private readonly source: WatchableSource,
    opts: WatchHubOptions = {},
  ) {
    this.rev = source.currentRevision();
    this.baseHeader = opts.header ?? noHeader;
    this.timers = withDefaults(opts.timers);
    this.log = opts.logger ?? componentLogger('kv.watch');
    this.progressIntervalMs = opts.progressIntervalMs ?? 600_000;
    this.maxQueued = Math.max(1, opts.maxQueuedResponses ?? 128);
    this.maxResponseBytes = Math.max(1, opts.maxResponseBytes ?? MAX_REQUEST_BYTES);
    this.catchUp = new CatchUp(
      this,
      source,
      {
        catchUpBatch: Math.max(1, opts.catchUpBatch ?? 1000),
        maxEventsPerResponse: Math.max(1, opts.maxEventsPerResponse ?? 1000),
        maxResponseBytes: this.maxResponseBytes,
        maxWatchersPerSync: Math.max(1, opts.maxWatchersPerSync ?? 512),
        timers: this.timers,
        logger: this.log,
      },
    );
  }

  /**
   * Whether some watcher asked for prev_kv (counted from its creation to its cancel): while none
   * did, the store leaves prev_kv out of the events it gives notify().
   */
  wantsPrevKv(): boolean {
    return this.prevKvWatchers > 0;
  }

  /** The last revision the hub was told about. */
  get revision(): number {
    return this.rev;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * The store applied revisions up to `revision`; `events` are their events in order (with prev_kv).
   * A batch may hold several revisions: each is delivered as its own message, as etcd does.
   * Synchronous and cheap: it only queues responses (sinks that are idle are called at once).
   */
  notify(events: Event[], revision: number): void {
    if (this.closedFlag) return;
    if (events.length > 1 && eventRevision(events[0]) !== eventRevision(events[events.length - 1])) {
      let i = 0;
      while (i < events.length) {
        const rev = eventRevision(events[i]);
        let j = i + 1;
        while (j < events.length && eventRevision(events[j]) === rev) j++;
        this.notifyRevision(events.slice(i, j), rev);
        i = j;
      }
      if (revision > this.rev) this.rev = revision;
      return;
    }
    this.notifyRevision(events, revision);
  }

  /** One revision's events. */
  private notifyRevision(events: Event[], revision: number): void {
    if (this.closedFlag) return;
    if (revision <= this.rev) {
      if (events.length > 0) this.log.warn({ revision, hubRevision: this.rev }, 'watch notify for an old revision ignored');
      return;
    }
    this.rev = revision;
    if (events.length === 0 || this.synced.size === 0) return;
    const header = this.header();
    const matches: Watcher[] = [];

    if (events.length === 1) {
      const ev = normalizeEvent(events[0]);
      this.synced.collect(keyString(ev.kv.key), matches);
      if (matches.length === 0) return;
      const full = [ev];
      const bare = withoutPrevKv(ev);
      const stripped = bare === ev ? full : [bare];
      const incomplete = lacksPrevKv(ev);
      for (const w of matches) {
        if (revision < w.startRev || !w.accepts(ev) || w.state !== 'synced') continue;
        if (w.prevKv && incomplete) this.fromHistory(w, revision);
        else this.deliverLive(w, w.prevKv ? full : stripped, header, revision);
      }
      return;
    }

    // A txn: several events in one revision; each watcher gets its own, in order, in one message.
    const evs = events.map(normalizeEvent);
    const bare: (Event | undefined)[] = new Array(evs.length);
    const perWatcher = new Map<Watcher, Event[]>();
    const incomplete = new Set<Watcher>();
    for (let i = 0; i < evs.length; i++) {
      const ev = evs[i];
      const evIncomplete = lacksPrevKv(ev);
      matches.length = 0;
      this.synced.collect(keyString(ev.kv.key), matches);
      for (const w of matches) {
        if (revision < w.startRev || !w.accepts(ev)) continue;
        let list = perWatcher.get(w);
        if (!list) perWatcher.set(w, (list = []));
        list.push(w.prevKv ? ev : (bare[i] ??= withoutPrevKv(ev)));
        if (w.prevKv && evIncomplete) incomplete.add(w);
      }
    }
    for (const [w, list] of perWatcher) {
      if (w.state !== 'synced') continue; // a sink called meanwhile canceled it
      if (incomplete.has(w)) this.fromHistory(w, revision);
      else this.deliverLive(w, list, header, revision);
    }
  }

  /**
   * A watcher that wants prev_kv met an event without it (a delete whose previous values were not
   * in memory): it reads this revision and what follows from history, which has them, and
   * rejoins the synced group when it is current, as a slow watcher does.
   */
  private fromHistory(w: Watcher, revision: number): void {
    this.counts.prevFromHistory++;
    this.toUnsynced(w, revision);
    this.catchUp.kick();
  }

  /**
   * The store's state was replaced by a snapshot (Raft InstallSnapshot) now at `revision`: the
   * revisions in between were never notified. Like etcd's watchableStore.Restore, every synced
   * watcher goes to the unsynced group from its next revision and is caught up from history (or
   * canceled with compact_revision if the snapshot's compaction took that history).
   */
  restored(revision: number): void {
    if (this.closedFlag) return;
    const next = this.rev + 1;
    const moved: Watcher[] = [];
    this.synced.forEach((w) => moved.push(w));
    for (const w of moved) this.toUnsynced(w, Math.max(next, w.startRev));
    this.rev = Math.max(this.rev, revision);
    if (moved.length > 0) this.catchUp.kick();
  }

  /** A new watch stream; its responses go to `sink`, in order. */
  openSession(sink: WatchSink): WatchStream {
    const stream = new WatchStream(this, sink, {
      maxQueued: this.maxQueued,
      maxResponseBytes: this.maxResponseBytes,
      progressIntervalMs: this.progressIntervalMs,
      timers: this.timers,
      logger: this.log,
    });
    if (this.closedFlag) stream.close('hub closed');
    else this.sessions.add(stream);
    return stream;
  }

  stats(): WatchHubStats {
    return {
      watchers: this.synced.size + this.catchUp.size,
      syncedWatchers: this.synced.size,
      unsyncedWatchers: this.catchUp.size,
      sessions: this.sessions.size,
    };
  }

  counters(): WatchHubCounters {
    return { ...this.counts, historyReads: this.catchUp.reads, historyEvents: this.catchUp.eventsRead };
  }

  /** Resolves once no catch-up round is in flight (tests, shutdown). */
  whenCatchUpIdle(): Promise<void> {
    return this.catchUp.whenIdle();
  }

  /** Closes every stream (their watchers are dropped, nothing more is sent) and stops the timers. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const s of [...this.sessions]) s.close('hub closed');
    this.sessions.clear();
    this.catchUp.stop();
  }

  // ---- internal: called by streams and the catch-up ----

  header(): WatchResponse['header'] {
    return { ...this.baseHeader(), revision: this.rev };
  }

  createWatcher(stream: WatchStream, req: WatchCreateRequest): void {
    let range: KeyRange;
    try {
      range = watchRange(req.key, req.range_end);
    } catch (err) {
      if (!(err instanceof EmptyWatchRangeError)) throw err;
      stream.enqueue(this.refused(WATCH_RANGE_EMPTY));
      return;
    }
    const id = stream.allocateId(Math.trunc(Number(req.watch_id ?? 0)) || 0);
    if (id === null) {
      stream.enqueue(this.refused(WATCH_DUPLICATE_ID));
      return;
    }
    const rev = this.rev;
    const requested = Math.trunc(Number(req.start_revision ?? 0)) || 0;
    const future = requested === 0 || requested > rev;
    const w = new Watcher(id, stream, range, requested === 0 ? rev + 1 : requested, req);
    if (w.prevKv) this.prevKvWatchers++;
    stream.watchers.set(id, w);
    stream.enqueue({ header: this.header(), watch_id: id, created: true, events: [] });
    if (w.progressNotify) stream.progress.watcherWantsProgress();
    if (stream.closed || w.state !== 'new') return; // the sink reacted to `created` by canceling it

    if (future) {
      // From now on, or from a revision still to come: live only.
      w.state = 'synced';
      this.synced.add(w);
      return;
    }
    // A past revision: replay from history (if it still exists), then go live.
    const compacted = this.source.compactedRevision();
    if (compacted > 0 && requested < compacted) {
      this.cancelCompacted(w, compacted);
      return;
    }
    // (a negative start, as in etcd, is "compacted" once anything was compacted, else all history)
    this.toUnsynced(w, Math.max(1, requested));
    this.catchUp.kick();
  }

  detachWatcher(w: Watcher): void {
    if (w.state === 'canceled') return;
    if (w.prevKv) this.prevKvWatchers--;
    if (w.state === 'synced') this.synced.remove(w);
    else if (w.state === 'unsynced') {
      this.catchUp.delete(w);
      this.unsyncedGone(w.stream);
    }
    w.state = 'canceled';
  }

  streamHasRoom(_stream: WatchStream): void {
    this.catchUp.kick();
  }

  streamClosed(stream: WatchStream): void {
    this.sessions.delete(stream);
  }

  /** Moves an unsynced watcher (current again) into the synced group. Synchronous: nothing can slip between. */
  toSynced(w: Watcher): void {
    if (w.state !== 'unsynced') return;
    this.catchUp.delete(w);
    w.state = 'synced';
    this.synced.add(w);
    this.counts.rejoined++;
    this.unsyncedGone(w.stream);
  }

  /** The compacted cancel: `{watch_id, canceled, compact_revision}`, header without revision (etcd). */
  cancelCompacted(w: Watcher, compactRev: number): void {
    if (w.state === 'compacted' || w.state === 'canceled') return;
    this.counts.compactedCancels++;
    const resp: WatchResponse = { header: { ...this.baseHeader() }, watch_id: w.id, canceled: true, compact_revision: compactRev, events: [] };
    const wasUnsynced = w.state === 'unsynced';
    if (wasUnsynced) this.catchUp.delete(w);
    else if (w.state === 'synced') this.synced.remove(w);
    w.state = 'compacted'; // its id stays taken until the client cancels it, as in etcd 3.4
    w.stream.enqueue(resp);
    // After the cancel: a deferred progress answer this releases must not overtake it.
    if (wasUnsynced) this.unsyncedGone(w.stream);
  }

  private toUnsynced(w: Watcher, nextRev: number): void {
    if (w.state === 'canceled' || w.state === 'compacted') return;
    if (w.state === 'synced') this.synced.remove(w);
    w.nextRev = nextRev;
    if (w.state !== 'unsynced') {
      w.state = 'unsynced';
      w.stream.unsyncedCount++;
    }
    this.catchUp.add(w);
  }

  private unsyncedGone(stream: WatchStream): void {
    stream.unsyncedCount--;
    if (stream.unsyncedCount === 0) stream.progress.allSynced();
  }

  private deliverLive(w: Watcher, events: Event[], header: ResponseHeader, revision: number): void {
    const stream = w.stream;
    if (!stream.hasRoom()) {
      // A slow client: catch this watcher up from history once its stream drains.
      this.counts.slowed++;
      this.toUnsynced(w, revision);
      return;
    }
    w.idle = false;
    stream.send(w, header, events);
  }

  /** etcd's answer to a create it refuses: created and canceled at once, watch_id -1. */
  private refused(reason: string): WatchResponse {
    return { header: this.header(), watch_id: -1, created: true, canceled: true, cancel_reason: reason, events: [] };
  }
}
