#!/usr/bin/env node
// Profiles kvd under load: a fresh 3-member cluster whose members run with `node --cpu-prof`,
// kvload against it, then a summary of the leader's and a follower's profile over the timed
// phase (bench/cpuprofile.mjs). The .cpuprofile files stay in --out (open them in Chrome DevTools).
//
//   npm run build && node bench/profile.mjs [--op put] [--clients 64] [--total 40000] [--size 3] [--out DIR]
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { report, summarize } from './cpuprofile.mjs';
import { KvdCluster } from './kvd-cluster.mjs';
import { findLeader, nowMs, runFile, sharedTool, waitQuiet } from './lib.mjs';

const { values } = parseArgs({
  options: {
    op: { type: 'string', default: 'put' },
    clients: { type: 'string', default: '64' },
    total: { type: 'string', default: '40000' },
    size: { type: 'string', default: '3' },
    out: { type: 'string', default: '/tmp/flotilla-bench-profiles' },
    top: { type: 'string', default: '25' },
  },
});
const out = join(values.out, new Date().toISOString().replace(/[:.]/g, '-'));
mkdirSync(out, { recursive: true });
const t0 = new Map();
const cluster = new KvdCluster({
  size: Number(values.size),
  logLevel: 'warn',
  nodeArgs: (name) => {
    t0.set(name, nowMs());
    return ['--cpu-prof', '--cpu-prof-dir', out, '--cpu-prof-name', `${name}.cpuprofile`];
  },
});
await cluster.start();
const leaderUrl = await findLeader(cluster.endpoints());
const leader = cluster.nameOf(leaderUrl);
await waitQuiet({ log: console.error });
const r = await runFile('node', [sharedTool('kvload.mjs'), '--endpoints', cluster.endpoints().join(','), '--op', values.op, '--clients', values.clients, '--total', values.total, '--cpu-pids', cluster.pids().join(','), '--quiet'], { allowFail: true });
const end = nowMs();
const res = JSON.parse(r.stdout.trim().split('\n').pop());
const start = end - res.durationS * 1000;
console.log(`kvload: ${res.op} x${res.clients}: ${res.rps} req/s, p50 ${res.p50} ms, p99 ${res.p99} ms, errors ${res.errors}, member CPU ${JSON.stringify(res.pidCpuPct)}`);
await cluster.stop(30000);
for (const f of readdirSync(out).filter((f) => f.endsWith('.cpuprofile')).sort()) {
  const name = f.replace('.cpuprofile', '');
  if (name !== leader && name !== cluster.members.find((m) => m.name !== leader)?.name) continue;
  const p = JSON.parse(readFileSync(join(out, f), 'utf8'));
  // The profile starts with the process; the timed phase is [start, end] in wall time.
  const base = t0.get(name);
  const s = summarize(p, { fromUs: (start - base) * 1000, toUs: (end - base) * 1000 });
  console.log(`\n== ${name} (${name === leader ? 'leader' : 'follower'}), ${join(out, f)}; timed phase only; ${(s.busyMs / res.ok * 1000).toFixed(1)} µs busy per request\n${report(s, Number(values.top))}`);
}
