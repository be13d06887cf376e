// Errors with a stable code, an HTTP status and etcd's message, so that every front end reports
// the same failure the way etcd's gateway does: {"error": M, "message": M, "code": grpcCode}.

/** gRPC status codes used by etcd (google.golang.org/grpc/codes). */
export enum GrpcCode {
  OK = 0,
  Canceled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
}

/** The HTTP status etcd's gateway (grpc-gateway) answers for each gRPC code. */
export function httpStatusOf(code: GrpcCode): number {
  switch (code) {
    case GrpcCode.OK:
      return 200;
    case GrpcCode.Canceled:
      return 408;
    case GrpcCode.InvalidArgument:
    case GrpcCode.OutOfRange:
      return 400;
    case GrpcCode.DeadlineExceeded:
      return 504;
    case GrpcCode.NotFound:
      return 404;
    case GrpcCode.AlreadyExists:
    case GrpcCode.Aborted:
      return 409;
    case GrpcCode.PermissionDenied:
      return 403;
    case GrpcCode.ResourceExhausted:
      return 429;
    case GrpcCode.FailedPrecondition:
      return 412;
    case GrpcCode.Unimplemented:
      return 501;
    case GrpcCode.Unavailable:
      return 503;
    default:
      return 500;
  }
}

export class EtcdError extends Error {
  constructor(
    readonly grpcCode: GrpcCode,
    message: string,
  ) {
    super(message);
    this.name = 'EtcdError';
  }

  get httpStatus(): number {
    return httpStatusOf(this.grpcCode);
  }
}

const e = (code: GrpcCode, msg: string) => () => new EtcdError(code, msg);

/** etcd's own errors (etcdserver/api/v3rpc/rpctypes), with etcd's texts. */
export const Errors = {
  emptyKey: e(GrpcCode.InvalidArgument, 'etcdserver: key is not provided'),
  keyNotFound: e(GrpcCode.InvalidArgument, 'etcdserver: key not found'),
  valueProvided: e(GrpcCode.InvalidArgument, 'etcdserver: value is provided'),
  leaseProvided: e(GrpcCode.InvalidArgument, 'etcdserver: lease is provided'),
  tooManyOps: e(GrpcCode.InvalidArgument, 'etcdserver: too many operations in txn request'),
  duplicateKey: e(GrpcCode.InvalidArgument, 'etcdserver: duplicate key given in txn request'),
  requestTooLarge: e(GrpcCode.InvalidArgument, 'etcdserver: request is too large'),
  compacted: e(GrpcCode.OutOfRange, 'etcdserver: mvcc: required revision has been compacted'),
  futureRev: e(GrpcCode.OutOfRange, 'etcdserver: mvcc: required revision is a future revision'),
  leaseNotFound: e(GrpcCode.NotFound, 'etcdserver: requested lease not found'),
  leaseExist: e(GrpcCode.FailedPrecondition, 'etcdserver: lease already exists'),
  leaseTTLTooLarge: e(GrpcCode.OutOfRange, 'etcdserver: too large lease TTL'),
  memberExist: e(GrpcCode.FailedPrecondition, 'etcdserver: member ID already exist'),
  peerURLExist: e(GrpcCode.FailedPrecondition, 'etcdserver: Peer URLs already exists'),
  memberNotFound: e(GrpcCode.NotFound, 'etcdserver: member not found'),
  memberNotLearner: e(GrpcCode.FailedPrecondition, 'etcdserver: can only promote a learner member'),
  learnerNotReady: e(GrpcCode.FailedPrecondition, 'etcdserver: can only promote a learner member which is in sync with leader'),
  tooManyLearners: e(GrpcCode.FailedPrecondition, 'etcdserver: too many learner members in cluster'),
  unhealthy: e(GrpcCode.Unavailable, 'etcdserver: unhealthy cluster'),
  noLeader: e(GrpcCode.Unavailable, 'etcdserver: no leader'),
  notLeader: e(GrpcCode.FailedPrecondition, 'etcdserver: not leader'),
  leaderChanged: e(GrpcCode.Unavailable, 'etcdserver: leader changed'),
  notCapable: e(GrpcCode.Unavailable, 'etcdserver: not capable'),
  stopped: e(GrpcCode.Unavailable, 'etcdserver: server stopped'),
  timeout: e(GrpcCode.Unavailable, 'etcdserver: request timed out'),
  tooManyRequests: e(GrpcCode.ResourceExhausted, 'etcdserver: too many requests'),
  timeoutDueToLeaderFail: e(GrpcCode.Unavailable, 'etcdserver: request timed out, possibly due to previous leader failure'),
  badLeaderTransferee: e(GrpcCode.FailedPrecondition, 'etcdserver: bad leader transferee'),
  noSpace: e(GrpcCode.ResourceExhausted, 'etcdserver: mvcc: database space exceeded'),
  corrupt: e(GrpcCode.DataLoss, 'etcdserver: corrupt cluster'),
  learnerNotSupported: e(GrpcCode.Unavailable, 'etcdserver: rpc not supported for learner'),
} as const;

/** A request body or field that does not decode: Go's texts, code 3, HTTP 400 (stream endpoints use code 2). */
export function decodeError(message: string, code: GrpcCode = GrpcCode.InvalidArgument): EtcdError {
  return new EtcdError(code, message);
}
