#!/usr/bin/env node
// How fast a fresh cluster becomes fast: consecutive windows of requests of one kind against a new
// 3-member cluster, each window a kvload run with no warm-up of its own, and for each window the
// request rate and the members' CPU per request. This is how bench/run.mjs's warm-up (lib.mjs,
// warmupFor) was chosen: see docs/benchmarks.md, "Warm-up".
//
//   npm run build && node bench/warm-up.mjs [--op put] [--clients 1] [--window 1000] [--windows 12] [--runs 2] [--vs-etcd]
//
// Range ops write every key of the key space first (kvload's prefill, not measured).
import { parseArgs } from 'node:util';
import { EtcdCluster, ensureEtcd } from './etcd.mjs';
import { KvdCluster } from './kvd-cluster.mjs';
import { fmt, runFile, sharedTool, waitQuiet } from './lib.mjs';

const { values: v } = parseArgs({
  options: {
    op: { type: 'string', default: 'put' },
    clients: { type: 'string', default: '1' },
    window: { type: 'string', default: '1000' },
    windows: { type: 'string', default: '12' },
    runs: { type: 'string', default: '2' },
    'vs-etcd': { type: 'boolean', default: false },
  },
});
const kvload = sharedTool('kvload.mjs');

/** One kvload run against `c`: [requests per second, members' CPU µs per request]. */
async function windowOf(c, extra) {
  const r = await runFile('node', [kvload, '--endpoints', c.endpoints().join(','), '--op', v.op, '--clients', v.clients, '--total', v.window, '--warmup', '0', '--cpu-pids', c.pids().join(','), '--quiet', ...extra], { allowFail: true });
  const line = r.stdout.trim().split('\n').pop();
  if (!line?.startsWith('{')) throw new Error(`kvload failed: ${r.stderr.slice(0, 500)}`);
  const res = JSON.parse(line);
  if (res.errors) throw new Error(`kvload: ${res.errors} errors (${JSON.stringify(res.errorKinds)})`);
  const cpuPct = Object.values(res.pidCpuPct ?? {}).reduce((a, p) => a + (p ?? 0), 0);
  return [res.rps, (cpuPct / 100) * res.durationS * 1e6 / res.ok];
}

/** One fresh cluster: [rate, CPU µs per request] for each window. */
async function rampOf(kind) {
  await waitQuiet();
  const c = kind === 'etcd' ? new EtcdCluster({ size: 3 }) : new KvdCluster({ size: 3, logLevel: 'warn' });
  await c.start();
  try {
    const windows = [];
    for (let i = 0; i < Number(v.windows); i++) {
      // The first window of a range op writes the key space first (untimed); later ones don't.
      windows.push(await windowOf(c, v.op.startsWith('range') && i > 0 ? ['--no-prefill'] : []));
    }
    return windows;
  } finally {
    await c.stop();
  }
}

const kinds = v['vs-etcd'] ? ['kvd', 'etcd'] : ['kvd'];
if (v['vs-etcd']) await ensureEtcd();
console.log(`${v.op} at ${v.clients} client(s) on a fresh 3-member cluster: rate (req/s) and members' CPU (µs per request) in consecutive windows of ${v.window} requests`);
for (let r = 0; r < Number(v.runs); r++) {
  for (const kind of r % 2 ? [...kinds].reverse() : kinds) {
    const w = await rampOf(kind);
    console.log(`${kind.padEnd(4)} req/s: ${w.map(([rate]) => fmt(rate, 4).padStart(6)).join(' ')}`);
    console.log(`${kind.padEnd(4)} CPU:   ${w.map(([, us]) => fmt(us, 4).padStart(6)).join(' ')}`);
  }
}
