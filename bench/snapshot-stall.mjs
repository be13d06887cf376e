#!/usr/bin/env node
// Puts under sustained load across Raft snapshots: a fresh 3-member kvd cluster with a small
// --snapshot-count, 150,000 puts at 64 clients over 100,000 keys (three snapshots of up to 30 MB
// per member), then the load generator's summary: failures and the slowest put show whether a
// snapshot holds writes. Usage: node bench/snapshot-stall.mjs [path/to/kvd.js] (default: this
// tree's dist/bin/kvd.js; give another tree's to compare two builds).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { KvdCluster } from './kvd-cluster.mjs';

const kvload = fileURLToPath(new URL('./kvload.mjs', import.meta.url));
const cluster = new KvdCluster({ kvdScript: process.argv[2], extraArgs: ['--snapshot-count', '50000'], basePort: 32791 });
await cluster.start();
try {
  let out;
  try {
    out = execFileSync(process.execPath, [kvload, '--endpoints', cluster.endpoints().join(','), '--op', 'put', '--clients', '64', '--total', '150000', '--key-space', '100000', '--quiet', '--timeout-ms', '30000'], { encoding: 'utf8' });
  } catch (err) {
    // kvload exits non-zero when requests failed; its summary is still the last line.
    out = err.stdout;
  }
  const r = JSON.parse(out.trim().split('\n').at(-1));
  console.log(JSON.stringify({ ok: r.ok, errors: r.errors, errorKinds: r.errorKinds, rps: r.rps, p50: r.p50, p99: r.p99, max: r.max }));
} finally {
  await cluster.stop();
}
