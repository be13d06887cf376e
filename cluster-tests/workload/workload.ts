// The workload: concurrent clients, each with one operation in flight at a time (put, linearizable
// get, compare-and-swap txn, delete) on a small set of keys, and watchers of the whole key prefix
// that resume on another member after a failure. Everything is recorded for the checkers.

import type { History, Op, OpKind, WatcherLog, WatchEvent } from '../checker/history.js';
import { b64, errorText, openStream, post, unb64, type CallResult } from '../lib/http.js';
import { sleep, type Rng } from '../lib/rng.js';

export interface Endpoint {
  name: string;
  url: string;
}

export interface WorkloadOptions {
  clients: number;
  keys: number;
  watchers: number;
  /** Every key starts with it; watchers watch it. */
  prefix: string;
  /** A client gives up on an operation after this long (its outcome is then unknown). */
  timeoutMs: number;
  /** Pause between two operations of one client (uniform in [min, max] ms). */
  thinkMs: [number, number];
  mix: Record<OpKind, number>;
  rng: Rng;
  /** The members a client may talk to now (the current members, as a client's endpoint list). */
  endpoints: () => Endpoint[];
  /**
   * Deliberately unsafe: send gets as serializable reads (served from the member's own copy), while
   * still recording them as linearizable. A run with it must find anomalies under partitions.
   */
  unsafeSerializableReads?: boolean;
}

const now = () => performance.now();

export class Workload {
  readonly ops: Op[] = [];
  readonly watchers: WatcherLog[] = [];
  readonly keys: string[];
  baseRev = 1;
  /** The highest revision acknowledged to any client. */
  maxAckedRev = 0;
  private stopping = false;
  private clientLoops: Promise<void>[] = [];
  private watcherRunners: WatcherRunner[] = [];
  private nextId = 1;
  /** The last value some client saw in each key: what a cas compares with. */
  private readonly lastSeen = new Map<string, string | null>();
  private readonly recentValues = new Map<string, string[]>();

  constructor(readonly o: WorkloadOptions) {
    this.keys = Array.from({ length: o.keys }, (_, i) => `${o.prefix}k${i}`);
  }

  /** Reads the store's current revision (the run's writes come after it). */
  async init(timeoutMs = 20000): Promise<void> {
    const deadline = now() + timeoutMs;
    while (now() < deadline) {
      for (const e of this.o.endpoints()) {
        const r = await post(e.url, '/v3/kv/range', { key: b64(this.o.prefix), range_end: b64(prefixEnd(this.o.prefix)), count_only: true }, 2000);
        if (r.kind === 'answer' && r.status === 200) {
          this.baseRev = Number(r.body.header?.revision ?? 1);
          return;
        }
      }
      await sleep(200);
    }
    throw new Error('workload: no member answered a linearizable read');
  }

  start(): void {
    for (let w = 0; w < this.o.watchers; w++) {
      const log: WatcherLog = { id: w + 1, startRev: this.baseRev, events: [], sessions: [] };
      this.watchers.push(log);
      const r = new WatcherRunner(this, log, this.o.rng.fork());
      this.watcherRunners.push(r);
      r.run();
    }
    for (let c = 0; c < this.o.clients; c++) this.clientLoops.push(this.client(c + 1, this.o.rng.fork()));
  }

