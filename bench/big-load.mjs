#!/usr/bin/env node
// Loads a 3-member kvd cluster with N distinct keys (kvload's prefill, 64 clients) and keeps the
// members' logs (info level), to see what happens to a large store: snapshots, leader changes,
// timeouts. The logs are copied to --out before the cluster is removed.
//
//   npm run build && node bench/big-load.mjs [--keys 1000000] [--out /tmp/flotilla-big-load]
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KvdCluster } from './kvd-cluster.mjs';
import { runFile, sharedTool } from './lib.mjs';

const { values } = parseArgs({ options: { keys: { type: 'string', default: '1000000' }, out: { type: 'string', default: '/tmp/flotilla-big-load' } } });
const c = new KvdCluster({ size: 3, logLevel: 'info' });
await c.start();
const t0 = Date.now();
try {
  const r = await runFile('node', [sharedTool('kvload.mjs'), '--endpoints', c.endpoints().join(','), '--op', 'put', '--prefill', '--key-space', values.keys, '--clients', '64', '--total', '1000', '--quiet'], { allowFail: true });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  console.log(`${((Date.now() - t0) / 1000).toFixed(0)} s: ${last.startsWith('{') ? 'loaded' : `failed: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`}`);
  const rss = c.pids().map((pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
  console.log(`RSS per member: ${rss.map((m) => `${m.toFixed(0)} MiB`).join(', ')}`);
} finally {
  mkdirSync(values.out, { recursive: true });
  for (const m of c.members) cpSync(join(c.dataRoot, `${m.name}.log`), join(values.out, `${m.name}.log`));
  console.log(`member logs in ${values.out} (look for "raft: leader changed" and "raft: took a snapshot")`);
  await c.stop(30000);
}
