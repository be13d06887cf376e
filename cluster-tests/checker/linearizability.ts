// Linearizability checking of a key/value history: the Wing & Gong search with Lowe's memoization
// of (linearized set, state) configurations, as porcupine and Knossos do it.
//
// - P-compositionality: a history is linearizable iff the sub-history of each key is, so each key
//   is checked alone.
// - Each key's history is cut at quiescent points (instants when no operation is in flight): every
//   operation before such a point precedes every one after it in any linearization, so the pieces
//   are checked in order, each from every state the previous piece can end in. This keeps the
//   search and its cache small on long runs.
// - Unknown outcomes: an operation with `outcome: 'unknown'` may take effect at any point after its
//   call and before its `ret` (Infinity when nothing bounds it), or never.

import { step, stateKey, type LinOp, type RegState } from './model.js';

export interface LinearizabilityFailure {
  key: string;
  /** The operations of the piece of history that has no linearization. */
  ops: LinOp[];
  /** The states the key could be in when that piece began. */
  startStates: RegState[];
  /** The longest sequence of operations of the piece that could be linearized (ids). */
  longestPrefix: number[];
  /** The state after that prefix. */
  stateAfterPrefix: RegState;
  /** An operation that had to be linearized next (its return came) and could not be. */
  stuckOp?: LinOp;
}

export interface KeyResult {
  key: string;
  ok: boolean;
  /** The search gave up (too many configurations): neither proven nor refuted. */
  inconclusive?: boolean;
  failure?: LinearizabilityFailure;
  ops: number;
  pieces: number;
  configurations: number;
}

export interface LinearizabilityOptions {
  /** Give up on a piece after this many distinct configurations. */
  maxConfigurations?: number;
  /** The key's state before the first operation (default: the key does not exist). */
  initial?: RegState;
}

interface Entry {
  isCall: boolean;
  time: number;
  op: LinOp;
  /** Index of the op within its piece (its bit in the linearized set). */
  idx: number;
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

/** Splits operations (sorted by call) at the instants when none is in flight. */
export function quiescentPieces(ops: LinOp[]): LinOp[][] {
  const sorted = [...ops].sort((a, b) => a.call - b.call || a.id - b.id);
  const pieces: LinOp[][] = [];
  let cur: LinOp[] = [];
  let maxRet = -Infinity;
  for (const op of sorted) {
    if (cur.length > 0 && op.call > maxRet) {
      pieces.push(cur);
      cur = [];
    }
    cur.push(op);
    maxRet = Math.max(maxRet, op.ret);
  }
  if (cur.length > 0) pieces.push(cur);
  return pieces;
}

class PieceSearch {
  readonly head: Entry;
  readonly words: Uint32Array;
  readonly seen = new Set<string>();
  readonly finals = new Map<string, RegState>();
  best: { count: number; path: number[]; state: RegState; stuck?: LinOp } = { count: -1, path: [], state: null };
  exhausted = false;
  /** Operations with a finite return not linearized yet. */
  boundedLeft: number;

