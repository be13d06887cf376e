#!/usr/bin/env node
// The store alone (no Raft, no HTTP): applies N puts of 8-byte keys and 256-byte values in batches
// of 100, then prints where the process's memory is (V8 heap, malloc heap, other), after 5 s, after
// the memory-reducing GC kvd starts when it goes idle (native/memory's relieveHeap) and 3 s, after a
// full GC and a last-resort one (with --expose-gc), and after glibc's malloc_trim with its time.
//
//   npm run build && node --expose-gc bench/store-memory.mjs [--keys 1000000] [--cache-mb 64] [--write-delay-ms 10]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { KvStore } from '../dist/src/kv/kv-store.js';
import { encodeRequest } from '../dist/src/kv/request-codec.js';
import { loadMemoryBinding } from '../dist/src/util/memory-relief.js';
import { memoryBreakdown, sleep } from './lib.mjs';

const { values: args } = parseArgs({
  options: { keys: { type: 'string', default: '1000000' }, 'cache-mb': { type: 'string', default: '64' }, 'write-delay-ms': { type: 'string', default: '10' } },
});
const dir = mkdtempSync(join(tmpdir(), 'flotilla-store-memory-'));
const store = await KvStore.open(dir, {
  logger: pino({ level: 'silent' }),
  valueCacheBytes: args['cache-mb'] === 'all' ? Infinity : Number(args['cache-mb']) * 1048576,
  writeDelayMs: Number(args['write-delay-ms']),
});
const MiB = (n) => Math.round(n / 1048576);
const show = (what) => {
  const mu = process.memoryUsage();
  const b = memoryBreakdown(process.pid) ?? {};
  console.log(`${what}: rss ${MiB(mu.rss)}, heap used ${MiB(mu.heapUsed)} of ${MiB(mu.heapTotal)}; ${Object.entries(b).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ')} MiB`);
};
try {
  let index = store.appliedIndex();
  const value = new Uint8Array(256).fill(0x61);
  const keys = Number(args.keys);
  for (let start = 0; start < keys; start += 100) {
    const entries = [];
    for (let i = start; i < Math.min(keys, start + 100); i++) {
      const key = Buffer.alloc(8);
      key.writeUInt32BE(0x6b657900, 0);
      key.writeUInt32BE(i, 4);
      entries.push({ index: ++index, term: 1, kind: 'normal', data: encodeRequest({ put: { key, value } }) });
    }
    await store.apply(entries);
  }
  await store.persist();
  show('after the load');
  await sleep(5000);
  show('5 s later');
  const loaded = loadMemoryBinding();
  const native = 'binding' in loaded ? loaded.binding : undefined;
  if (native) {
    native.relieveHeap();
    await sleep(3000);
    show('3 s after relieveHeap()');
  }
  if (globalThis.gc) {
    globalThis.gc();
    show('after a full GC');
    globalThis.gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    show('after a last-resort GC');
  }
  if (native?.trimSupported) {
    const t0 = process.hrtime.bigint();
    native.trim();
    show(`after malloc_trim (${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms)`);
  }
  console.log(store.valueCacheStats());
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
