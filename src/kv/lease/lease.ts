// One lease: replicated state (ID, granted TTL, attached keys) plus this member's view of when it
// expires. Only the leader's deadlines mean anything: keepalives are not replicated, so followers
// hold every lease "forever" (deadline Infinity) until they are promoted.
import type { LeaseId } from '../api.js';
import type { KeyStr } from '../bytes.js';

export class Lease {
  readonly keys = new Set<KeyStr>();
  /** Clock time (ms) at which the lease expires; Infinity while this member is not the leader. */
  deadline = Infinity;
  /** After expired() reported it: not reported again before this time (the revoke is in flight). */
  retryAt = 0;

  constructor(
    readonly id: LeaseId,
    /** The granted TTL in seconds (after raising to the minimum). */
    readonly ttl: number,
  ) {}
}
