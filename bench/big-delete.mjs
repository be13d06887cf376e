#!/usr/bin/env node
// One delete_range over many keys, and what the rest of the cluster sees meanwhile: a fresh
// 3-member cluster gets --keys keys under "a/", then one request deletes them all while a reader
// per member reads another key in a loop (serializable) and --writers loops put other keys. Prints
// the delete's answer and time, the longest read and put of each loop, and (kvd) the leader changes
// in the members' logs. With --vs-etcd the same against a throwaway etcd cluster afterwards.
//
//   npm run build && node bench/big-delete.mjs [--keys 200000] [--writers 2] [--vs-etcd] [--kvd path/to/kvd.js]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EtcdCluster, ensureEtcd } from './etcd.mjs';
import { KvdCluster } from './kvd-cluster.mjs';
import { b64, runFile, sharedTool } from './lib.mjs';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '200000' },
    writers: { type: 'string', default: '2' },
    'vs-etcd': { type: 'boolean', default: false },
    kvd: { type: 'string' },
  },
});

/** Requests `body` at `url` until `stopped()`; the count, the failures and the longest. */
async function requestLoop(url, body, stopped) {
  let worst = 0;
  let n = 0;
  let failed = 0;
  while (!stopped()) {
    const t = performance.now();
    try {
      const r = await fetch(url, { method: 'POST', body: JSON.stringify(body) });
      await r.text();
      if (r.status !== 200) failed++;
    } catch {
      failed++;
    }
    worst = Math.max(worst, performance.now() - t);
    n++;
  }
  return { n, failed, worstMs: Math.round(worst) };
}

async function measure(cluster) {
  await cluster.start();
  try {
    const eps = cluster.endpoints();
    await runFile('node', [sharedTool('kvload.mjs'), '--endpoints', eps.join(','), '--op', 'range-serializable', '--clients', '64', '--total', '1', '--key-space', values.keys, '--prefix', 'a/', '--quiet']);
    let stop = false;
    const stopped = () => stop;
    const readers = eps.map((ep) => requestLoop(`${ep}/v3/kv/range`, { key: b64('z'), serializable: true }, stopped));
    const writers = Array.from({ length: Number(values.writers) }, (_, i) => requestLoop(`${eps[i % eps.length]}/v3/kv/put`, { key: b64(`w${i}`), value: b64('1') }, stopped));
    await new Promise((r) => setTimeout(r, 500));
    const t0 = performance.now();
    const del = await fetch(`${eps[0]}/v3/kv/deleterange`, { method: 'POST', body: JSON.stringify({ key: b64('a/'), range_end: b64('a0') }) });
    const answer = `${del.status} ${(await del.text()).slice(0, 120)}`;
    const deleteMs = Math.round(performance.now() - t0);
    // The delete may outlast its request timeout: it is done once a read of its range answers empty.
    for (;;) {
      const r = await fetch(`${eps[0]}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: b64('a/'), range_end: b64('a0'), count_only: true }) });
      const j = await r.json().catch(() => ({}));
      if (r.status === 200 && (j.count ?? '0') === '0') break;
    }
    const appliedMs = Math.round(performance.now() - t0);
    stop = true;
    const reads = await Promise.all(readers);
    const puts = await Promise.all(writers);
    const out = { system: cluster.kind, keys: Number(values.keys), answer, answeredMs: deleteMs, appliedMs, longestReadMs: reads.map((r) => r.worstMs), reads: reads.reduce((s, r) => s + r.n, 0), longestPutMs: Math.max(0, ...puts.map((r) => r.worstMs)), failedPuts: puts.reduce((s, r) => s + r.failed, 0) };
    if (cluster.kind === 'kvd') {
      out.leaderChanges = cluster.members.map((m) => readFileSync(join(cluster.dataRoot, `${m.name}.log`), 'utf8').split('\n').filter((l) => l.includes('raft: leader changed')).length - 1);
    }
    return out;
  } finally {
    await cluster.stop();
  }
}

console.log(JSON.stringify(await measure(new KvdCluster({ kvdScript: values.kvd, logLevel: 'info' }))));
if (values['vs-etcd']) {
  await ensureEtcd();
  console.log(JSON.stringify(await measure(new EtcdCluster({ size: 3 }))));
}
