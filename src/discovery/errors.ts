// The errors of service discovery: one class with a stable code, and the validation error that
// lists every problem of a registration at once (so that a user fixes them in one go).

export type DiscoveryErrorCode =
  /** A registration, a check or a unit's [X-Service] section is not valid: nothing was written. */
  | 'Invalid'
  /** A stored value under the services prefix is not an instance record. */
  | 'BadRecord'
  /** No such service, instance or check. */
  | 'NotFound'
  /** A check ID names checks of several instances. */
  | 'Ambiguous'
  /** The registration was deregistered (or its handle closed). */
  | 'Closed';

export class DiscoveryError extends Error {
  constructor(
    readonly code: DiscoveryErrorCode,
    message: string,
    opts: { cause?: unknown } = {},
  ) {
    super(message, opts);
    this.name = 'DiscoveryError';
  }
}

/** One problem of an input: the field (`Port`, `Checks[1].Timeout`) and what is wrong with it. */
export interface Problem {
  field: string;
  message: string;
  /** The line of a unit file it comes from. */
  line?: number;
}

export class ValidationError extends DiscoveryError {
  constructor(
    readonly problems: Problem[],
    what = 'invalid service registration',
  ) {
    super('Invalid', `${what}: ${problems.map((p) => p.message).join('; ')}`);
    this.name = 'ValidationError';
  }
}
