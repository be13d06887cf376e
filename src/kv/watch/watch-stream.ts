// One watch stream (a /v3/watch request or a WebSocket connection): its watchers and watch ids,
// its ordered outbound queue with backpressure, and its progress state.
//
// Responses reach the sink in the order they were queued. While the sink's last promise is
// pending, responses wait in the queue; when the queue holds `maxQueued` responses, watchers that
// get new events are moved to the unsynced group instead (the hub decides), so a slow client never
// holds up notify() or other streams, and never makes the queue grow without bound.
import type { Logger } from '../../util/log.js';
import type { Event, WatchCreateRequest, WatchRequest, WatchResponse } from '../api.js';
import { splitBySize } from './events.js';
import type { WatchSession, WatchSink } from '../../server/service.js';
import { StreamProgress, type ProgressTarget, type Timers } from './progress.js';
import type { Watcher } from './watcher.js';

/** What a stream needs from its hub. */
export interface StreamHost {
  readonly revision: number;
  header(): WatchResponse['header'];
  createWatcher(stream: WatchStream, req: WatchCreateRequest): void;
  /** Takes the watcher out of the synced or unsynced group (not out of the stream's map). */
  detachWatcher(w: Watcher): void;
  /** The stream's queue drained while some of its watchers are unsynced. */
  streamHasRoom(stream: WatchStream): void;
  streamClosed(stream: WatchStream): void;
}

export interface WatchStreamOptions {
  maxQueued: number;
  maxResponseBytes: number;
  progressIntervalMs: number;
  timers: Timers;
  logger: Logger;
}

export type CloseListener = (reason: unknown) => void;

export class WatchStream implements WatchSession, ProgressTarget {
  readonly watchers = new Map<number, Watcher>();
  /** Watchers of this stream in the unsynced group. */
  unsyncedCount = 0;
  readonly progress: StreamProgress;

  private nextId = 0;
  private queue: (WatchResponse | undefined)[] = [];
  private head = 0;
  /** The pump is running or waiting for the sink's promise. */
  private busy = false;
  private closedFlag = false;
  private readonly listeners: CloseListener[] = [];

  constructor(
    private readonly host: StreamHost,
    private readonly sink: WatchSink,
    private readonly opts: WatchStreamOptions,
  ) {
    this.progress = new StreamProgress(
      this,
      opts.timers,
      opts.progressIntervalMs,
      () => host.header(),
      () => host.revision,
    );
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Responses waiting for the sink. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  handle(req: WatchRequest): void {
    if (this.closedFlag || !req) return;
    if ('create_request' in req && req.create_request) {
      this.host.createWatcher(this, req.create_request);
    } else if ('cancel_request' in req && req.cancel_request) {
      this.cancel(Number(req.cancel_request.watch_id ?? 0));
    } else if ('progress_request' in req && req.progress_request) {
      this.progress.request();
    }
    // Anything else is ignored, as etcd does ("we probably should not shutdown the entire stream").
  }

  /** The client went away: drop every watcher, send nothing more. */
  close(reason?: unknown): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const w of this.watchers.values()) this.host.detachWatcher(w);
    this.watchers.clear();
    this.unsyncedCount = 0;
    this.progress.stop();
    this.queue = [];
    this.head = 0;
    this.host.streamClosed(this);
    for (const fn of this.listeners.splice(0)) {
      try {
        fn(reason);
      } catch (err) {
        this.opts.logger.warn({ err }, 'watch stream close listener threw');
      }
    }
  }

  /**
   * Called once when the stream closes: by close(), by the hub's close() (reason "hub closed"), or
   * because the sink threw or rejected (reason: that error). Lets a front end end its response.
   */
  onClosed(fn: CloseListener): void {
    if (this.closedFlag) fn(undefined);
    else this.listeners.push(fn);
  }

  /**
   * A watch id for a create: the client's own (non-zero) id, or the next free one counting from 0,
   * as etcd's watchStream.Watch does. Null when the client's id is in use.
   */
  allocateId(requested: number): number | null {
    if (requested !== 0) {
      return this.watchers.has(requested) ? null : requested;
    }
    while (this.watchers.has(this.nextId)) this.nextId++;
    return this.nextId++;
  }

  cancel(id: number): void {
    const w = this.watchers.get(id);
    // etcd answers nothing for an unknown id (watchStream.Cancel fails, no response is sent).
    if (!w) return;
    this.removeWatcher(w, { header: this.host.header(), watch_id: id, canceled: true, events: [] });
  }

  /**
   * Removes a watcher from the stream and from its group, sending `resp` (its cancel) first: the id is
   * free again when the client sees the cancel, and a deferred progress answer that the removal
   * releases comes after it.
   */
  removeWatcher(w: Watcher, resp?: WatchResponse): void {
    if (w.state === 'canceled') return;
    // (a `compacted` watcher is in no group any more; this frees its id)
    if (this.watchers.get(w.id) === w) this.watchers.delete(w.id);
    if (resp) this.enqueue(resp);
    this.host.detachWatcher(w);
  }

  forEachWatcher(fn: (w: Watcher) => void): void {
    for (const w of this.watchers.values()) fn(w);
  }

  hasRoom(): boolean {
    return this.queue.length - this.head < this.opts.maxQueued;
  }

  /** A watcher's events, in fragments when it asked for them and the message is too large (etcd's sendFragments). */
  send(w: Watcher, header: WatchResponse['header'], events: Event[]): void {
    if (w.fragment && events.length > 1) {
      const parts = splitBySize(events, this.opts.maxResponseBytes);
      if (parts.length > 1) {
        parts.forEach((part, i) => {
          const resp: WatchResponse = { header, watch_id: w.id, events: part };
          if (i < parts.length - 1) resp.fragment = true;
          this.enqueue(resp);
        });
        return;
      }
    }
    this.enqueue({ header, watch_id: w.id, events });
  }

  enqueue(resp: WatchResponse): void {
    if (this.closedFlag) return;
    this.queue.push(resp);
    if (!this.busy) this.pump();
  }

  private pump(): void {
    this.busy = true;
    while (this.head < this.queue.length) {
      if (this.closedFlag) return;
      const resp = this.queue[this.head]!;
      this.queue[this.head] = undefined;
      this.head++;
      let r: void | Promise<void>;
      try {
        r = this.sink(resp);
      } catch (err) {
        this.fail(err);
        return;
      }
      if (r !== undefined && typeof (r as Promise<void>).then === 'function') {
        this.compact();
        (r as Promise<void>).then(
          () => {
            if (this.closedFlag) return;
            this.pump();
          },
          (err: unknown) => this.fail(err),
        );
        return; // busy until the promise settles
      }
    }
    this.queue.length = 0;
    this.head = 0;
    this.busy = false;
    if (this.unsyncedCount > 0 && !this.closedFlag) this.host.streamHasRoom(this);
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private fail(err: unknown): void {
    if (this.closedFlag) return;
    this.opts.logger.warn({ err }, 'watch sink failed; closing the watch stream');
    this.close(err);
  }
}
