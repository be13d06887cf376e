// Checks a recorded history: watch properties, resolution of unknown outcomes, revision order, and
// linearizability of each key.
//
// Unknown outcomes are resolved with the watchers when their events are complete: the workload
// watches its whole prefix from the first revision of the run, every revision of the run is one of
// its writes, and every write writes a unique value. So when the watchers' events cover every
// revision up to the final one, a write whose value appears in them committed (no later than the
// event was received), and one whose value does not appear never did. The completeness itself is
// checked (`revision-gap`), so that a watch that loses events cannot hide a lost write. Without
// complete events, unknown writes stay unknown (they may take effect at any time, or never).

import type { Anomaly } from './anomaly.js';
import { describeOp, type History, type Op, type OpKind, type WatchEvent } from './history.js';
import { checkLinearizable, type KeyResult } from './linearizability.js';
import type { LinOp } from './model.js';

export interface CheckOptions {
  /** Give up on a piece of a key's history after this many configurations (default 2,000,000). */
  maxConfigurations?: number;
  /** Report at most this many anomalies of one type (default 5); the count is still given. */
  maxPerType?: number;
}

export interface CheckStats {
  ops: number;
  byKind: Record<OpKind, { ok: number; fail: number; unknown: number }>;
  /** Unknown writes found committed, found not committed, and left unknown. */
  unknownCommitted: number;
  unknownNotCommitted: number;
  unknownUnresolved: number;
  watchEvents: number;
  watchers: number;
  watchReconnects: number;
  /** Whether the watchers' events covered every revision up to the final one. */
  watchComplete: boolean;
  keys: KeyResult[];
}

export interface CheckReport {
  /** What became of each unknown write (by op id). */
  resolution: Map<number, 'committed' | 'not committed' | 'unresolved'>;
  anomalies: Anomaly[];
  /** Anomalies per type, counting those left out of `anomalies`. */
  counts: Record<string, number>;
  stats: CheckStats;
}

const changesStore = (op: Op): boolean =>
  op.status === 'ok' &&
  ((op.kind === 'put') || (op.kind === 'cas' && op.succeeded === true) || (op.kind === 'delete' && (op.deleted ?? 0) > 0));

const evDesc = (e: WatchEvent, watcher?: number): string =>
  `${watcher !== undefined ? `w${watcher} ` : ''}event rev=${e.rev} at ${e.at.toFixed(1)}: ${e.type} ${e.key}${e.type === 'put' ? ` = ${JSON.stringify(e.value)}` : ''}`;

class Anomalies {
  readonly list: Anomaly[] = [];
  readonly counts: Record<string, number> = {};
  constructor(private readonly maxPerType: number) {}
  add(a: Anomaly): void {
    const n = (this.counts[a.type] ?? 0) + 1;
    this.counts[a.type] = n;
    if (n <= this.maxPerType) this.list.push(a);
  }
}

