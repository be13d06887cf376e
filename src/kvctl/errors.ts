// etcdctl's exit codes and the one error kvctl throws to end a command with one of them.
import { ClientError } from '../client/index.js';
import { ConcurrencyError } from '../client/index.js';

/** As etcdctl (pkg/cobrautl): what a script may test `$?` for. */
export const Exit = {
  Success: 0,
  /** A server error, a failed connection, or an unknown command or flag. */
  Error: 1,
  /** lease keep-alive --once and timetolive/list failures (etcdctl's ExitBadConnection). */
  BadConnection: 2,
  /** Bad standard input (txn). */
  InvalidInput: 3,
  /** An output format or option value the command does not support. */
  BadFeature: 4,
  /** A watch canceled by the server. */
  Interrupted: 5,
  IO: 6,
  /** Missing or bad arguments. */
  BadArgs: 128,
  /** Killed by Ctrl-C (what a shell reports for SIGINT). */
  Signal: 130,
} as const;

/** Ends the command: `Error: <message>` on stderr and the exit code. */
export class KvctlError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    /** Also print the command's usage on stdout (unknown flags, as cobra). */
    readonly showUsage = false,
  ) {
    super(message);
    this.name = 'KvctlError';
  }
}

export const badArgs = (message: string): KvctlError => new KvctlError(Exit.BadArgs, message);

/** The text etcdctl would print for a failure of a call (etcd's own message for server errors). */
export function errorText(e: unknown): string {
  if (e instanceof ClientError || e instanceof ConcurrencyError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Wraps any failure of a call as a KvctlError with `code` (etcdctl's ExitError by default). */
export function callFailed(e: unknown, code: number = Exit.Error, wrap?: (msg: string) => string): KvctlError {
  if (e instanceof KvctlError) return e;
  const msg = errorText(e);
  return new KvctlError(code, wrap ? wrap(msg) : msg);
}
