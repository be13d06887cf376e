#!/usr/bin/env node
// How fast a fresh cluster becomes fast: one client's puts (8-byte keys, 256-byte values) against
// the leader of a new 3-member cluster, put rate and the members' CPU per put in windows of 2 s.
// This is why every figure of bench/run.mjs starts with WARMUP_REQUESTS untimed requests.
//
//   npm run build && node bench/warm-up.mjs [--seconds 24] [--runs 2] [--vs-etcd]
import http from 'node:http';
import { parseArgs } from 'node:util';
import { EtcdCluster, ensureEtcd } from './etcd.mjs';
import { KvdCluster } from './kvd-cluster.mjs';
import { b64, cpuMsOf, findLeader, postJson, waitQuiet } from './lib.mjs';

const { values: v } = parseArgs({
  options: {
    seconds: { type: 'string', default: '24' },
    runs: { type: 'string', default: '2' },
    'vs-etcd': { type: 'boolean', default: false },
  },
});
const WINDOW_MS = 2000;
const value = b64('x'.repeat(256));

async function put(agent, url, i) {
  const r = await postJson(url, '/v3/kv/put', { key: b64(String(i % 10000).padStart(8, '0')), value }, 3000, agent);
  if (r.status !== 200) throw new Error(`put answered ${r.status}`);
}

const membersCpuMs = (c) => c.pids().reduce((s, p) => s + cpuMsOf(p), 0);

/** One fresh cluster: [put rate, members' CPU µs per put] for each window. */
async function rampOf(kind) {
  await waitQuiet();
  const c = kind === 'etcd' ? new EtcdCluster({ size: 3 }) : new KvdCluster({ size: 3, logLevel: 'warn' });
  await c.start();
  try {
    const url = await findLeader(c.endpoints());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const windows = [];
    const end = Date.now() + Number(v.seconds) * 1000;
    let n = 0;
    let since = Date.now();
    let sinceN = 0;
    let cpu = membersCpuMs(c);
    while (Date.now() < end) {
      await put(agent, url, n++);
      const now = Date.now();
      if (now - since < WINDOW_MS) continue;
      const cpuNow = membersCpuMs(c);
      windows.push([((n - sinceN) * 1000) / (now - since), ((cpuNow - cpu) * 1000) / (n - sinceN)]);
      since = now;
      sinceN = n;
      cpu = cpuNow;
    }
    agent.destroy();
    return windows;
  } finally {
    await c.stop();
  }
}

const kinds = v['vs-etcd'] ? ['kvd', 'etcd'] : ['kvd'];
if (v['vs-etcd']) await ensureEtcd();
console.log(`put rate (req/s) and members' CPU (µs per put) in windows of ${WINDOW_MS / 1000} s from a fresh cluster's first put, 1 client`);
for (let r = 0; r < Number(v.runs); r++) {
  for (const kind of r % 2 ? [...kinds].reverse() : kinds) {
    const w = await rampOf(kind);
    console.log(`${kind.padEnd(4)} req/s: ${w.map(([rate]) => rate.toFixed(0).padStart(4)).join(' ')}`);
    console.log(`${kind.padEnd(4)} CPU:   ${w.map(([, us]) => us.toFixed(0).padStart(4)).join(' ')}`);
  }
}
