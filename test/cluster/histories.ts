// Builders of crafted histories for the checker's tests, and a generator of random histories that
// are linearizable by construction (a simulated register with a linearization point inside every
// operation's interval).

import type { History, Op, OpKind, WatcherLog, WatchEvent } from '../../cluster-tests/checker/history.js';
import { Rng } from '../../cluster-tests/lib/rng.js';

let nextId = 1;

type OpSpec = Partial<Op> & { kind: OpKind; invoke: number };

/** An op with defaults: key "x", client 1, status ok, returning 1 ms after its invocation. */
export function op(spec: OpSpec): Op {
  const o: Op = { id: nextId++, client: 1, key: 'x', status: 'ok', ret: spec.invoke + 1, ...spec };
  if (o.status === 'unknown' && !('ret' in spec)) o.ret = undefined;
  return o;
}

export const put = (invoke: number, ret: number | undefined, value: string, more: Partial<Op> = {}): Op =>
  op({ kind: 'put', invoke, ret, value, ...(ret === undefined ? { status: 'unknown' } : {}), ...more });
export const get = (invoke: number, ret: number, read: string | null, more: Partial<Op> = {}): Op => op({ kind: 'get', invoke, ret, read, ...more });
export const del = (invoke: number, ret: number | undefined, deleted?: number, more: Partial<Op> = {}): Op =>
  op({ kind: 'delete', invoke, ret, deleted, ...(ret === undefined ? { status: 'unknown' } : {}), ...more });
export const cas = (invoke: number, ret: number | undefined, expect: string | null, value: string, succeeded?: boolean, more: Partial<Op> = {}): Op =>
  op({ kind: 'cas', invoke, ret, expect, value, succeeded, ...(ret === undefined ? { status: 'unknown' } : {}), ...more });

/** A history without watchers (unknown outcomes stay unknown). */
export function hist(ops: Op[], more: Partial<History> = {}): History {
  return { ops, watchers: [], baseRev: 1, finalRev: undefined, ...more };
}

export function watcher(id: number, startRev: number, events: WatchEvent[]): WatcherLog {
  return { id, startRev, events, sessions: [{ member: 'm1', startRev: startRev + 1, openedAt: 0 }] };
}

export const pev = (rev: number, key: string, value: string, at: number): WatchEvent => ({ type: 'put', key, value, rev, at });
export const dev = (rev: number, key: string, at: number): WatchEvent => ({ type: 'delete', key, rev, at });

/**
 * A random history that is linearizable by construction: `clients` clients on `keys` keys; each op
 * takes effect at a random instant inside its interval; revisions and watch events are those of a
 * real store. Some writes get an unknown outcome (they still happened, or not, at random).
 */
export function linearizableHistory(seed: number, n: number, clients = 5, keys = 2, unknownRate = 0.05): History {
  const rng = new Rng(seed);
  const state = new Map<string, string | null>();
  let rev = 1;
  const ops: Op[] = [];
  const events: WatchEvent[] = [];
  // Each client: the time its current op may start.
  const free = Array.from({ length: clients }, () => rng.range(0, 5));
  let seq = 0;
  // Build ops with [invoke, point, ret]; apply in order of points.
  const planned: { op: Op; point: number; happens: boolean }[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % clients;
    const invoke = free[c]!;
    const point = invoke + rng.range(0.1, 3);
    const ret = point + rng.range(0.1, 3);
    free[c] = ret + rng.range(0, 1);
    const kind = rng.weighted<OpKind>([[3, 'put'], [4, 'get'], [2, 'cas'], [1, 'delete']]);
    const key = `k${rng.int(0, keys - 1)}`;
    const o: Op = { id: 100000 + i, client: c + 1, kind, key, invoke, ret, status: 'ok' };
    if (kind === 'put' || kind === 'cas') o.value = `v${++seq}`;
    planned.push({ op: o, point, happens: true });
  }
  planned.sort((a, b) => a.point - b.point);
  const lastValues = new Map<string, string[]>();
  for (const p of planned) {
    const o = p.op;
    const cur = state.get(o.key) ?? null;
    const unknown = o.kind !== 'get' && rng.chance(unknownRate);
    if (unknown) p.happens = rng.chance(0.5);
    if (o.kind === 'cas') {
      const seen = lastValues.get(o.key) ?? [];
      o.expect = rng.chance(0.6) ? cur : rng.chance(0.5) || seen.length === 0 ? null : rng.pick(seen);
    }
    if (!p.happens) {
      o.status = 'unknown';
      o.ret = undefined;
      continue;
    }
    const write = (v: string | null) => {
      rev++;
      state.set(o.key, v);
      events.push(v === null ? { type: 'delete', key: o.key, rev, at: p.point + 0.01 } : { type: 'put', key: o.key, value: v, rev, at: p.point + 0.01 });
      if (v !== null) lastValues.set(o.key, [...(lastValues.get(o.key) ?? []), v].slice(-5));
    };
    switch (o.kind) {
      case 'put':
        write(o.value!);
        o.rev = rev;
        break;
      case 'get':
        o.read = cur;
        o.rev = rev;
        if (cur !== null) o.readModRev = modRev(events, o.key);
        break;
      case 'delete':
        o.deleted = cur === null ? 0 : 1;
        if (cur !== null) write(null);
        o.rev = rev;
        break;
      case 'cas':
        o.succeeded = cur === o.expect;
        if (o.succeeded) write(o.value!);
        else o.read = cur;
        o.rev = rev;
        break;
    }
    if (unknown) {
      o.status = 'unknown';
      o.ret = undefined;
      delete o.rev;
      delete o.deleted;
      delete o.succeeded;
      delete o.read;
    }
  }
  ops.push(...planned.map((p) => p.op).sort((a, b) => a.id - b.id));
  return { ops, watchers: [watcher(1, 1, events)], baseRev: 1, finalRev: rev };
}

function modRev(events: WatchEvent[], key: string): number {
  for (let i = events.length - 1; i >= 0; i--) if (events[i]!.key === key) return events[i]!.rev;
  return 0;
}
