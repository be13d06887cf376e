// The client's errors: one class, ClientError, with a kind (what the caller may conclude), the
// gRPC code and etcd's message when the server answered, and the endpoint that answered.
import { GrpcCode } from '../util/errors.js';

export { GrpcCode };

/**
 * - `Server`: the server answered with an error (`code`, `message` as etcd has them).
 * - `Unavailable`: no endpoint could serve the request before the deadline (connection refused,
 *   timeouts, or only "no leader"-like answers). A write that fails this way was certainly not applied.
 * - `OutcomeUnknown`: a write reached a member but no answer came back (connection dropped,
 *   timeout, "request timed out", "leader changed"): it may or may not have been applied.
 * - `Compacted`: the requested revision was compacted (`compactRevision` when the server said it).
 * - `Canceled`: the caller's AbortSignal fired (a write canceled after it was sent may have been applied).
 * - `Closed`: the client (or the watcher, keep-alive, session) was closed.
 */
export type ClientErrorKind = 'Server' | 'Unavailable' | 'OutcomeUnknown' | 'Compacted' | 'Canceled' | 'Closed';

export class ClientError extends Error {
  /** The HTTP status of the server's answer, when there was one. */
  readonly httpStatus?: number;
  /** The endpoint that answered (or the last one tried). */
  readonly endpoint?: string;

  constructor(
    readonly kind: ClientErrorKind,
    readonly code: GrpcCode,
    message: string,
    opts: { httpStatus?: number; endpoint?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ClientError';
    if (opts.httpStatus !== undefined) this.httpStatus = opts.httpStatus;
    if (opts.endpoint !== undefined) this.endpoint = opts.endpoint;
  }
}

/** A revision below the compacted one was asked for (range, watch start, resume point). */
export class CompactedError extends ClientError {
  constructor(
    /** The store's compacted revision, when the server told it (watches); the oldest revision still readable. */
    readonly compactRevision: number | undefined,
    opts: { httpStatus?: number; endpoint?: string; cause?: unknown } = {},
  ) {
    super('Compacted', GrpcCode.OutOfRange, 'etcdserver: mvcc: required revision has been compacted', opts);
    this.name = 'CompactedError';
  }
}

/** Texts of etcd's errors that the client recognizes. */
export const ErrorMessages = {
  compacted: 'etcdserver: mvcc: required revision has been compacted',
  noLeader: 'etcdserver: no leader',
  leaseNotFound: 'etcdserver: requested lease not found',
  deadline: 'context deadline exceeded',
  canceled: 'context canceled',
  closed: 'client: closed',
} as const;

export function isClientError(e: unknown, kind?: ClientErrorKind): e is ClientError {
  return e instanceof ClientError && (kind === undefined || e.kind === kind);
}