  /** Stops the clients; resolves when no operation is in flight (each ends within its timeout). */
  async stopClients(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.clientLoops);
  }

  /** Waits until every watcher has seen `rev` (reconnecting stalled ones); false on timeout. */
  async waitWatchers(rev: number, timeoutMs: number): Promise<boolean> {
    const ok = await Promise.all(this.watcherRunners.map((w) => w.waitFor(rev, timeoutMs)));
    return ok.every(Boolean);
  }

  stopWatchers(): void {
    for (const w of this.watcherRunners) w.stop();
  }

  history(finalRev: number | undefined): History {
    return { ops: this.ops, watchers: this.watchers, finalRev, baseRev: this.baseRev };
  }

  pickEndpoint(rng: Rng, avoid?: string): Endpoint | undefined {
    const eps = this.o.endpoints();
    const others = eps.filter((e) => e.name !== avoid);
    return others.length ? rng.pick(others) : eps[0];
  }

  private async client(client: number, rng: Rng): Promise<void> {
    let seq = 0;
    let ep = this.pickEndpoint(rng);
    while (!this.stopping) {
      const eps = this.o.endpoints();
      // Mostly sticky (a connection to one member), sometimes balanced over all of them, so that
      // every member, a freshly restarted one too, gets requests.
      if (!ep || !eps.some((e) => e.name === ep!.name) || rng.chance(0.3)) ep = this.pickEndpoint(rng);
      if (!ep) {
        await sleep(100);
        continue;
      }
      const kind = rng.weighted(Object.entries(this.o.mix).map(([k, w]) => [w, k as OpKind] as const));
      const key = rng.pick(this.keys);
      const op: Op = { id: this.nextId++, client, kind, key, invoke: 0, status: 'unknown', member: ep.name };
      if (kind === 'put' || kind === 'cas') op.value = `c${client}.${++seq}`;
      // Every other read a txn of one range (from the op's id: the random stream stays the same).
      if (kind === 'get' && op.id % 2 === 1) op.viaTxn = true;
      if (kind === 'cas') {
        const recent = this.recentValues.get(key) ?? [];
        op.expect = rng.chance(0.8) ? (this.lastSeen.get(key) ?? null) : rng.chance(0.5) || recent.length === 0 ? null : rng.pick(recent);
      }
      this.ops.push(op);
      op.invoke = now();
      const r = await this.send(op, ep.url);
      op.ret = now();
      this.record(op, r);
      const [lo, hi] = this.o.thinkMs;
      if (op.status !== 'ok') {
        // Another member next time, after a short backoff (as a client library would).
        ep = this.pickEndpoint(rng, ep.name);
        await sleep(rng.range(20, 100));
      } else if (hi > 0) await sleep(rng.range(lo, hi));
    }
  }

  private send(op: Op, url: string): Promise<CallResult> {
    const key = b64(op.key);
    const t = this.o.timeoutMs;
    switch (op.kind) {
      case 'put':
        return post(url, '/v3/kv/put', { key, value: b64(op.value!) }, t);
      case 'get': {
        const range = { key, ...(this.o.unsafeSerializableReads ? { serializable: true } : {}) };
        return op.viaTxn ? post(url, '/v3/kv/txn', { success: [{ request_range: range }] }, t) : post(url, '/v3/kv/range', range, t);
      }
      case 'delete':
        return post(url, '/v3/kv/deleterange', { key }, t);
      case 'cas': {
        const compare =
          op.expect === null
            ? { target: 'VERSION', result: 'EQUAL', key, version: '0' }
            : { target: 'VALUE', result: 'EQUAL', key, value: b64(op.expect!) };
        return post(url, '/v3/kv/txn', { compare: [compare], success: [{ request_put: { key, value: b64(op.value!) } }], failure: [{ request_range: { key } }] }, t);
      }
    }
  }

  private record(op: Op, r: CallResult): void {
    if (r.kind === 'answer' && r.status === 200) {
      const b = r.body;
      op.status = 'ok';
      op.rev = Number(b.header?.revision);
      switch (op.kind) {
        case 'put':
          this.saw(op.key, op.value!);
          break;
        case 'get': {
          const kv = op.viaTxn ? b.responses?.[0]?.response_range?.kvs?.[0] : b.kvs?.[0];
          op.read = kv ? unb64(kv.value) : null;
          if (kv) op.readModRev = Number(kv.mod_revision);
          this.saw(op.key, op.read);
          break;
        }
        case 'delete':
          op.deleted = Number(b.deleted ?? 0);
          this.saw(op.key, null);
          break;
        case 'cas': {
          op.succeeded = b.succeeded === true;
          if (op.succeeded) this.saw(op.key, op.value!);
          else {
            const kv = b.responses?.[0]?.response_range?.kvs?.[0];
            op.read = kv ? unb64(kv.value) : null;
            this.saw(op.key, op.read);
          }
          break;
        }
      }
      if (op.kind !== 'get' && Number.isFinite(op.rev)) this.maxAckedRev = Math.max(this.maxAckedRev, op.rev!);
      return;
    }
    op.error = errorText(r);
    if (op.kind === 'get') {
      op.status = 'fail';
    } else if (r.kind === 'no-answer' && r.reason === 'ECONNREFUSED') {
      // Nothing was sent.
      op.status = 'fail';
    } else if (r.kind === 'answer' && r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
      // Refused before it was proposed (a bad request): it did not happen.
      op.status = 'fail';
    } else {
      op.status = 'unknown';
      op.ret = undefined;
    }
  }

  private saw(key: string, value: string | null): void {
    this.lastSeen.set(key, value);
    if (value !== null) {
      let l = this.recentValues.get(key);
      if (!l) this.recentValues.set(key, (l = []));
      l.push(value);
      if (l.length > 8) l.shift();
    }
  }
}

