// The model the linearizability checker runs operations against: one key of the store, a register
// that holds a value or nothing. Values are unique per run, so a value names the write that made it.

import type { OpKind } from './history.js';

/** The value of the key, or `null` when the key does not exist. */
export type RegState = string | null;

/** One operation as the checker sees it: what was asked, and what is known of its outcome. */
export interface LinOp {
  /** The id of the recorded operation. */
  id: number;
  kind: OpKind;
  key: string;
  call: number;
  /** `Infinity` when nothing bounds it (an unknown outcome nobody observed). */
  ret: number;
  /**
   * `ok`: it happened, with the result below. `unknown`: it may have happened (once, at some point
   * between `call` and `ret`) or not at all; for a cas, with either branch.
   */
  outcome: 'ok' | 'unknown';
  value?: string;
  expect?: string | null;
  /** get: value read; cas (failed): value found by the failure branch, when it read one. */
  read?: string | null;
  deleted?: number;
  succeeded?: boolean;
}

const uniq = (a: RegState, b: RegState): RegState[] => (a === b ? [a] : [a, b]);

/**
 * The states the register can be in after `op` runs in `state`; empty when `op` could not have
 * returned what it returned from that state.
 */
export function step(state: RegState, op: LinOp): RegState[] {
  const known = op.outcome === 'ok';
  switch (op.kind) {
    case 'get':
      // An unknown read has no effect and says nothing: callers leave it out.
      return !known || state === op.read ? [state] : [];
    case 'put':
      return known ? [op.value!] : uniq(op.value!, state);
    case 'delete':
      if (!known) return uniq(null, state);
      if (op.deleted !== undefined && (state !== null) !== op.deleted > 0) return [];
      return [null];
    case 'cas': {
      const holds = state === (op.expect ?? null);
      if (!known) return holds ? uniq(op.value!, state) : [state];
      if (op.succeeded) return holds ? [op.value!] : [];
      if (holds) return [];
      return op.read === undefined || op.read === state ? [state] : [];
    }
  }
}

export const stateKey = (s: RegState): string => (s === null ? '\u0000' : s);
