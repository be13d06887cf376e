// The machine's presence in the cluster: a lease of --agent-ttl seconds kept alive, with the
// machine's record (`machine/<id>`) and its units' states bound to it, and the fencing rule that
// keeps a unit from ever running on two machines:
//
//   the lease counts as ours only until  (send time of the last successful renewal) + TTL − margin,
//   margin = max(500 ms, TTL/5).
//
// The store cannot expire the lease before that instant (it extends the lease when it receives the
// renewal, which is after we sent it), so an agent that fences at the deadline has stopped its units
// before the engine can see the machine gone and place them elsewhere. Past the deadline the lease
// is abandoned ('fenced'), whatever happens to it later; a new lease is granted, the machine is
// announced again, and 'present' tells the reconciler it may run units again.
import { EventEmitter } from 'node:events';
import type { ClientError } from '../../client/index.js';
import type { MachineRecord, Registry } from '../registry/index.js';
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.js';

/** The keep-alive of one lease, as the client's KeepAlive provides it. */
export interface LeaseKeepAlive {
  /** The send time of the last successful renewal + the TTL it returned (ms since the epoch). */
  readonly expiresAt: number;
  on(event: 'renewed', fn: (ttl: number) => void): unknown;
  on(event: 'lost', fn: (reason: ClientError | Error) => void): unknown;
  on(event: 'failed', fn: (err: Error, sentAt: number) => void): unknown;
  close(): void;
}

/** The store operations presence needs; `clientPresenceStore` adapts a Registry. */
export interface PresenceStore {
  grant(ttlSec: number): Promise<{ id: bigint; ttl: number }>;
  keepAlive(id: bigint, ttlSec: number): LeaseKeepAlive;
  revoke(id: bigint): Promise<void>;
  /** Puts the machine record under the lease; resolves with the write's revision. */
  announce(machine: MachineRecord, lease: bigint): Promise<number>;
}

const MAX_FAILURES_TOLD = 5;

/** A revoke on the way out must not hold up a shutdown for the client's whole request deadline. */
const REVOKE_TIMEOUT_MS = 2000;

export function clientPresenceStore(registry: Registry): PresenceStore {
  const client = registry.client;
  return {
    async grant(ttlSec) {
      const r = await client.leaseGrant(ttlSec);
      return { id: r.ID, ttl: r.TTL };
    },
    keepAlive: (id, ttlSec) => client.keepAlive(id, { ttl: ttlSec, intervalMs: renewalIntervalMs(ttlSec) }),
    async revoke(id) {
      await client.leaseRevoke(id, { timeoutMs: REVOKE_TIMEOUT_MS });
    },
    announce: (machine, lease) => registry.announce(machine, lease),
  };
}

/**
 * Renewals every 500 ms at most (not etcd's TTL/3): the lease counts as ours until the send time of
 * the last successful renewal + TTL − margin, so the shorter the pace, the longer the store outage
 * the machine rides out without fencing (with TTL 5 s: 3.5 s instead of 2.3 s in the worst case).
 * A renewal is one small request to the store's leader, so the cost is small.
 */
export function renewalIntervalMs(ttlSec: number): number {
  return Math.min(500, (ttlSec * 1000) / 3);
}

export function fencingMargin(ttlSec: number): number {
  return Math.max(500, (ttlSec * 1000) / 5);
}

export interface PresenceOptions {
  store: PresenceStore;
  /** The record to announce (read at each announcement). */
  machine: () => MachineRecord;
  ttlSec: number;
  clock?: Clock;
  /** First pause after a failed grant or announcement (doubling up to `maxRetryMs`); default 250. */
  retryMs?: number;
  maxRetryMs?: number;
}

export interface PresenceEvents {
  /** The machine is announced under `lease`, written at `revision`: units may run. */
  present: [lease: bigint, revision: number];
  /** The lease is no longer ours: every unit must be killed now. */
  fenced: [reason: string];
  /** A failed grant, renewal or announcement (presence keeps trying). */
  warning: [err: Error];
}

type Phase = 'idle' | 'acquiring' | 'present' | 'stopped';

export class Presence extends EventEmitter<PresenceEvents> {
  private readonly clock: Clock;
  private readonly margin: number;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private phase: Phase = 'idle';
  /** Bumped on every fence and stop: an acquisition of an older generation gives up. */
  private generation = 0;
  private leaseId: bigint | undefined;
  private ka: LeaseKeepAlive | undefined;
  private deadlineAt = 0;
  private fenceTimer: TimerHandle | undefined;
  private revision = 0;
  /** Renewals that failed since the last success (the last few), told when the machine fences. */
  private failures: string[] = [];
  /** The send time of the last successful grant or renewal. */
  private lastSentAt = 0;
  private sleeper: { timer: TimerHandle; wake: () => void } | undefined;

  constructor(private readonly opts: PresenceOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.margin = fencingMargin(opts.ttlSec);
    this.retryMs = opts.retryMs ?? 250;
    this.maxRetryMs = opts.maxRetryMs ?? 2000;
  }

  /** The lease units run under, or undefined while there is none (starting, fenced, stopped). */
  get lease(): bigint | undefined {
    return this.phase === 'present' ? this.leaseId : undefined;
  }

  /** The revision of the last (re)announcement after a new lease. */
  get announcedRevision(): number {
    return this.revision;
  }

  /** When the current lease stops being ours unless renewed (ms, the clock's time). */
  get deadline(): number {
    return this.deadlineAt;
  }

  get state(): Phase {
    return this.phase;
  }