  constructor(
    readonly ops: LinOp[],
    readonly maxConfigurations: number,
    /** Stop at the first complete linearization (without unwinding: the search is not reused). */
    readonly firstOnly = false,
  ) {
    const entries: Entry[] = [];
    ops.forEach((op, idx) => {
      const call: Entry = { isCall: true, time: op.call, op, idx, match: null, prev: null, next: null };
      const ret: Entry = { isCall: false, time: op.ret, op, idx, match: null, prev: null, next: null };
      call.match = ret;
      entries.push(call, ret);
    });
    // By time; at equal times calls first, so that touching operations count as concurrent.
    entries.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.idx - b.idx : a.isCall ? -1 : 1));
    this.head = { isCall: false, time: -Infinity, op: ops[0]!, idx: -1, match: null, prev: null, next: null };
    let prev = this.head;
    for (const e of entries) {
      e.prev = prev;
      prev.next = e;
      prev = e;
    }
    this.words = new Uint32Array(Math.ceil(ops.length / 32));
    this.boundedLeft = ops.filter((o) => o.ret !== Infinity).length;
  }

  private lift(e: Entry): void {
    e.prev!.next = e.next;
    if (e.next) e.next.prev = e.prev;
    const m = e.match!;
    m.prev!.next = m.next;
    if (m.next) m.next.prev = m.prev;
  }

  private unlift(e: Entry): void {
    const m = e.match!;
    m.prev!.next = m;
    if (m.next) m.next.prev = m;
    e.prev!.next = e;
    if (e.next) e.next.prev = e;
  }

  private configKey(state: RegState, mustUse: RegState | undefined): string {
    let k = '';
    for (let i = 0; i < this.words.length; i++) k += this.words[i]!.toString(36) + ',';
    return k + stateKey(state) + (mustUse === undefined ? '\u0001' : '\u0002' + stateKey(mustUse));
  }

  /**
   * Explores every linearization of the piece from `initial`; adds the end states to `finals`.
   *
   * Unknown operations that nothing bounds (ret = Infinity) are handled lazily, which keeps the
   * search from trying every subset of them at every point: such an operation is only linearized
   * where it matters, i.e. when the operation linearized right after it could not have done the
   * same thing without it. Any linearization can be reduced to one of that form by dropping the
   * unbounded unknown operations that do not matter (they may not have happened), so nothing is
   * lost. For the same reason they never take their "did nothing" alternative, and the search
   * succeeds once every bounded operation is linearized.
   */
  run(initial: RegState): void {
    interface Frame {
      entry: Entry;
      prevState: RegState;
      alts: RegState[];
      alt: number;
      /** The constraint in force before this op was linearized. */
      prevMustUse: RegState | undefined;
    }
    const stack: Frame[] = [];
    let state = initial;
    let entry: Entry | null = this.head.next;
    /** Set after an unbounded unknown op: the state before it (the next op must need it). */
    let mustUse: RegState | undefined;

    const tryFrom = (e: Entry, alts: RegState[], from: number): boolean => {
      const bit = 1 << (e.idx & 31);
      const w = e.idx >>> 5;
      this.words[w] = this.words[w]! | bit;
      const unbounded = e.op.ret === Infinity;
      for (let i = from; i < alts.length; i++) {
        const next = unbounded ? state : undefined;
        const key = this.configKey(alts[i]!, next);
        if (this.seen.has(key) || (next !== undefined && this.seen.has(this.configKey(alts[i]!, undefined)))) continue;
        if (this.seen.size >= this.maxConfigurations) {
          this.exhausted = true;
          this.words[w] = this.words[w]! & ~bit;
          return false;
        }
        this.seen.add(key);
        stack.push({ entry: e, prevState: state, alts, alt: i, prevMustUse: mustUse });
        state = alts[i]!;
        mustUse = next;
        if (!unbounded) this.boundedLeft--;
        this.lift(e);
        return true;
      }
      this.words[w] = this.words[w]! & ~bit;
      return false;
    };

    const alternatives = (e: Entry): RegState[] => {
      const unbounded = e.op.ret === Infinity;
      let alts = step(state, e.op);
      if (unbounded) alts = alts.filter((a) => a !== state);
      if (mustUse !== undefined && alts.length > 0) {
        const before = mustUse;
        const without = step(before, e.op).filter((a) => !unbounded || a !== before);
        alts = alts.filter((a) => !without.includes(a));
      }
      return alts;
    };

    /** Undoes the last choice and tries the next one; false when there is none left. */
    const backtrack = (): boolean => {
      while (stack.length > 0) {
        const f = stack.pop()!;
        this.unlift(f.entry);
        const w = f.entry.idx >>> 5;
        this.words[w] = this.words[w]! & ~(1 << (f.entry.idx & 31));
        if (f.entry.op.ret !== Infinity) this.boundedLeft++;
        state = f.prevState;
        mustUse = f.prevMustUse;
        if (this.exhausted) return false;
        if (tryFrom(f.entry, f.alts, f.alt + 1)) {
          entry = this.head.next;
          return true;
        }
        if (this.exhausted) return false;
        entry = f.entry.next;
        return true;
      }
      return false;
    };

    for (;;) {
      if (this.boundedLeft === 0) {
        this.finals.set(stateKey(state), state);
        if (this.firstOnly) return;
        if (!backtrack()) return;
        continue;
      }
      if (entry === null) {
        // Every call left in the list was tried: only reachable when returns are all lifted.
        if (!backtrack()) return;
        continue;
      }
      if (entry.isCall) {
        const alts = alternatives(entry);
        if (alts.length > 0 && tryFrom(entry, alts, 0)) {
          entry = this.head.next;
          continue;
        }
        if (this.exhausted) return;
        entry = entry.next;
        continue;
      }
      // A return: its operation must be linearized before anything after it; it was not.
      if (stack.length > this.best.count) {
        this.best = { count: stack.length, path: stack.map((f) => f.entry.op.id), state, stuck: entry.op };
      }
      if (!backtrack()) return;
    }
  }
}

/** Checks the operations of one key. */
export function checkKey(key: string, ops: LinOp[], opts: LinearizabilityOptions = {}): KeyResult {
  const maxConfigurations = opts.maxConfigurations ?? 2_000_000;
  const pieces = quiescentPieces(ops);
  let states = new Map<string, RegState>([[stateKey(opts.initial ?? null), opts.initial ?? null]]);
  let configurations = 0;
  for (const [i, piece] of pieces.entries()) {
    // The states a piece can end in are needed for the next piece only: one linearization of the
    // last piece is enough.
    const search = new PieceSearch(piece, maxConfigurations, i === pieces.length - 1);
    for (const s of states.values()) {
      search.run(s);
      if (search.exhausted || (search.firstOnly && search.finals.size > 0)) break;
    }
    configurations += search.seen.size;
    if (search.exhausted) {
      return { key, ok: false, inconclusive: true, ops: ops.length, pieces: pieces.length, configurations };
    }
    if (search.finals.size === 0) {
      return {
        key,
        ok: false,
        ops: ops.length,
        pieces: pieces.length,
        configurations,
        failure: {
          key,
          ops: piece,
          startStates: [...states.values()],
          longestPrefix: search.best.path,
          stateAfterPrefix: search.best.state,
          stuckOp: search.best.stuck,
        },
      };
    }
    states = search.finals;
  }
  return { key, ok: true, ops: ops.length, pieces: pieces.length, configurations };
}

/** Checks every key (P-compositionality). */
export function checkLinearizable(ops: LinOp[], opts: LinearizabilityOptions = {}): KeyResult[] {
  const byKey = new Map<string, LinOp[]>();
  for (const op of ops) {
    let list = byKey.get(op.key);
    if (!list) byKey.set(op.key, (list = []));
    list.push(op);
  }
  return [...byKey.keys()].sort().map((k) => checkKey(k, byKey.get(k)!, opts));
}
