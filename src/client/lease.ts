// The keep-alive loop of one lease: a renewal at once, then every TTL/3 (as etcd's clientv3), each
// one a single keepalive exchange sent through the client's failover (a renewal may be repeated
// safely). A failed renewal is retried, sent to every member at once, until one succeeds or the
// lease's deadline passes; past it, or when the server says the lease is gone, the loop reports
// 'lost' once and stops.
import { EventEmitter } from 'node:events';
import { ClientError, GrpcCode } from './errors.js';
import type { LeaseKeepAliveResponse } from './types.js';

export interface KeepAliveHost {
  readonly requestTimeoutMs: number;
  keepAliveOnce(id: bigint, opts: { timeoutMs: number; signal: AbortSignal }): Promise<LeaseKeepAliveResponse>;
  /** The same, sent to every member at once (first success wins); used after a failed renewal. */
  keepAliveEverywhere?(id: bigint, opts: { timeoutMs: number; signal: AbortSignal }): Promise<LeaseKeepAliveResponse>;
  track(c: { close(): void }): void;
  untrack(c: { close(): void }): void;
  readonly log: { debug(obj: object, msg: string): void };
}

export interface KeepAliveOptions {
  /** The lease's TTL if known (seconds): until the first renewal, the lease counts as lost after it. */
  ttl?: number;
  /** Pause between failed renewals (ms); default 250. */
  retryMs?: number;
  /**
   * Renew this often (ms) instead of every TTL/3 (etcd's pace). A holder that must notice a lost
   * lease early, or ride out a store outage as long as possible, renews more often.
   */
  intervalMs?: number;
}

export interface KeepAlive {
  on(event: 'renewed', fn: (ttl: number) => void): this;
  on(event: 'lost', fn: (reason: ClientError) => void): this;
  /** A renewal that failed (it is retried until the lease runs out): what failed, sent when. */
  on(event: 'failed', fn: (err: Error, sentAt: number) => void): this;
  once(event: 'renewed', fn: (ttl: number) => void): this;
  once(event: 'lost', fn: (reason: ClientError) => void): this;
}

export class KeepAlive extends EventEmitter {
  /** The TTL of the last renewal (seconds), 0 before the first. */
  ttl = 0;
  /** When the lease runs out unless renewed (ms since the epoch, as far as this client knows). */
  expiresAt: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly ac = new AbortController();
  private stopped = false;
  private lostReason: ClientError | undefined;
  private readonly retryMs: number;
  private readonly intervalMs: number | undefined;
  /** The last renewal failed: the next one goes to every member at once. */
  private failing = false;

  constructor(
    private readonly host: KeepAliveHost,
    readonly id: bigint,
    opts: KeepAliveOptions = {},
  ) {
    super();
    this.retryMs = opts.retryMs ?? 250;
    this.intervalMs = opts.intervalMs !== undefined && opts.intervalMs > 0 ? opts.intervalMs : undefined;
    this.expiresAt = Date.now() + (opts.ttl !== undefined && opts.ttl > 0 ? opts.ttl * 1000 : host.requestTimeoutMs);
    host.track(this);
    void this.renew();
  }

  /** Whether the loop ended because the lease is gone or expired. */
  get lost(): boolean {
    return this.lostReason !== undefined;
  }

  /** Stops renewing (the lease itself stays until its TTL runs out). No event follows. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.ac.abort();
    this.host.untrack(this);
  }

  /**
   * With a renewal pace of its own, one attempt may not take the rest of the lease: a renewal sent
   * to a member that hangs (SIGSTOPped, partitioned) would otherwise wait until the lease is nearly
   * gone. Cut it short and the client moves on to another member, whose answer comes in time.
   */
  private attemptCapMs(): number {
    return this.intervalMs !== undefined ? Math.max(250, 2 * this.intervalMs) : Infinity;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.renew();
    }, Math.max(1, ms));
  }

  private lose(reason: ClientError): void {
    if (this.stopped) return;
    this.lostReason = reason;
    this.close();
    this.emit('lost', reason);
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    const sentAt = Date.now();
    const left = this.expiresAt - sentAt;
    let r: LeaseKeepAliveResponse;
    try {
      const attempt = { timeoutMs: Math.max(100, Math.min(this.host.requestTimeoutMs, left, this.attemptCapMs())), signal: this.ac.signal };
      r = this.failing && this.host.keepAliveEverywhere ? await this.host.keepAliveEverywhere(this.id, attempt) : await this.host.keepAliveOnce(this.id, attempt);
    } catch (e) {
      if (this.stopped) return;
      this.failing = true;
      const now = Date.now();
      this.host.log.debug({ lease: this.id.toString(), err: (e as Error).message }, 'lease keep-alive: renewal failed');
      this.emit('failed', e as Error, sentAt);
      if (e instanceof ClientError && e.kind === 'Server' && e.code === GrpcCode.NotFound) {
        this.lose(e);
        return;
      }
      if (now >= this.expiresAt) {
        this.lose(
          new ClientError('Unavailable', GrpcCode.Unavailable, `lease ${this.id.toString(16)} could not be renewed before its TTL ran out: ${(e as Error).message}`, {
            cause: e,
          }),
        );
        return;
      }
      this.schedule(Math.min(this.retryMs, this.expiresAt - now));
      return;
    }
    if (this.stopped) return;
    this.failing = false;
    if (r.TTL <= 0) {
      this.lose(new ClientError('Server', GrpcCode.NotFound, 'etcdserver: requested lease not found'));
      return;
    }
    this.ttl = r.TTL;
    this.expiresAt = sentAt + r.TTL * 1000;
    this.emit('renewed', r.TTL);
    // The pace counts from this renewal's send, as etcd's client sends on a fixed beat: counted
    // from the answer, every renewal came late by its round trip, which under load (a slow leader,
    // a starved process) left the lease a good part of a second older than the pace promised.
    const pace = Math.min(this.intervalMs ?? Infinity, (r.TTL * 1000) / 3);
    this.schedule(sentAt + pace - Date.now());
  }
}
