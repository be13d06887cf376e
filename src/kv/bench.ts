// Measures the store on this machine:
//   npm run build && node --expose-gc dist/src/kv/bench.js [keys]
// - apply: batches of 100 puts of 256-byte values (encoded requests, as they come out of the
//   Raft log), `keys` distinct keys (default 100,000); puts per second over the whole load, and
//   RSS / heap after it (after a GC when --expose-gc is given);
// - range on a store of exactly 10,000 keys under one prefix, at the current revision: one key,
//   and the prefix with limit 10 (count still covers all 10,000, as etcd's does); and the same
//   prefix read at a past revision (values fetched from LevelDB).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { KvStore } from './kv-store.js';
import { encodeRequest } from './request-codec.js';
import type { AppliedEntry } from '../raft/node/state-machine.js';

const enc = (s: string) => new Uint8Array(Buffer.from(s));
const silent = pino({ level: 'silent' });

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export interface Latency {
  medianUs: number;
  p99Us: number;
}

function latency(times: number[]): Latency {
  const s = [...times].sort((a, b) => a - b);
  return { medianUs: Math.round(quantile(s, 0.5) * 1000), p99Us: Math.round(quantile(s, 0.99) * 1000) };
}

async function load(store: KvStore, keys: number, keyOf: (i: number) => string, value: (i: number) => Uint8Array, from = 0): Promise<number> {
  let index = store.appliedIndex();
  let ms = 0;
  for (let start = 0; start < keys; start += 100) {
    const entries: AppliedEntry[] = [];
    for (let i = start; i < Math.min(keys, start + 100); i++) {
      entries.push({ index: ++index, term: 1, kind: 'normal', data: encodeRequest({ put: { key: enc(keyOf(from + i)), value: value(i) } }) });
    }
    const t0 = performance.now();
    await store.apply(entries);
    ms += performance.now() - t0;
  }
  return ms;
}

export async function benchApply(dir: string, keys = 100_000): Promise<{ putsPerSec: number; rssMb: number; heapMb: number; externalMb: number }> {
  const store = await KvStore.open(dir, { logger: silent });
  try {
    const value = new Uint8Array(256).fill(0x61);
    const ms = await load(store, keys, (i) => `/registry/services/ns${i % 100}/svc-${String(i).padStart(7, '0')}`, () => value);
    (globalThis as { gc?: () => void }).gc?.();
    const mem = process.memoryUsage();
    return {
      putsPerSec: Math.round(keys / (ms / 1000)),
      rssMb: Math.round(mem.rss / 1e6),
      heapMb: Math.round(mem.heapUsed / 1e6),
      externalMb: Math.round(mem.arrayBuffers / 1e6),
    };
  } finally {
    await store.close();
  }
}

export async function benchRange(dir: string): Promise<{ key: Latency; prefixLimit10: Latency; pastPrefixLimit10: Latency; count: number }> {
  const store = await KvStore.open(dir, { logger: silent });
  try {
    const keyOf = (i: number) => `/config/app/${String(i).padStart(5, '0')}`;
    const value = new Uint8Array(256).fill(0x62);
    await load(store, 10_000, keyOf, () => value);
    const past = store.currentRevision();
    await load(store, 10_000, keyOf, (i) => enc(`second-${i}`)); // history for the past read
    await load(store, 1_000, (i) => `/other/${i}`, () => value); // keys outside the prefix
    const pre = { key: enc('/config/app/'), range_end: enc('/config/app0') };
    const one: number[] = [];
    const prefix: number[] = [];
    const old: number[] = [];
    let count = 0;
    for (let r = 0; r < 2000; r++) {
      let t0 = performance.now();
      await store.range({ key: enc(keyOf((r * 7919) % 10_000)) });
      one.push(performance.now() - t0);
      t0 = performance.now();
      count = (await store.range({ ...pre, limit: 10 })).count;
      prefix.push(performance.now() - t0);
      if (r % 4 === 0) {
        t0 = performance.now();
        await store.range({ ...pre, limit: 10, revision: past });
        old.push(performance.now() - t0);
      }
    }
    return { key: latency(one), prefixLimit10: latency(prefix), pastPrefixLimit10: latency(old), count };
  } finally {
    await store.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const keys = Number(process.argv[2] ?? 100_000);
  const root = await mkdtemp(join(tmpdir(), 'kv-bench-'));
  try {
    // Apply first, so that its RSS figure is that of a fresh process.
    const apply = await benchApply(join(root, 'apply'), keys);
    const range = await benchRange(join(root, 'range'));
    console.log(JSON.stringify({ apply, range }, null, 2));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