  /** Starts acquiring a lease; 'present' follows once the machine is announced. */
  start(): void {
    if (this.phase !== 'idle') return;
    void this.acquire(this.generation);
  }

  /** Announces the machine again under the current lease (its facts changed). */
  async reannounce(): Promise<void> {
    const lease = this.lease;
    if (lease === undefined) return;
    try {
      await this.opts.store.announce(this.opts.machine(), lease);
    } catch (e) {
      this.emit('warning', e as Error);
    }
  }

  /**
   * Stops renewing; with `revoke` (the default) also revokes the lease, so that the machine and its
   * unit states leave the registry at once rather than after the TTL.
   */
  async stop(opts: { revoke?: boolean } = {}): Promise<void> {
    if (this.phase === 'stopped') return;
    const lease = this.leaseId;
    this.phase = 'stopped';
    this.dropLease();
    this.wakeSleeper();
    if (lease !== undefined && opts.revoke !== false) {
      try {
        await this.opts.store.revoke(lease);
      } catch (e) {
        this.emit('warning', e as Error);
      }
    }
  }

  private async acquire(generation: number): Promise<void> {
    this.phase = 'acquiring';
    let pause = this.retryMs;
    const current = () => this.generation === generation && this.phase === 'acquiring';
    while (current()) {
      try {
        if (this.leaseId === undefined) {
          const sentAt = this.clock.now();
          const granted = await this.opts.store.grant(this.opts.ttlSec);
          if (!current()) {
            void this.opts.store.revoke(granted.id).catch(() => undefined);
            return;
          }
          this.leaseId = granted.id;
          this.lastSentAt = sentAt;
          this.setDeadline(sentAt + granted.ttl * 1000 - this.margin);
          this.keepAlive(granted.id, granted.ttl);
        }
        const revision = await this.opts.store.announce(this.opts.machine(), this.leaseId);
        if (!current()) return;
        this.revision = revision;
        this.phase = 'present';
        this.emit('present', this.leaseId, revision);
        return;
      } catch (e) {
        if (!current()) return;
        this.emit('warning', e as Error);
        await this.sleep(pause);
        pause = Math.min(pause * 2, this.maxRetryMs);
      }
    }
  }

  private keepAlive(id: bigint, ttlSec: number): void {
    const ka = this.opts.store.keepAlive(id, ttlSec);
    this.ka = ka;
    ka.on('failed', (err, sentAt) => {
      if (this.ka !== ka) return;
      const endpoint = (err as ClientError).endpoint;
      this.failures.push(`sent ${sentAt - this.lastSentAt} ms after the last success, failed after ${this.clock.now() - sentAt} ms${endpoint ? ` at ${endpoint}` : ''}: ${err.message}`);
      if (this.failures.length > MAX_FAILURES_TOLD) this.failures.shift();
    });
    ka.on('renewed', (ttl) => {
      if (this.ka !== ka) return;
      // A renewal whose answer comes after the deadline does not count: the units may already be
      // placed elsewhere by then.
      if (this.clock.now() >= this.deadlineAt) {
        this.fence('the lease renewal came back after the fencing deadline');
        return;
      }
      const sentAt = ka.expiresAt - ttl * 1000;
      if (this.failures.length) {
        // A near miss is worth a line in the log: how close the machine came to fencing.
        const gap = sentAt - this.lastSentAt;
        this.emit('warning', new Error(`lease renewed after ${gap} ms without a successful renewal (the machine fences at ${ttl * 1000 - this.margin} ms); the last failure: ${this.failures.at(-1)}`));
      }
      this.failures = [];
      this.lastSentAt = sentAt;
      this.setDeadline(ka.expiresAt - this.margin);
    });
    ka.on('lost', (reason) => {
      if (this.ka !== ka) return;
      this.fence(`the lease is lost: ${reason.message}`);
    });
  }

  private setDeadline(at: number): void {
    this.deadlineAt = at;
    this.clock.clearTimeout(this.fenceTimer);
    this.fenceTimer = this.clock.setTimeout(() => {
      this.fenceTimer = undefined;
      if (this.clock.now() >= this.deadlineAt) this.fence(`no lease renewal succeeded within ${this.opts.ttlSec} s − ${this.margin} ms`);
      else this.setDeadline(this.deadlineAt);
    }, Math.max(0, at - this.clock.now()));
  }

  /** Abandons the lease (its keys go when the store expires it, or at once if the revoke gets through). */
  private fence(reason: string): void {
    if (this.phase !== 'present' && this.phase !== 'acquiring') return;
    const wasPresent = this.phase === 'present';
    const old = this.leaseId;
    this.dropLease();
    this.wakeSleeper();
    this.phase = 'acquiring';
    if (old !== undefined) void this.opts.store.revoke(old).catch(() => undefined);
    if (this.failures.length) reason += `; renewals since the last success: ${this.failures.join('; ')}`;
    this.failures = [];
    if (wasPresent) this.emit('fenced', reason);
    if (this.phase === 'acquiring') void this.acquire(this.generation);
  }

  private dropLease(): void {
    this.generation++;
    this.ka?.close();
    this.ka = undefined;
    this.leaseId = undefined;
    this.clock.clearTimeout(this.fenceTimer);
    this.fenceTimer = undefined;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.clock.clearTimeout(timer);
        this.sleeper = undefined;
        resolve();
      };
      const timer = this.clock.setTimeout(wake, ms);
      this.sleeper = { timer, wake };
    });
  }

  private wakeSleeper(): void {
    this.sleeper?.wake();
  }
}
