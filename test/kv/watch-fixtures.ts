// Test fixtures for the watch hub: an in-memory WatchableSource that also plays the store (puts,
// deletes, txns, compaction, calling hub.notify), collecting sinks, fake timers, a seeded PRNG.
import { EventType, type Event, type KeyValue, type WatchResponse } from '../../src/kv/api.js';
import type { WatchableSource } from '../../src/kv/watch/source.js';
import type { WatchSink } from '../../src/server/service.js';
import type { Timers } from '../../src/kv/watch/progress.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array | undefined): string => (b ? new TextDecoder().decode(b) : '');

export interface Notifiable {
  notify(events: Event[], revision: number): void;
}

export type WriteOp = { put: string; value: string } | { del: string };

/** An MVCC store in miniature: a log of events by revision and the latest kv of each key. */
export class FakeStore implements WatchableSource {
  rev: number;
  compacted = 0;
  readonly log: Event[] = [];
  readonly kvs = new Map<string, KeyValue>();
  hub: Notifiable | undefined;
  /** Awaited at the start of every events() call (to interleave reads with writes). */
  readGate: (() => Promise<void>) | undefined;
  readonly readCalls: { from: number; to: number; limit: number; withPrevKv: boolean }[] = [];
  /** Throw from events() (once per entry) before anything else. */
  failNextReads = 0;

  constructor(startRev = 1) {
    this.rev = startRev;
  }

  currentRevision(): number {
    return this.rev;
  }

  compactedRevision(): number {
    return this.compacted;
  }

  async events(from: number, to: number, limit: number, withPrevKv: boolean): Promise<Event[]> {
    this.readCalls.push({ from, to, limit, withPrevKv });
    if (this.readGate) await this.readGate();
    if (this.failNextReads > 0) {
      this.failNextReads--;
      throw new Error('disk on fire');
    }
    if (from < this.compacted) throw new Error('mvcc: required revision has been compacted');
    const out: Event[] = [];
    for (const ev of this.log) {
      const r = ev.kv.mod_revision;
      if (r < from) continue;
      if (r > to) break;
      if (out.length >= limit && r !== out[out.length - 1].kv.mod_revision) break;
      out.push(withPrevKv || !ev.prev_kv ? ev : { type: ev.type, kv: ev.kv });
    }
    return out;
  }

  put(key: string, value: string): number {
    return this.txn([{ put: key, value }]);
  }

  del(key: string): number {
    return this.txn([{ del: key }]);
  }

  /** Applies ops as one revision (deletes of missing keys produce no event; no event = no revision). */
  txn(ops: WriteOp[]): number {
    const rev = this.rev + 1;
    const evs: Event[] = [];
    for (const op of ops) {
      if ('put' in op) {
        const prev = this.kvs.get(op.put);
        const kv: KeyValue = {
          key: enc(op.put),
          create_revision: prev ? prev.create_revision : rev,
          mod_revision: rev,
          version: prev ? prev.version + 1 : 1,
          value: enc(op.value),
          lease: 0n,
        };
        this.kvs.set(op.put, kv);
        evs.push(prev ? { type: EventType.PUT, kv, prev_kv: prev } : { type: EventType.PUT, kv });
      } else {
        const prev = this.kvs.get(op.del);
        if (!prev) continue;
        this.kvs.delete(op.del);
        const kv: KeyValue = { key: enc(op.del), create_revision: 0, mod_revision: rev, version: 0, value: new Uint8Array(0), lease: 0n };
        evs.push({ type: EventType.DELETE, kv, prev_kv: prev });
      }
    }
    if (evs.length === 0) return this.rev;
    this.rev = rev;
    this.log.push(...evs);
    this.hub?.notify(evs, rev);
    return rev;
  }

  compact(rev: number): void {
    this.compacted = rev;
  }
}

/** A sink that records every response; `until(pred)` resolves when pred holds (checked per response). */
export class Collector {
  readonly got: WatchResponse[] = [];
  private waiters: { pred: () => boolean; resolve: () => void }[] = [];
  /** When set, the sink returns this function's promise (backpressure). */
  delay: ((r: WatchResponse) => Promise<void> | void) | undefined;

  readonly sink: WatchSink = (r) => {
    this.got.push(r);
    this.check();
    return this.delay?.(r);
  };

  check(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred()) return true;
      w.resolve();
      return false;
    });
  }

  until(pred: () => boolean, what = 'condition', ms = 5000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      this.waiters.push({
        pred,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Responses for one watch id. */
  of(id: number): WatchResponse[] {
    return this.got.filter((r) => r.watch_id === id);
  }

  /** Every event received for a watch id, in order. */
  events(id: number): Event[] {
    return this.of(id).flatMap((r) => r.events);
  }
}

/** A promise that resolves when `release()` is called (for a slow sink or a held read). */
export class Gate {
  private waiting: (() => void)[] = [];
  private arrivals: (() => void)[] = [];
  open = false;
  wait(): Promise<void> {
    if (this.open) return Promise.resolve();
    const p = new Promise<void>((r) => this.waiting.push(r));
    for (const a of this.arrivals.splice(0)) a();
    return p;
  }
  /** Resolves when someone is waiting at the gate (at once if someone already is). */
  arrival(): Promise<void> {
    if (this.waiting.length > 0) return Promise.resolve();
    return new Promise((r) => this.arrivals.push(r));
  }
  get pending(): number {
    return this.waiting.length;
  }
  /** Lets every current waiter through (keeps the gate closed for later ones). */
  release(): void {
    for (const r of this.waiting.splice(0)) r();
  }
  openAll(): void {
    this.open = true;
    this.release();
  }
}

/** Timers under test control: intervals fire only through tick(). */
export class FakeTimers implements Timers {
  private next = 1;
  readonly intervals = new Map<number, () => void>();
  readonly timeouts = new Map<number, () => void>();
  setInterval(fn: () => void): unknown {
    const id = this.next++;
    this.intervals.set(id, fn);
    return id;
  }
  clearInterval(h: unknown): void {
    this.intervals.delete(h as number);
  }
  setTimeout(fn: () => void): unknown {
    const id = this.next++;
    this.timeouts.set(id, fn);
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timeouts.delete(h as number);
  }
  tickIntervals(): void {
    for (const fn of [...this.intervals.values()]) fn();
  }
  runTimeouts(): void {
    const fns = [...this.timeouts.values()];
    this.timeouts.clear();
    for (const fn of fns) fn();
  }
}

export { seededRandom as rng } from '../support/seeded-random.js';

/** Lets the event loop turn n times (setImmediate), so that pending I/O-like callbacks interleave. */
export async function hops(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}

export function revs(events: Event[]): number[] {
  return events.map((e) => e.kv.mod_revision);
}
