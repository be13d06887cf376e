// The retry rule, in one place.
//
// A request may be sent again (to another member) when repeating it cannot change the outcome:
//
// - reads (range, a txn without writes, status, member list, lease time-to-live and leases) and
//   writes the caller marked `idempotent`: always, on any connection failure or timeout and on
//   every "unavailable" answer (gRPC code 14: "no leader", "leader changed", "request timed out",
//   ...; code 4 deadline exceeded; "too many requests"), until the call's deadline;
// - other writes: only when they certainly did not reach a member's state machine:
//   * the TCP connection was never established (refused, unreachable, DNS failure, dial timeout),
//     so not a byte of the request left;
//   * the member answered that it refused the request before proposing it: "etcdserver: no
//     leader" (kvd: the proposal never left the member's queue; etcd: the leader check before
//     proposing), "rpc not supported for learner", "not capable", "unhealthy cluster" (member
//     changes), "too many requests" (etcd's applied-index backpressure, before proposing).
//   Everything else that happens after the request was sent is OutcomeUnknown: a dropped
//   connection or a timeout (the member may have proposed it and died, or be applying it), and
//   "request timed out" / "leader changed" / "server stopped" answers (the entry may be in a log
//   and still commit under the next leader).
// Server answers with other codes (invalid argument, not found, compacted, ...) are final.
import { GrpcCode } from '../util/errors.js';

export type Failure =
  | { kind: 'transport'; sent: boolean; timeout: boolean }
  | { kind: 'server'; code: number; message: string; httpStatus: number; json: boolean };

export type Decision = 'retry' | 'fail' | 'unknown';

/** Answers of a member that refused a request before proposing it: a write may go elsewhere. */
export const REFUSED_BEFORE_PROPOSAL: readonly string[] = [
  'etcdserver: no leader',
  'etcdserver: rpc not supported for learner',
  'etcdserver: not capable',
  'etcdserver: unhealthy cluster',
  'etcdserver: too many requests',
];

/** Whether a server answer means "try again, maybe elsewhere" rather than "your request is wrong". */
export function isUnavailableAnswer(f: { code: number; message: string; httpStatus: number; json: boolean }): boolean {
  if (!f.json) return f.httpStatus >= 500 && f.httpStatus !== 501;
  return (
    f.code === GrpcCode.Unavailable ||
    f.code === GrpcCode.DeadlineExceeded ||
    REFUSED_BEFORE_PROPOSAL.includes(f.message)
  );
}

/**
 * What to do after a failed attempt. `retryable` is true for reads and idempotent writes.
 * - `retry`: try again (another endpoint), if the deadline allows;
 * - `fail`: give the caller this error;
 * - `unknown`: a write whose fate is unknown: OutcomeUnknown.
 */
export function decide(f: Failure, retryable: boolean): Decision {
  if (f.kind === 'transport') {
    if (retryable || !f.sent) return 'retry';
    return 'unknown';
  }
  if (!isUnavailableAnswer(f)) return 'fail';
  if (retryable) return 'retry';
  return f.json && REFUSED_BEFORE_PROPOSAL.includes(f.message) ? 'retry' : 'unknown';
}
