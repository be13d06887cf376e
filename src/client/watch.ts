// Watches: one WebSocket per watcher (kvd and etcd 3.4's gateway both serve /v3/watch over
// WebSocket), resumed on another member after any failure from the revision after the last one
// delivered, so that the caller sees every revision once, in order.
//
// The resume point (`nextRevision`) is:
// - the start revision asked for, or, without one, the created answer's header revision + 1;
// - after a message with events, the last event's mod_revision + 1 (a revision's events always
//   come in one message);
// - after a progress notification (a message without events), its header revision + 1: the
//   server sends one only when every event up to that revision has been sent.
// Events below the resume point (a duplicate after a resume) are dropped.
//
// A dead member is noticed at once when its connection drops (kill -9 closes the sockets); a hung
// one by the heartbeat: every `heartbeatMs` without a message the watcher sends a WebSocket ping
// and a progress request, and gives the connection up after another `heartbeatMs` of silence.
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import type { Logger } from '../util/log.js';
import { b64, keyRange, type Bytes, type RangeSpec } from './bytes.js';
import { decodeEvent, decodeHeader, num, type Json } from './codec.js';
import { ClientError, CompactedError, GrpcCode } from './errors.js';
import type { EndpointPool } from './endpoints.js';
import type { ClientTls, Endpoint } from './transport.js';
import type { WatchResponse } from './types.js';

export interface WatchOptions extends RangeSpec {
  /** Deliver events from this revision on (it may lie in the past: history is replayed). */
  startRevision?: number;
  /** Include each event's previous key-value. */
  prevKv?: boolean;
  filters?: ('NOPUT' | 'NODELETE')[];
  /** Ask for the server's periodic progress notifications, and deliver them (as responses without events). */
  progressNotify?: boolean;
  /** Cancels the watch. */
  signal?: AbortSignal;
}

/** What a watcher needs from its client. */
export interface WatchHost {
  readonly pool: EndpointPool;
  readonly log: Logger;
  readonly dialTimeoutMs: number;
  readonly heartbeatMs: number;
  /** For https:// endpoints (the stream is then wss://). */
  readonly tls?: ClientTls;
  track(c: { close(): void }): void;
  untrack(c: { close(): void }): void;
  endpointFailed(ep: Endpoint): void;
}

/** Past this many undelivered responses the watcher stops reading from its socket. */
const HIGH_WATER = 1000;
const LOW_WATER = 100;

export interface Watcher {
  on(event: 'connected', fn: (endpoint: string, revision: number) => void): this;
  on(event: 'disconnected', fn: (endpoint: string, reason: Error) => void): this;
  once(event: 'connected', fn: (endpoint: string, revision: number) => void): this;
  once(event: 'disconnected', fn: (endpoint: string, reason: Error) => void): this;
}

/**
 * An async iterable of watch responses (each with the events of one or more revisions). Iterating
 * ends after `cancel()` (or `break`); it throws CompactedError when the start or resume revision
 * was compacted. Events: 'connected' (endpoint, created revision), 'disconnected' (endpoint, reason).
 */
export class Watcher extends EventEmitter implements AsyncIterable<WatchResponse> {
  readonly key: Uint8Array;
  readonly rangeEnd: Uint8Array | undefined;
  private nextRev: number | undefined;
  private readonly queue: WatchResponse[] = [];
  private error: Error | undefined;
  private ended = false;
  private wake: (() => void) | undefined;
  private ws: WebSocket | undefined;
  private readonly readyPromise: Promise<number>;
  private resolveReady!: (rev: number) => void;
  private rejectReady!: (e: Error) => void;
  private isReady = false;
  private stopPause: (() => void) | undefined;
  private readonly onAbort = (): void => this.cancel();

  constructor(
    private readonly host: WatchHost,
    key: Bytes,
    private readonly opts: WatchOptions = {},
  ) {
    super();
    const r = keyRange(key, opts);
    this.key = r.key;
    this.rangeEnd = r.range_end;
    if (opts.startRevision !== undefined && opts.startRevision > 0) this.nextRev = opts.startRevision;
    this.readyPromise = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.readyPromise.catch(() => undefined);
    host.track(this);
    if (opts.signal?.aborted) {
      this.finish();
      return;
    }
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
    void this.run();
  }

  /** Resolves with the revision at which the watch was first established (events after it follow). */
  ready(): Promise<number> {
    return this.readyPromise;
  }

  /** The revision the watch would resume from (undefined until it is established). */
  get nextRevision(): number | undefined {
    return this.nextRev;
  }

  /** Stops the watch; iteration ends after the responses already received. */
  cancel(): void {
    this.finish();
  }

