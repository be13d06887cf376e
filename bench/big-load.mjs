#!/usr/bin/env node
// Loads a 3-member kvd cluster with N distinct keys (kvload's prefill, 64 clients) and keeps the
// members' logs (info level), to see what happens to a large store: snapshots, leader changes,
// timeouts. The logs are copied to --out before the cluster is removed. With --lagging, one member
// is down during the load and started afterwards: it must catch up through a snapshot of the
// whole store (the time it takes is printed).
//
//   npm run build && node bench/big-load.mjs [--keys 1000000] [--lagging] [--out /tmp/flotilla-big-load]
//     [--kvd-args='--snapshot-count 10000'] [--node-args='--max-semi-space-size=32'] (flags for every member, for kvd / node)
//     [--kvd /tmp/other/dist/bin/kvd.js] (another build, for before/after measurements)
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KvdCluster } from './kvd-cluster.mjs';
import { memoryBreakdown, peakRssMiB, postJson, rssMiB, runFile, sharedTool, sleep } from './lib.mjs';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    lagging: { type: 'boolean', default: false },
    out: { type: 'string', default: '/tmp/flotilla-big-load' },
    'kvd-args': { type: 'string', default: '' },
    'node-args': { type: 'string', default: '' },
    kvd: { type: 'string' },
  },
});
const words = (s) => s.split(' ').filter((a) => a !== '');
const c = new KvdCluster({ kvdScript: values.kvd, size: 3, logLevel: 'info', extraArgs: words(values['kvd-args']), nodeArgs: words(values['node-args']) });
await c.start();
const t0 = Date.now();
const seconds = (from) => ((Date.now() - from) / 1000).toFixed(1);
const rss = () => c.pids().map((pid) => rssMiB(pid) ?? 0);
try {
  const lagging = c.members[2].name;
  if (values.lagging) await c.kill(lagging);
  const endpoints = values.lagging ? c.endpoints().slice(0, 2) : c.endpoints();
  const r = await runFile('node', [sharedTool('kvload.mjs'), '--endpoints', endpoints.join(','), '--op', 'put', '--prefill', '--key-space', values.keys, '--clients', '64', '--total', '1000', '--quiet'], { allowFail: true });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  console.log(`${seconds(t0)} s: ${last.startsWith('{') ? 'loaded' : `failed: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`}`);
  const memory = (when) => {
    console.log(`RSS per member ${when}: ${rss().map((m) => `${m.toFixed(0)} MiB`).join(', ')}`);
    for (const [i, pid] of c.pids().entries()) {
      const b = memoryBreakdown(pid);
      if (b) console.log(`  ${c.members[i].name}: ${Object.entries(b).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')} MiB`);
    }
  };
  memory('at the end of the load');
  console.log(`peak RSS per member during the load: ${c.pids().map((pid) => `${(peakRssMiB(pid) ?? 0).toFixed(0)} MiB`).join(', ')}`);
  // npm run bench reads the RSS 5 s after the load.
  await sleep(5000);
  memory('5 s later');
  if (values.lagging) {
    const status = async (url) => (await postJson(url, '/v3/maintenance/status', {})).body;
    const target = Number((await status(c.endpoints()[0])).raftAppliedIndex);
    const t1 = Date.now();
    await c.restart(lagging);
    // A benchmark may poll: the member has no event to wait for from outside.
    for (;;) {
      await sleep(200);
      const s = await status(c.urlOf(lagging)).catch(() => undefined);
      if (s && Number(s.raftAppliedIndex) >= target) break;
      if (Date.now() - t1 > 600_000) throw new Error(`${lagging} did not catch up within 10 minutes`);
    }
    console.log(`${lagging} caught up to index ${target} in ${seconds(t1)} s after its start`);
    console.log(`RSS per member: ${rss().map((m) => `${m.toFixed(0)} MiB`).join(', ')}`);
  }
} finally {
  mkdirSync(values.out, { recursive: true });
  for (const m of c.members) cpSync(join(c.dataRoot, `${m.name}.log`), join(values.out, `${m.name}.log`));
  console.log(`member logs in ${values.out} (look for "raft: leader changed", "raft: took a snapshot", "sending a snapshot")`);
  await c.stop(30000);
}
