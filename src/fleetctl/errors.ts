// How a fleetctl command ends with a failure: fleet's own message (no "Error:" prefix unless fleet
// has one) on stderr and an exit code. Store failures get one line naming the endpoint instead of
// the client's stack.
import { ClientError } from '../client/index.js';

/** fleetctl's exit codes. fleet returns 1 for every failure; 130 is a shell's Ctrl-C. */
export const Exit = {
  Success: 0,
  Error: 1,
  Signal: 130,
} as const;

export class FleetctlError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = Exit.Error,
    /** Also print the command's usage on stdout (unknown flags, as cobra does). */
    readonly showUsage = false,
  ) {
    super(message);
    this.name = 'FleetctlError';
  }
}

/**
 * The innermost message of an error's causes (the client wraps "connect ECONNREFUSED" in a
 * deadline), without the endpoint the transport puts in front of it: the line names it already.
 */
function rootReason(e: Error): string {
  let reason = e.message;
  let cause: unknown = e.cause;
  for (let depth = 0; cause instanceof Error && depth < 5; depth++) {
    if (cause.message) reason = cause.message;
    cause = cause.cause;
  }
  return opensslReason(reason.replace(/^https?:\/\/[^\s/]+: /, ''));
}

/**
 * OpenSSL's errors come as `<thread>:error:<code>:SSL routines:<function>:<reason>:<source file>:<line>:<detail>`
 * and a newline (a store asking for a client certificate: "…:tlsv13 alert certificate
 * required:…"): the reason alone, so that the message stays one line a user can read.
 */
function opensslReason(message: string): string {
  const m = /^[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):/.exec(message);
  return (m ? m[1]! : message).replace(/\s+/g, ' ').trim();
}

/** One line for a failed call to the store, naming where fleetctl tried to reach it. */
export function storeErrorText(e: ClientError, endpoints: string[]): string {
  const where = e.endpoint ?? endpoints.join(',');
  switch (e.kind) {
    case 'Unavailable':
      return `Unable to reach the store at ${endpoints.join(',')}: ${rootReason(e)}`;
    case 'OutcomeUnknown':
      return `The store at ${where} did not confirm a write (it may or may not have been applied): ${rootReason(e)}`;
    default:
      return `Error from the store at ${where}: ${e.message}`;
  }
}
