// Measures the watch hub on this machine:
//   npm run build && node dist/src/kv/watch/bench.js
// - notify() cost with 10,000 single-key watchers (one per stream) plus 1,000 watchers on one
//   prefix and 1,000 on distinct prefixes: for a put nobody watches, a put one exact watcher
//   watches, and a put under the shared prefix (1,000 responses);
// - history replay throughput (median of 7 runs): one watcher (and then 10) replaying a 20,000-event
//   history from an in-memory source, so this is the hub's own cost, not the store's reads.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { EventType, type Event, type KeyValue } from '../api.js';
import type { WatchableSource } from './source.js';
import { WatchHub } from './watch-hub.js';

const enc = (s: string): Uint8Array => Buffer.from(s);

/** An in-memory history: revision r (from 2 on) holds events[r - 2]. */
class MemorySource implements WatchableSource {
  rev = 1;
  readonly log: Event[] = [];
  private readonly latest = new Map<string, KeyValue>();
  hub: WatchHub | undefined;

  currentRevision(): number {
    return this.rev;
  }
  compactedRevision(): number {
    return 0;
  }
  async events(from: number, to: number, limit: number, withPrevKv: boolean): Promise<Event[]> {
    // One event per revision here, so a slice is the answer.
    const lo = Math.max(0, from - 2);
    const hi = Math.min(this.log.length, to - 1, lo + limit);
    const out = this.log.slice(lo, hi);
    return withPrevKv ? out : out.map((e) => (e.prev_kv ? { type: e.type, kv: e.kv } : e));
  }
  put(key: string, value: Uint8Array, notify = true): void {
    const rev = ++this.rev;
    const prev = this.latest.get(key);
    const kv: KeyValue = {
      key: enc(key),
      create_revision: prev?.create_revision ?? rev,
      mod_revision: rev,
      version: (prev?.version ?? 0) + 1,
      value,
      lease: 0n,
    };
    this.latest.set(key, kv);
    const ev: Event = prev ? { type: EventType.PUT, kv, prev_kv: prev } : { type: EventType.PUT, kv };
    this.log.push(ev);
    if (notify) this.hub?.notify([ev], rev);
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export interface NotifyBench {
  case: string;
  medianUs: number;
  p99Us: number;
  responses: number;
}

export function benchNotify(rounds = 2000): NotifyBench[] {
  const src = new MemorySource();
  const hub = new WatchHub(src, { logger: pino({ level: 'silent' }) });
  src.hub = hub;
  let delivered = 0;
  const sink = () => {
    delivered++;
  };
  for (let i = 0; i < 10_000; i++) hub.openSession(sink).handle({ create_request: { key: enc(`/svc/key-${i}`) } });
  for (let i = 0; i < 1_000; i++) {
    hub.openSession(sink).handle({ create_request: { key: enc('/config/'), range_end: enc('/config0') } });
  }
  for (let i = 0; i < 1_000; i++) {
    hub.openSession(sink).handle({ create_request: { key: enc(`/app-${i}/`), range_end: enc(`/app-${i}0`) } });
  }
  delivered = 0;
  const value = new Uint8Array(64).fill(0x61);
  const cases: [string, (i: number) => string][] = [
    ['put on an unwatched key', (i) => `/other/${i}`],
    ['put on a key with 1 exact watcher (of 10,000)', (i) => `/svc/key-${(i * 7919) % 10_000}`],
    ['put under a prefix with 1 range watcher (of 1,000 distinct)', (i) => `/app-${(i * 31) % 1_000}/x`],
    ['put under a prefix with 1,000 watchers', (i) => `/config/k${i % 100}`],
  ];
  const out: NotifyBench[] = [];
  for (const [name, keyOf] of cases) {
    const times: number[] = [];
    for (let i = 0; i < rounds + 200; i++) {
      const key = keyOf(i);
      const d0 = delivered;
      // Time notify() alone: the put is prepared without notifying, then notified.
      src.put(key, value, false);
      const ev = src.log[src.log.length - 1];
      const t0 = performance.now();
      hub.notify([ev], src.rev);
      const us = (performance.now() - t0) * 1000;
      if (i >= 200) times.push(us); // warm-up
      if (i === rounds + 199) out.push({ case: name, medianUs: 0, p99Us: 0, responses: delivered - d0 });
    }
    times.sort((a, b) => a - b);
    const r = out[out.length - 1];
    r.medianUs = quantile(times, 0.5);
    r.p99Us = quantile(times, 0.99);
  }
  hub.close();
  return out;
}

export interface ReplayBench {
  watchers: number;
  asyncSink: boolean;
  events: number;
  prevKv: boolean;
  ms: number;
  eventsPerSec: number;
}

export async function benchReplay(history = 20_000, watchers = 1, prevKv = false, asyncSink = false): Promise<ReplayBench> {
  const src = new MemorySource();
  for (let i = 0; i < history; i++) src.put(`/k/${i % 1000}`, new Uint8Array(64).fill(0x62), false);
  const hub = new WatchHub(src, { logger: pino({ level: 'silent' }) });
  let received = 0;
  const want = history * watchers;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const t0 = performance.now();
  for (let w = 0; w < watchers; w++) {
    hub
      .openSession((resp) => {
        received += resp.events.length;
        if (received === want) done();
        return asyncSink ? Promise.resolve() : undefined;
      })
      .handle({ create_request: { key: enc('/k/'), range_end: enc('/k0'), start_revision: 2, prev_kv: prevKv } });
  }
  await finished;
  const ms = performance.now() - t0;
  hub.close();
  return { watchers, asyncSink, events: want, prevKv, ms, eventsPerSec: Math.round((want / ms) * 1000) };
}

async function main(): Promise<void> {
  for (const r of benchNotify()) {
    console.log(`notify: ${r.case}: median ${r.medianUs.toFixed(2)} µs, p99 ${r.p99Us.toFixed(2)} µs, ${r.responses} responses`);
  }
  for (const [w, p, a] of [
    [1, false, false],
    [1, true, false],
    [1, false, true],
    [10, false, false],
  ] as const) {
    await benchReplay(20_000, w, p, a); // warm-up
    const runs: ReplayBench[] = [];
    for (let i = 0; i < 7; i++) runs.push(await benchReplay(20_000, w, p, a));
    runs.sort((x, y) => x.ms - y.ms);
    const r = runs[3]; // the median of 7
    const what = `${r.watchers} watcher(s) x 20,000 events${r.prevKv ? ', prev_kv' : ''}${r.asyncSink ? ', sink returning promises' : ''}`;
    console.log(`replay: ${what}: ${r.ms.toFixed(1)} ms, ${r.eventsPerSec.toLocaleString('en')} events/s delivered`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
