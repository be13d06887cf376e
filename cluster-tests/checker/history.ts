// The recorded history of a run: every client operation with its invoke and return times and its
// result, and every event every watcher received. Times are milliseconds on one monotonic clock
// (performance.now() of the process that ran the workload).

export type OpKind = 'put' | 'get' | 'delete' | 'cas';

/**
 * - `ok`: the member answered with a result; the operation took effect exactly as the result says.
 * - `fail`: the operation certainly did not take effect (a read that errored, or a write refused
 *   before it could be proposed). Ignored by the checkers.
 * - `unknown`: no answer (timeout, connection lost, or an error that does not say whether the write
 *   was applied). A write may or may not have happened, at any time after its invocation.
 */
export type OpStatus = 'ok' | 'fail' | 'unknown';

export interface Op {
  id: number;
  client: number;
  kind: OpKind;
  key: string;
  /** put: the value written; cas: the value written when the compare holds. Unique per run. */
  value?: string;
  /** cas: the value compared with (`null`: the key must not exist). */
  expect?: string | null;
  invoke: number;
  /** Undefined while in flight and for an unknown outcome. */
  ret?: number;
  status: OpStatus;
  /** get: the value read (`null`: no such key); cas failure: the value found (the failure branch reads it). */
  read?: string | null;
  /** get: read by a txn of one range (served without the log, as a range is) instead of a range. */
  viaTxn?: boolean;
  /** get: mod_revision of the value read. */
  readModRev?: number;
  /** delete: how many keys were deleted (0 or 1). */
  deleted?: number;
  /** cas: whether the compare held. */
  succeeded?: boolean;
  /** The response header's revision (for a write that changed the store: the write's revision). */
  rev?: number;
  /** The member that answered (or was asked). */
  member?: string;
  error?: string;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** The value of a put event. */
  value?: string;
  /** The event's revision (kv.mod_revision). */
  rev: number;
  /** When the watcher received it. */
  at: number;
}

export interface WatchSession {
  member: string;
  /** The start_revision asked for. */
  startRev: number;
  openedAt: number;
  closedAt?: number;
  reason?: string;
}

/** One logical watcher: a watch on the workload's prefix, resumed on another member after a failure. */
export interface WatcherLog {
  id: number;
  /** The first start revision (every committed write after it must be seen). */
  startRev: number;
  events: WatchEvent[];
  sessions: WatchSession[];
}

export interface History {
  ops: Op[];
  watchers: WatcherLog[];
  /**
   * The store's revision once the workload had stopped and the cluster had recovered (a
   * linearizable read at the end). Every write that committed has a revision up to this one.
   * Undefined when the cluster did not recover.
   */
  finalRev?: number;
  /** The revision of the store when the workload started (the writes of this run are above it). */
  baseRev: number;
}

export function describeOp(op: Op): string {
  const t = (x: number | undefined) => (x === undefined ? '   ∞   ' : x.toFixed(1).padStart(7));
  const v = (x: string | null | undefined) => (x === null ? 'nil' : x === undefined ? '?' : JSON.stringify(x));
  let what: string;
  switch (op.kind) {
    case 'put':
      what = `put(${op.key}, ${v(op.value)})`;
      break;
    case 'get':
      what = op.viaTxn ? `get(${op.key}) by txn` : `get(${op.key})`;
      break;
    case 'delete':
      what = `delete(${op.key})`;
      break;
    case 'cas':
      what = `cas(${op.key}, ${v(op.expect)} -> ${v(op.value)})`;
      break;
  }
  let res: string;
  if (op.status === 'unknown') res = `unknown${op.error ? ` (${op.error})` : ''}`;
  else if (op.status === 'fail') res = `fail${op.error ? ` (${op.error})` : ''}`;
  else {
    switch (op.kind) {
      case 'put':
        res = 'ok';
        break;
      case 'get':
        res = v(op.read) + (op.readModRev !== undefined ? ` @${op.readModRev}` : '');
        break;
      case 'delete':
        res = `deleted=${op.deleted}`;
        break;
      case 'cas':
        res = op.succeeded ? 'succeeded' : `failed, found ${v(op.read)}`;
        break;
    }
    if (op.rev !== undefined) res += ` rev=${op.rev}`;
  }
  return `#${op.id} c${op.client} [${t(op.invoke)} .. ${t(op.ret)}] ${what} -> ${res}${op.member ? ` (${op.member})` : ''}`;
}
