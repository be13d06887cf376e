// The lease table, as etcd's lessor: grants and revokes are replicated (they arrive through apply),
// expiry is not. The leader keeps a deadline per lease with the injected clock, renews it on
// keepalive, and proposes a revoke for each lease expired() reports; a new leader starts every
// deadline afresh (promote) so that no lease expires early because of a leadership change.
import type { LeaseId } from '../api.js';
import { MAX_LEASE_TTL } from '../api.js';
import { strBytes, type KeyStr } from '../bytes.js';
import { Errors, type EtcdError } from '../../util/errors.js';
import { Lease } from './lease.js';

export interface LessorOptions {
  /** Milliseconds; injected so that tests drive expiry. */
  clock: () => number;
  /** Seconds; shorter TTLs are raised to it (etcd: 1.5 x election timeout, 2 s at the defaults). */
  minTtl?: number;
  /** How long expired() waits before reporting a lease again whose revoke has not been applied. */
  expiredRetryMs?: number;
}

export interface LeaseTimeToLive {
  ID: LeaseId;
  /** Remaining seconds, -1 for an unknown lease. */
  TTL: number;
  /** Granted seconds, 0 for an unknown lease. */
  grantedTTL: number;
  keys: Uint8Array[];
}

export const DEFAULT_MIN_LEASE_TTL = 2;
// etcd's expiredLeaseRetryInterval.
const DEFAULT_EXPIRED_RETRY_MS = 3000;

export class Lessor {
  private readonly map = new Map<LeaseId, Lease>();
  private primary = false;
  readonly minTtl: number;
  private readonly clock: () => number;
  private readonly retryMs: number;

  constructor(opts: LessorOptions) {
    this.clock = opts.clock;
    this.minTtl = opts.minTtl ?? DEFAULT_MIN_LEASE_TTL;
    this.retryMs = opts.expiredRetryMs ?? DEFAULT_EXPIRED_RETRY_MS;
  }

  // ---- replicated state (called while applying; deterministic) -----------------------------

  /** etcd's Grant checks, in etcd's order: no ID, TTL too large, ID taken. */
  checkGrant(id: LeaseId, ttl: number): EtcdError | undefined {
    if (id === 0n) return Errors.leaseNotFound();
    if (ttl > MAX_LEASE_TTL) return Errors.leaseTTLTooLarge();
    if (this.map.has(id)) return Errors.leaseExist();
    return undefined;
  }

  /** Adds a lease (after checkGrant); returns it with the TTL raised to the minimum. */
  grant(id: LeaseId, ttl: number): Lease {
    const l = new Lease(id, Math.max(ttl, this.minTtl));
    if (this.primary) l.deadline = this.clock() + l.ttl * 1000;
    this.map.set(id, l);
    return l;
  }

  /** Removes a lease; the caller deletes its keys (in one revision). */
  remove(id: LeaseId): Lease | undefined {
    const l = this.map.get(id);
    if (l) this.map.delete(id);
    return l;
  }

  lookup(id: LeaseId): Lease | undefined {
    return this.map.get(id);
  }

  attach(id: LeaseId, key: KeyStr): void {
    this.map.get(id)?.keys.add(key);
  }

  detach(id: LeaseId, key: KeyStr): void {
    this.map.get(id)?.keys.delete(key);
  }

  /** Replaces the whole table (store open and snapshot restore); keys are attached afterwards. */
  reset(leases: Iterable<[LeaseId, number]>): void {
    this.map.clear();
    const now = this.clock();
    for (const [id, ttl] of leases) {
      const l = new Lease(id, ttl);
      if (this.primary) l.deadline = now + ttl * 1000;
      this.map.set(id, l);
    }
  }

  size(): number {
    return this.map.size;
  }

  // ---- this member's view of expiry ----------------------------------------------------------

  isPrimary(): boolean {
    return this.primary;
  }

  /**
   * This member became the leader: every lease gets a full TTL from now (plus `extendMs`, e.g. an
   * election timeout), because the old leader's renewals are unknown here.
   */
  promote(extendMs = 0): void {
    this.primary = true;
    const now = this.clock();
    for (const l of this.map.values()) {
      l.deadline = now + extendMs + l.ttl * 1000;
      l.retryAt = 0;
    }
  }

  /** This member is no longer the leader: it stops expiring leases. */
  demote(): void {
    this.primary = false;
    for (const l of this.map.values()) l.deadline = Infinity;
  }

  /**
   * A keepalive: restarts the lease's TTL and returns it (seconds), or 0 when the lease is unknown
   * or already expired (its revoke is on the way; etcd answers "not found" once it lands).
   */
  renew(id: LeaseId): number {
    const l = this.map.get(id);
    if (!l) return 0;
    const now = this.clock();
    if (this.primary) {
      if (now >= l.deadline) return 0;
      l.deadline = now + l.ttl * 1000;
      l.retryAt = 0;
    }
    return l.ttl;
  }

  /**
   * Seconds left, truncated as etcd reports them (a fresh 600 s lease shows 599); -1 for an unknown
   * lease. A non-leader does not know the deadline and reports the granted TTL.
   */
  remainingTTL(id: LeaseId): number {
    const l = this.map.get(id);
    if (!l) return -1;
    if (l.deadline === Infinity) return l.ttl;
    const ms = l.deadline - this.clock();
    if (ms <= 0) return 0;
    // etcd truncates a duration measured a moment after the grant; with an exact clock, a whole
    // number of seconds left is shown one lower, just as etcd shows it.
    return Math.ceil(ms / 1000) - 1;
  }

  /**
   * Leases whose deadline has passed, for the leader to revoke through Raft (at most `limit`). A
   * lease reported once is not reported again for a few seconds, so a revoke in flight is not
   * proposed twice.
   */
  expired(limit = Infinity): LeaseId[] {
    if (!this.primary) return [];
    const now = this.clock();
    const out: LeaseId[] = [];
    for (const l of this.map.values()) {
      if (out.length >= limit) break;
      if (now < l.deadline || now < l.retryAt) continue;
      l.retryAt = now + this.retryMs;
      out.push(l.id);
    }
    return out;
  }

  /**
   * When expired() may next report a lease (ms on the clock; Infinity when no lease can expire
   * here), so that the leader wakes at a deadline rather than polling past it.
   */
  nextDeadline(): number {
    if (!this.primary) return Infinity;
    let next = Infinity;
    for (const l of this.map.values()) {
      const at = Math.max(l.deadline, l.retryAt);
      if (at < next) next = at;
    }
    return next;
  }

  /** LeaseTimeToLive: keys sorted (etcd's order is random). */
  timeToLive(id: LeaseId, keys = false): LeaseTimeToLive {
    const l = this.map.get(id);
    if (!l) return { ID: id, TTL: -1, grantedTTL: 0, keys: [] };
    return {
      ID: id,
      TTL: this.remainingTTL(id),
      grantedTTL: l.ttl,
      keys: keys ? [...l.keys].sort().map(strBytes) : [],
    };
  }

  leases(): LeaseId[] {
    return [...this.map.keys()];
  }

  /** Every lease with its granted TTL (for snapshots). */
  entries(): [LeaseId, number][] {
    return [...this.map.values()].map((l) => [l.id, l.ttl]);
  }
}