  /** Same as cancel() (the client calls it when it closes). */
  close(): void {
    this.finish();
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchResponse> {
    return {
      next: () => this.next(),
      return: async () => {
        this.cancel();
        return { done: true, value: undefined };
      },
    };
  }

  private async next(): Promise<IteratorResult<WatchResponse>> {
    for (;;) {
      const v = this.queue.shift();
      if (v !== undefined) {
        if (this.queue.length < LOW_WATER && this.ws?.isPaused) this.ws.resume();
        return { value: v, done: false };
      }
      if (this.error) {
        const e = this.error;
        this.error = undefined;
        this.ended = true;
        throw e;
      }
      if (this.ended) return { value: undefined, done: true };
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private finish(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    if (err) this.error = err;
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.host.untrack(this);
    const ws = this.ws;
    this.ws = undefined;
    // No close handshake: it could leave a timer waiting on a hung member.
    ws?.terminate();
    if (!this.isReady) this.rejectReady(err ?? new ClientError('Canceled', GrpcCode.Canceled, 'watch canceled before it was established'));
    this.stopPause?.();
    this.notify();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.ended) {
      const ep = this.host.pool.current();
      let established = false;
      let reason: Error;
      try {
        reason = await this.connect(ep, () => {
          established = true;
          failures = 0;
        });
      } catch (e) {
        this.finish(e as Error);
        return;
      }
      if (this.ended) return;
      this.host.log.debug({ endpoint: ep.url, err: reason.message, next: this.nextRev }, 'watch: connection lost; resuming elsewhere');
      this.emit('disconnected', ep.url, reason);
      this.host.endpointFailed(ep);
      if (!established) {
        failures++;
        if (failures >= this.host.pool.size()) {
          if (failures % (this.host.pool.size() * 5) === 0) this.host.log.warn({ err: reason.message }, 'watch: no endpoint answers; still trying');
          await this.pause(Math.min(1000, 25 * 2 ** Math.min(failures, 6)));
        }
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(t);
        self.stopPause = undefined;
        resolve();
      }
      this.stopPause = done;
    });
  }

  private createRequest(): Json {
    const c: Json = { key: b64(this.key) };
    if (this.rangeEnd) c.range_end = b64(this.rangeEnd);
    if (this.nextRev !== undefined) c.start_revision = String(this.nextRev);
    if (this.opts.progressNotify) c.progress_notify = true;
    if (this.opts.filters?.length) c.filters = this.opts.filters;
    if (this.opts.prevKv) c.prev_kv = true;
    return { create_request: c };
  }

  /** One connection: resolves with the reason it ended, rejects on what ends the watch (compaction, cancel by the server). */
  private connect(ep: Endpoint, onCreated: () => void): Promise<Error> {
    return new Promise((resolve, reject) => {
      const tls = this.host.tls;
      const ws = new WebSocket(`${ep.tls ? 'wss' : 'ws'}${ep.url.slice(ep.url.indexOf(':'))}/v3/watch`, {
        perMessageDeflate: false,
        handshakeTimeout: this.host.dialTimeoutMs,
        ...(ep.tls ? { ca: tls?.ca, cert: tls?.cert, key: tls?.key, rejectUnauthorized: tls?.insecureSkipVerify !== true } : {}),
      });
      this.ws = ws;
      let fatal: Error | undefined;
      let reason: Error = new Error('connection closed');
      let heard = true;
      let probing = false;
      let eventsSinceTick = false;
      let created = false;
      const hb = setInterval(() => {
        if (ws.readyState !== WebSocket.OPEN) return;
        if (ws.isPaused) {
          probing = false;
          return;
        }
        if (probing && !heard) {
          reason = new Error(`no answer within ${2 * this.host.heartbeatMs} ms`);
          ws.terminate();
          return;
        }
        heard = false;
        probing = true;
        ws.ping();
        // A quiet watch also asks for progress, which moves its resume point up to the present.
        if (created && !eventsSinceTick) ws.send('{"progress_request":{}}');
        eventsSinceTick = false;
      }, this.host.heartbeatMs);
      ws.on('open', () => ws.send(JSON.stringify(this.createRequest())));
      ws.on('pong', () => (heard = true));
      ws.on('error', (e) => (reason = e));
      ws.on('close', () => {
        clearInterval(hb);
        if (this.ws === ws) this.ws = undefined;
        if (fatal) reject(fatal);
        else resolve(reason);
      });
      ws.on('message', (data) => {
        heard = true;
        let msg: Json;
        try {
          msg = JSON.parse(data.toString()) as Json;
        } catch {
          reason = new Error('a watch message that is not JSON');
          ws.terminate();
          return;
        }
        if (msg.error !== undefined) {
          const e = msg.error as Json;
          reason = new Error(typeof e.message === 'string' ? e.message : JSON.stringify(e));
          ws.terminate();
          return;
        }
        const r = (msg.result ?? {}) as Json;
        const header = decodeHeader(r.header);
        if (r.canceled === true) {
          const compact = num(r.compact_revision);
          if (compact > 0) fatal = new CompactedError(compact, { endpoint: ep.url });
          else if (!this.ended) {
            const why = typeof r.cancel_reason === 'string' && r.cancel_reason ? r.cancel_reason : 'watch canceled by the server';
            fatal = new ClientError('Server', GrpcCode.Unknown, why, { endpoint: ep.url });
          }
          ws.close(1000);
          return;
        }
        if (r.created === true) {
          created = true;
          const rev = header.revision ?? 0;
          if (this.nextRev === undefined) this.nextRev = rev + 1;
          onCreated();
          if (!this.isReady) {
            this.isReady = true;
            this.resolveReady(rev);
          }
          this.emit('connected', ep.url, rev);
          this.host.pool.succeeded(ep);
        }
        const raw = Array.isArray(r.events) ? r.events : [];
        if (raw.length > 0) {
          eventsSinceTick = true;
          const from = this.nextRev ?? 0;
          const events = raw.map(decodeEvent).filter((e) => e.kv.mod_revision >= from);
          if (events.length === 0) return;
          this.nextRev = events[events.length - 1]!.kv.mod_revision + 1;
          this.push({ header, events, progressNotify: false });
        } else if (r.created !== true && header.revision !== undefined) {
          // A progress notification: every event up to header.revision was sent.
          if (this.nextRev === undefined || header.revision + 1 > this.nextRev) this.nextRev = header.revision + 1;
          if (this.opts.progressNotify) this.push({ header, events: [], progressNotify: true });
        }
      });
    });
  }

  private push(resp: WatchResponse): void {
    if (this.ended) return;
    this.queue.push(resp);
    if (this.queue.length >= HIGH_WATER && this.ws && !this.ws.isPaused) this.ws.pause();
    this.notify();
  }
}
