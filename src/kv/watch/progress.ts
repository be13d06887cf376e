// Progress: the periodic progress_notify responses and the answers to progress_request.
//
// etcd 3.4 (v3rpc sendLoop): every `progressReportInterval` (10 min) each progress_notify watcher
// that was sent no event since the previous tick gets an empty response with its watch_id and the
// current revision, if it is synced (watchableStore.progress). Watchers whose start revision lies
// in the future get none (etcd #20229, backported to 3.4), because the revision would be below
// the one they asked for.
//
// A progress_request gets `{watch_id: -1, header.revision: current}`, sent only when every watcher
// of the stream is synced (etcd #15237: otherwise the revision could run ahead of events still to
// be sent); when some are still catching up, the answer is deferred until they all are.
import type { WatchResponse } from '../api.js';

/** The timer functions the hub uses; injectable for tests. */
export interface Timers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setInterval: (fn, ms) => {
    const h = setInterval(fn, ms);
    h.unref?.();
    return h;
  },
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
  setTimeout: (fn, ms) => {
    const h = setTimeout(fn, ms);
    h.unref?.();
    return h;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** What the progress logic needs from a stream. */
export interface ProgressTarget {
  readonly unsyncedCount: number;
  forEachWatcher(fn: (w: ProgressWatcher) => void): void;
  hasRoom(): boolean;
  enqueue(resp: WatchResponse): void;
}

export interface ProgressWatcher {
  readonly id: number;
  readonly progressNotify: boolean;
  readonly state: string;
  readonly startRev: number;
  idle: boolean;
}

/** One stream's progress state: its ticker (started with its first progress_notify watcher) and a deferred progress_request. */
export class StreamProgress {
  private handle: unknown = undefined;
  private deferred = false;

  constructor(
    private readonly target: ProgressTarget,
    private readonly timers: Timers,
    private readonly intervalMs: number,
    private readonly header: () => WatchResponse['header'],
    private readonly revision: () => number,
  ) {}

  /** A progress_notify watcher was created: make sure the ticker runs. */
  watcherWantsProgress(): void {
    if (this.handle === undefined && this.intervalMs > 0) {
      this.handle = this.timers.setInterval(() => this.tick(), this.intervalMs);
    }
  }

  /** One tick of the progress timer (etcd's progressTicker case). */
  tick(): void {
    const rev = this.revision();
    let header: WatchResponse['header'] | undefined;
    this.target.forEachWatcher((w) => {
      if (!w.progressNotify) return;
      if (w.idle && w.state === 'synced' && w.startRev <= rev + 1 && this.target.hasRoom()) {
        header ??= this.header();
        this.target.enqueue({ header, watch_id: w.id, events: [] });
      }
      w.idle = true;
    });
  }

  /** A progress_request: answer now when every watcher is synced, else once they are. */
  request(): void {
    if (this.target.unsyncedCount === 0) this.answer();
    else this.deferred = true;
  }

  /** The stream's last unsynced watcher became synced or went away. */
  allSynced(): void {
    if (this.deferred) {
      this.deferred = false;
      this.answer();
    }
  }

  stop(): void {
    if (this.handle !== undefined) {
      this.timers.clearInterval(this.handle);
      this.handle = undefined;
    }
    this.deferred = false;
  }

  private answer(): void {
    this.target.enqueue({ header: this.header(), watch_id: -1, events: [] });
  }
}