export function checkHistory(h: History, opts: CheckOptions = {}): CheckReport {
  const out = new Anomalies(opts.maxPerType ?? 5);
  const ops = h.ops;
  const byId = new Map(ops.map((o) => [o.id, o]));

  // ---- the writes, by the unique value each one writes ------------------------------------
  const writers = new Map<string, Op>();
  for (const op of ops) {
    if ((op.kind === 'put' || op.kind === 'cas') && op.value !== undefined) {
      if (writers.has(op.value)) throw new Error(`history: value ${op.value} written by #${writers.get(op.value)!.id} and #${op.id}`);
      writers.set(op.value, op);
    }
  }
  const ackedDeleteByRev = new Map<number, Op>();
  for (const op of ops) if (op.kind === 'delete' && changesStore(op) && op.rev !== undefined) ackedDeleteByRev.set(op.rev, op);

  // ---- watch: order, union, divergence ---------------------------------------------------
  const union = new Map<number, { ev: WatchEvent; watcher: number; at: number }>();
  const valueRevs = new Map<string, { rev: number; at: number }>();
  let watchEvents = 0;
  for (const w of h.watchers) {
    let last = w.startRev;
    let reported = false;
    for (const ev of w.events) {
      watchEvents++;
      if (ev.rev <= last && !reported) {
        reported = true;
        out.add({
          type: 'watch-order',
          message: `watcher w${w.id} received revision ${ev.rev} after revision ${last}`,
          key: ev.key,
          excerpt: w.events.filter((e) => Math.abs(e.rev - ev.rev) <= 2 || e === ev).map((e) => evDesc(e, w.id)),
        });
      }
      last = Math.max(last, ev.rev);
      const u = union.get(ev.rev);
      if (!u) union.set(ev.rev, { ev, watcher: w.id, at: ev.at });
      else {
        u.at = Math.min(u.at, ev.at);
        if (u.ev.type !== ev.type || u.ev.key !== ev.key || u.ev.value !== ev.value) {
          out.add({
            type: 'watch-divergence',
            message: `watchers w${u.watcher} and w${w.id} saw different events at revision ${ev.rev}`,
            key: ev.key,
            excerpt: [evDesc(u.ev, u.watcher), evDesc(ev, w.id)],
          });
        }
      }
    }
  }
  for (const [rev, u] of union) {
    if (u.ev.type !== 'put' || u.ev.value === undefined) continue;
    const prev = valueRevs.get(u.ev.value);
    if (prev && prev.rev !== rev) {
      out.add({
        type: 'duplicate-apply',
        message: `value ${JSON.stringify(u.ev.value)} was written at revisions ${prev.rev} and ${rev}`,
        key: u.ev.key,
        excerpt: [evDesc(u.ev, u.watcher), ...(writers.has(u.ev.value) ? [describeOp(writers.get(u.ev.value)!)] : [])],
      });
    }
    if (!prev || prev.rev > rev) valueRevs.set(u.ev.value, { rev, at: u.at });
  }

  // ---- events match writes ---------------------------------------------------------------
  const unmatchedDeletes: { ev: WatchEvent; at: number }[] = [];
  for (const [rev, u] of [...union].sort((a, b) => a[0] - b[0])) {
    const ev = u.ev;
    if (ev.type === 'put') {
      const w = ev.value === undefined ? undefined : writers.get(ev.value);
      const problem = !w
        ? 'no operation wrote this value'
        : w.key !== ev.key
          ? `the value was written to ${w.key} by #${w.id}`
          : u.at < w.invoke
            ? `received at ${u.at.toFixed(1)}, before #${w.id} that writes it was invoked`
            : w.status === 'ok' && w.kind === 'cas' && !w.succeeded
              ? `#${w.id} that would write it is a cas that failed`
              : w.status === 'ok' && w.rev !== undefined && w.rev !== rev
                ? `#${w.id} that wrote it was acknowledged at revision ${w.rev}`
                : w.status === 'fail'
                  ? `#${w.id} that would write it failed`
                  : undefined;
      if (problem) {
        out.add({ type: 'watch-mismatch', message: `event at revision ${rev}: ${problem}`, key: ev.key, excerpt: [evDesc(ev, u.watcher), ...(w ? [describeOp(w)] : [])] });
      }
    } else {
      const d = ackedDeleteByRev.get(rev);
      if (d) {
        if (d.key !== ev.key) {
          out.add({ type: 'watch-mismatch', message: `delete event at revision ${rev} is for ${ev.key}; the delete acknowledged at that revision was of ${d.key}`, key: ev.key, excerpt: [evDesc(ev, u.watcher), describeOp(d)] });
        }
      } else unmatchedDeletes.push({ ev, at: u.at });
    }
  }
  for (const op of ops) {
    if (changesStore(op) && op.rev !== undefined) {
      const u = union.get(op.rev);
      const expected = op.kind === 'delete' ? `delete ${op.key}` : `put ${op.key} = ${JSON.stringify(op.value)}`;
      if (u && (u.ev.key !== op.key || u.ev.type !== (op.kind === 'delete' ? 'delete' : 'put') || (op.kind !== 'delete' && u.ev.value !== op.value))) {
        out.add({ type: 'watch-mismatch', message: `revision ${op.rev} was acknowledged for ${expected}; the watchers saw another event there`, key: op.key, excerpt: [describeOp(op), evDesc(u.ev, u.watcher)] });
      }
    }
  }

  // ---- completeness: every revision of the run was seen -----------------------------------
  let hi = h.finalRev ?? h.baseRev;
  for (const rev of union.keys()) hi = Math.max(hi, rev);
  const ackedByRev = new Map<number, Op>();
  for (const op of ops) {
    if (changesStore(op) && op.rev !== undefined) {
      ackedByRev.set(op.rev, op);
      hi = Math.max(hi, op.rev);
    }
  }
  const lo = h.watchers.reduce((m, w) => Math.min(m, w.startRev), h.watchers.length > 0 ? Infinity : hi);
  let watchComplete = h.watchers.length > 0 && h.finalRev !== undefined;
  if (h.watchers.length > 0) {
    let gapStart: number | undefined;
    const flush = (end: number) => {
      if (gapStart === undefined) return;
      const acked = [];
      for (let r = gapStart; r <= end; r++) if (ackedByRev.has(r)) acked.push(describeOp(ackedByRev.get(r)!));
      out.add({
        type: 'revision-gap',
        message: `revision${gapStart === end ? ` ${gapStart} was` : `s ${gapStart}..${end} were`} seen by no watcher${acked.length ? ` (${acked.length} acknowledged write(s) among them)` : ''}`,
        excerpt: acked.slice(0, 10),
      });
      gapStart = undefined;
    };
    for (let r = lo + 1; r <= hi; r++) {
      if (!union.has(r)) {
        watchComplete = false;
        if (gapStart === undefined) gapStart = r;
      } else flush(r - 1);
    }
    flush(hi);

    // each watcher: no gap within what it covered, and caught up at the end
    for (const w of h.watchers) {
      const seen = new Set(w.events.map((e) => e.rev));
      const last = w.events.reduce((m, e) => Math.max(m, e.rev), w.startRev);
      const missing: number[] = [];
      for (let r = w.startRev + 1; r <= last; r++) if (union.has(r) && !seen.has(r)) missing.push(r);
      if (missing.length > 0) {
        out.add({
          type: 'watch-gap',
          message: `watcher w${w.id} missed ${missing.length} event(s) between revisions ${w.startRev + 1} and ${last}: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''}`,
          excerpt: [
            ...w.sessions.map((s) => `w${w.id} session on ${s.member} from rev ${s.startRev}, ${s.openedAt.toFixed(1)} .. ${s.closedAt?.toFixed(1) ?? 'end'}${s.reason ? ` (${s.reason})` : ''}`),
            ...missing.slice(0, 5).map((r) => evDesc(union.get(r)!.ev, union.get(r)!.watcher)),
          ],
        });
      }
      if (h.finalRev !== undefined && last < h.finalRev) {
        out.add({
          type: 'watch-incomplete',
          message: `watcher w${w.id} reached revision ${last}, not the final revision ${h.finalRev}`,
          excerpt: w.sessions.map((s) => `w${w.id} session on ${s.member} from rev ${s.startRev}, ${s.openedAt.toFixed(1)} .. ${s.closedAt?.toFixed(1) ?? 'end'}${s.reason ? ` (${s.reason})` : ''}`),
        });
      }
    }
  }

  // ---- reads: of written values, at their revisions ---------------------------------------
  const revOfValue = (v: string): number | undefined => {
    const w = writers.get(v);
    if (w && w.status === 'ok' && w.rev !== undefined && (w.kind === 'put' || w.succeeded)) return w.rev;
    return valueRevs.get(v)?.rev;
  };
  const observers = new Map<string, Op[]>();
  for (const op of ops) {
    if (op.status !== 'ok') continue;
    const seenValues: string[] = [];
    if ((op.kind === 'get' || (op.kind === 'cas' && !op.succeeded)) && typeof op.read === 'string') seenValues.push(op.read);
    if (op.kind === 'cas' && op.succeeded && typeof op.expect === 'string') seenValues.push(op.expect);
    for (const v of seenValues) {
      let l = observers.get(v);
      if (!l) observers.set(v, (l = []));
      l.push(op);
      const w = writers.get(v);
      if (!w || w.key !== op.key) {
        out.add({
          type: 'read-of-unwritten-value',
          message: `#${op.id} saw ${JSON.stringify(v)} in ${op.key}, a value ${w ? `written to ${w.key}` : 'never written'}`,
          key: op.key,
          excerpt: [describeOp(op), ...(w ? [describeOp(w)] : [])],
        });
      }
    }
    if (op.kind === 'get' && typeof op.read === 'string' && op.readModRev !== undefined) {
      const r = revOfValue(op.read);
      if (r !== undefined && r !== op.readModRev) {
        out.add({
          type: 'read-revision-mismatch',
          message: `#${op.id} read ${JSON.stringify(op.read)} with mod_revision ${op.readModRev}; it was written at revision ${r}`,
          key: op.key,
          excerpt: [describeOp(op), describeOp(writers.get(op.read)!)],
        });
      }
    }
  }

  // ---- revisions against real time (across keys) -----------------------------------------
  {
    const withRev = ops.filter((o) => o.status === 'ok' && o.rev !== undefined && o.ret !== undefined);
    const byInvoke = [...withRev].sort((a, b) => a.invoke - b.invoke);
    const byRet = [...withRev].sort((a, b) => a.ret! - b.ret!);
    let p = 0;
    let max: Op | undefined;
    for (const b of byInvoke) {
      while (p < byRet.length && byRet[p]!.ret! < b.invoke) {
        const a = byRet[p++]!;
        if (!max || a.rev! > max.rev!) max = a;
      }
      if (!max) continue;
      const creates = changesStore(b);
      if (b.rev! < max.rev! || (creates && b.rev! <= max.rev!)) {
        out.add({
          type: 'stale-revision',
          message: `#${b.id} (invoked at ${b.invoke.toFixed(1)}) ${creates ? 'wrote at' : 'saw'} revision ${b.rev}, but #${max.id} had already returned revision ${max.rev} at ${max.ret!.toFixed(1)}`,
          key: b.key,
          excerpt: [describeOp(max), describeOp(b)],
        });
      }
    }
  }

  // ---- unknown outcomes ------------------------------------------------------------------
  // Delete events that no acknowledged delete made were made by unknown deletes: an event with one
  // possible maker resolves it (and removes it from the others' candidates), repeatedly.
  // Each unknown delete makes at most one event, so the events must have distinct makers.
  const deleteMaker = new Map<number, { ev: WatchEvent; at: number }>();
  {
    const unknownDeletes = ops.filter((o) => o.kind === 'delete' && o.status === 'unknown');
    const candidates = (d: { ev: WatchEvent; at: number }) => unknownDeletes.filter((o) => !deleteMaker.has(o.id) && o.key === d.ev.key && o.invoke <= d.at);
    let open = [...unmatchedDeletes];
    for (let changed = true; changed; ) {
      changed = false;
      for (const d of open) {
        const cands = candidates(d);
        if (cands.length === 1) {
          deleteMaker.set(cands[0]!.id, d);
          open = open.filter((x) => x !== d);
          changed = true;
          break;
        }
      }
    }
    const matched = maxMatching(open.map((d) => candidates(d).map((o) => o.id)));
    if (matched < open.length) {
      const lonely = open.filter((d) => candidates(d).length === 0);
      const shown = lonely.length > 0 ? lonely : open;
      out.add({
        type: 'watch-mismatch',
        message:
          lonely.length > 0
            ? `delete event${lonely.length > 1 ? 's' : ''} at revision${lonely.length > 1 ? 's' : ''} ${lonely.map((d) => d.ev.rev).join(', ')}: no delete of the history could have made ${lonely.length > 1 ? 'them' : 'it'} (acknowledged deletes have other revisions; each unknown delete makes at most one event)`
            : `${open.length} delete events but only ${matched} unknown deletes could have made them`,
        key: shown[0]!.ev.key,
        excerpt: [
          ...shown.slice(0, 5).map((d) => evDesc(d.ev)),
          ...[...deleteMaker].filter(([, d]) => shown.some((x) => x.ev.key === d.ev.key)).slice(0, 5).map(([id, d]) => `  ${describeOp(byId.get(id)!)}   [made the delete event at revision ${d.ev.rev}]`),
        ],
      });
    }
    if (!watchComplete) deleteMaker.clear();
  }
  const lin: LinOp[] = [];
  let unknownCommitted = 0;
  let unknownNotCommitted = 0;
  let unknownUnresolved = 0;
  const resolvedNote = new Map<number, string>();
  const resolution: CheckReport['resolution'] = new Map();
  for (const op of ops) {
    if (op.status === 'fail') continue;
    if (op.kind === 'get') {
      if (op.status === 'ok') lin.push(toLin(op, op.ret!));
      continue;
    }
    if (op.status === 'ok') {
      lin.push(toLin(op, op.ret!));
      continue;
    }
    // an unknown write
    if (op.kind === 'put' || op.kind === 'cas') {
      const ev = valueRevs.get(op.value!);
      let bound = ev ? ev.at : Infinity;
      // Without complete watches, a read that saw the value proves it committed. With them, a value
      // that no event shows never committed, whatever a read said (such a read is then an anomaly).
      if (!watchComplete) for (const o of observers.get(op.value!) ?? []) bound = Math.min(bound, o.ret!);
      if (bound < Infinity) {
        unknownCommitted++;
        resolution.set(op.id, 'committed');
        resolvedNote.set(op.id, `committed${ev ? ` at revision ${ev.rev}` : ''}, by ${bound.toFixed(1)}`);
        lin.push({ ...toLin(op, Math.max(bound, op.invoke)), outcome: 'ok', succeeded: op.kind === 'cas' ? true : undefined, read: undefined });
      } else if (watchComplete) {
        unknownNotCommitted++;
        resolution.set(op.id, 'not committed');
        resolvedNote.set(op.id, 'not committed');
      } else {
        unknownUnresolved++;
        resolution.set(op.id, 'unresolved');
        lin.push(toLin(op, Infinity));
      }
      continue;
    }
    // an unknown delete: it changed the store only if it made one of the unexplained delete events
    if (!watchComplete) {
      unknownUnresolved++;
      resolution.set(op.id, 'unresolved');
      lin.push(toLin(op, Infinity));
      continue;
    }
    const made = deleteMaker.get(op.id);
    if (made) {
      unknownCommitted++;
      resolution.set(op.id, 'committed');
      resolvedNote.set(op.id, `committed at revision ${made.ev.rev}, by ${made.at.toFixed(1)}`);
      lin.push({ ...toLin(op, Math.max(made.at, op.invoke)), outcome: 'ok', deleted: 1 });
    } else if (!unmatchedDeletes.some((d) => d.ev.key === op.key && d.at >= op.invoke)) {
      unknownNotCommitted++;
      resolution.set(op.id, 'not committed');
      resolvedNote.set(op.id, 'made no delete event');
    } else {
      // One of several that may have made some event: unknown, unbounded (sound, a bit weaker).
      unknownUnresolved++;
      resolution.set(op.id, 'unresolved');
      lin.push(toLin(op, Infinity));
    }
  }

  // ---- linearizability, key by key --------------------------------------------------------
  const keys = checkLinearizable(lin, { maxConfigurations: opts.maxConfigurations });
  for (const k of keys) {
    if (k.inconclusive) {
      out.add({ type: 'inconclusive', key: k.key, message: `${k.key}: the linearizability search gave up after ${k.configurations} configurations` });
      continue;
    }
    if (!k.failure) continue;
    const f = k.failure;
    const stuck = f.stuckOp;
    const piece = [...f.ops].sort((a, b) => a.call - b.call);
    let window = piece;
    if (piece.length > 40) {
      const at = stuck ? piece.findIndex((o) => o.id === stuck.id) : piece.length - 1;
      window = piece.slice(Math.max(0, at - 30), at + 10);
    }
    const line = (l: LinOp) => {
      const note = resolvedNote.get(l.id);
      return describeOp(byId.get(l.id)!) + (note ? `   [${note}${l.ret < Infinity ? `; must take effect by ${l.ret.toFixed(1)}` : ''}]` : '');
    };
    const sv = (s: string | null) => (s === null ? 'nil' : JSON.stringify(s));
    const related: string[] = [];
    if (stuck) {
      const o = byId.get(stuck.id)!;
      for (const v of [o.read, o.expect]) {
        const w = typeof v === 'string' ? writers.get(v) : undefined;
        if (w && !window.some((l) => l.id === w.id)) related.push(`  (writer) ${describeOp(w)}${resolvedNote.has(w.id) ? `   [${resolvedNote.get(w.id)}]` : ''}`);
      }
    }
    // The operations just before the piece, which made its start states.
    const keyOps = lin.filter((l) => l.key === k.key).sort((a, b) => a.call - b.call);
    const firstIdx = keyOps.findIndex((l) => l.id === piece[0]!.id);
    const before = keyOps.slice(Math.max(0, firstIdx - 6), Math.max(0, firstIdx)).map((l) => `  (before) ${line(l)}`);
    out.add({
      type: 'not-linearizable',
      key: k.key,
      message:
        `${k.key}: no linearization of ${f.ops.length} concurrent operation(s) from state ${f.startStates.map(sv).join(' or ')}` +
        (stuck ? `; #${stuck.id} cannot take effect after the longest linearizable prefix (${f.longestPrefix.length} ops, ending in ${sv(f.stateAfterPrefix)})` : ''),
      excerpt: [
        ...before,
        ...(window.length < piece.length ? [`(${window.length} of the ${piece.length} operations of the piece)`] : []),
        ...window.map((l) => (stuck && l.id === stuck.id ? `> ${line(l)}` : `  ${line(l)}`)),
        ...related,
        `  longest linearizable prefix: ${f.longestPrefix.map((i) => `#${i}`).join(' ') || '(none)'}`,
      ],
    });
  }

  const byKind = { put: { ok: 0, fail: 0, unknown: 0 }, get: { ok: 0, fail: 0, unknown: 0 }, delete: { ok: 0, fail: 0, unknown: 0 }, cas: { ok: 0, fail: 0, unknown: 0 } };
  for (const op of ops) byKind[op.kind][op.status]++;
  return {
    resolution,
    anomalies: out.list,
    counts: out.counts,
    stats: {
      ops: ops.length,
      byKind,
      unknownCommitted,
      unknownNotCommitted,
      unknownUnresolved,
      watchEvents,
      watchers: h.watchers.length,
      watchReconnects: h.watchers.reduce((s, w) => s + Math.max(0, w.sessions.length - 1), 0),
      watchComplete,
      keys,
    },
  };
}

/** The size of a maximum matching of left nodes (each with its candidate right nodes). */
function maxMatching(cands: number[][]): number {
  const owner = new Map<number, number>();
  const tryAssign = (i: number, seen: Set<number>): boolean => {
    for (const r of cands[i]!) {
      if (seen.has(r)) continue;
      seen.add(r);
      const o = owner.get(r);
      if (o === undefined || tryAssign(o, seen)) {
        owner.set(r, i);
        return true;
      }
    }
    return false;
  };
  let n = 0;
  for (let i = 0; i < cands.length; i++) if (tryAssign(i, new Set())) n++;
  return n;
}

function toLin(op: Op, ret: number): LinOp {
  return {
    id: op.id,
    kind: op.kind,
    key: op.key,
    call: op.invoke,
    ret,
    outcome: op.status === 'ok' ? 'ok' : 'unknown',
    value: op.value,
    expect: op.expect,
    read: op.read,
    deleted: op.deleted,
    succeeded: op.succeeded,
  };
}