export function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      b[i]!++;
      return b.subarray(0, i + 1).toString('latin1');
    }
  }
  return '\u0000';
}

/** One logical watcher: a watch of the prefix from the run's first revision, resumed after failures. */
class WatcherRunner {
  private stopped = false;
  private next: number;
  private lastMessage = now();
  private session: { close(): void } | undefined;
  private current: string | undefined;
  private waiters: { rev: number; resolve: () => void }[] = [];
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly w: Workload,
    readonly log: WatcherLog,
    readonly rng: Rng,
  ) {
    this.next = log.startRev + 1;
  }

  get lastRev(): number {
    return this.next - 1;
  }

  run(): void {
    this.connect();
    // A watch on a member that is cut off or paused is silent: a client resumes it elsewhere when
    // it falls behind what others have acknowledged (etcd's clients do so with require-leader).
    this.stallTimer = setInterval(() => {
      if (this.stopped || !this.session) return;
      if (this.lastRev < this.w.maxAckedRev && now() - this.lastMessage > 3000) this.reconnect('stalled');
    }, 500);
  }

  private connect(): void {
    if (this.stopped) return;
    const ep = this.w.pickEndpoint(this.rng, this.current);
    if (!ep) {
      setTimeout(() => this.connect(), 200);
      return;
    }
    this.current = ep.name;
    const s = { member: ep.name, startRev: this.next, openedAt: now() } as WatcherLog['sessions'][number];
    this.log.sessions.push(s);
    this.lastMessage = now();
    const prefix = this.w.o.prefix;
    let closedHere = false;
    const handle = openStream(
      ep.url,
      '/v3/watch',
      { create_request: { key: b64(prefix), range_end: b64(prefixEnd(prefix)), start_revision: String(this.next) } },
      (msg) => {
        this.lastMessage = now();
        const r = msg.result;
        if (!r) {
          closedHere = true;
          end(`error: ${JSON.stringify(msg.error ?? msg).slice(0, 100)}`);
          return;
        }
        if (r.canceled) {
          closedHere = true;
          end(`canceled: ${r.cancel_reason ?? ''}${r.compact_revision ? ` (compacted at ${r.compact_revision})` : ''}`);
          return;
        }
        for (const e of r.events ?? []) {
          const ev: WatchEvent = {
            type: e.type === 'DELETE' ? 'delete' : 'put',
            key: unb64(e.kv?.key),
            rev: Number(e.kv?.mod_revision),
            at: now(),
          };
          if (ev.type === 'put') ev.value = unb64(e.kv?.value);
          this.log.events.push(ev);
          if (ev.rev >= this.next) this.next = ev.rev + 1;
        }
        this.wake();
      },
      (reason) => end(reason),
    );
    const end = (reason: string) => {
      if (s.closedAt !== undefined) return;
      s.closedAt = now();
      s.reason = reason;
      if (closedHere) handle.close();
      if (this.session === handle) this.session = undefined;
      if (!this.stopped) setTimeout(() => this.connect(), this.rng.int(50, 250));
    };
    this.session = handle;
  }

  private reconnect(reason: string): void {
    const s = this.log.sessions[this.log.sessions.length - 1];
    if (s && s.closedAt === undefined) {
      s.closedAt = now();
      s.reason = reason;
    }
    const h = this.session;
    this.session = undefined;
    h?.close();
    if (!this.stopped) this.connect();
  }

  private wake(): void {
    const ready = this.waiters.filter((x) => this.lastRev >= x.rev);
    this.waiters = this.waiters.filter((x) => this.lastRev < x.rev);
    for (const x of ready) x.resolve();
  }

  async waitFor(rev: number, timeoutMs: number): Promise<boolean> {
    const deadline = now() + timeoutMs;
    while (this.lastRev < rev && now() < deadline) {
      await Promise.race([new Promise<void>((resolve) => this.waiters.push({ rev, resolve })), sleep(500)]);
      if (this.lastRev < rev && now() - this.lastMessage > 3000) this.reconnect('behind at the end');
    }
    return this.lastRev >= rev;
  }

  stop(): void {
    this.stopped = true;
    if (this.stallTimer) clearInterval(this.stallTimer);
    const s = this.log.sessions[this.log.sessions.length - 1];
    if (s && s.closedAt === undefined) {
      s.closedAt = now();
      s.reason = 'stopped';
    }
    const h = this.session;
    this.session = undefined;
    h?.close();
  }
}
