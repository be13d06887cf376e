#!/usr/bin/env node
// A/B comparison of two kvd builds on one load figure, alternating, a fresh cluster each run
// (for the speed work: "before" and "after" measured in the same session on a shared machine).
//
//   node bench/ab.mjs --a /tmp/base/dist/bin/kvd.js --b dist/bin/kvd.js [--op put] [--clients 64] [--total 20000] [--size 3] [--runs 3]
//     [--a-node-args='...'] [--b-node-args='--heap-growing-percent=30'] (node flags for A's / B's members;
//     with the same build on both sides this compares the flags)
//     [--a-kvd-args='--snapshot-count 1000'] [--b-kvd-args='...'] (kvd flags for A's / B's members)
//     [--warmup N] (untimed requests first; default bench/run.mjs's warm-up)
//     [--http node|raw] (kvload's HTTP client, as bench/run.mjs --http; default node)
//   --op watch: the watch figure of bench/run.mjs instead (put-to-event p50/p99 on a follower's watch
//     during --total puts at 64 clients; CPU is not measured)
import { parseArgs } from 'node:util';
import { KvdCluster } from './kvd-cluster.mjs';
import { fmt, median, runFile, sharedTool, waitQuiet, warmupFor } from './lib.mjs';
import { watchFigure } from './watch.mjs';

const { values: v } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: 'dist/bin/kvd.js' },
    op: { type: 'string', default: 'put' },
    clients: { type: 'string', default: '64' },
    total: { type: 'string', default: '20000' },
    size: { type: 'string', default: '3' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string' },
    http: { type: 'string', default: 'node' },
    'a-node-args': { type: 'string', default: '' },
    'b-node-args': { type: 'string', default: '' },
    'a-kvd-args': { type: 'string', default: '' },
    'b-kvd-args': { type: 'string', default: '' },
  },
});
const res = { a: [], b: [] };
for (let r = 0; r < Number(v.runs); r++) {
  for (const which of r % 2 ? ['b', 'a'] : ['a', 'b']) {
    // wait_quiet before the cluster starts: it measures the whole machine, our idle members too.
    let q = await waitQuiet();
    const words = (flag) => v[`${which}-${flag}`].split(' ').filter((a) => a !== '');
    const c = new KvdCluster({ kvdScript: v[which], size: Number(v.size), nodeArgs: words('node-args'), extraArgs: words('kvd-args') });
    await c.start();
    try {
      if (v.op === 'watch') {
        const w = await watchFigure(c.endpoints(), sharedTool('kvload.mjs'), { puts: Number(v.total), warmup: Number(v.warmup ?? warmupFor(64)), kvloadArgs: ['--http', v.http] });
        res[which].push({ rps: w.eventsPerS, p50: w.p50, p99: w.p99, cpu: NaN, errors: w.missed + w.duplicates + w.putErrors });
        console.error(`${which}: ${fmt(w.eventsPerS)} events/s p50 ${fmt(w.p50)} p99 ${fmt(w.p99)} missed ${w.missed} dups ${w.duplicates} put errors ${w.putErrors} (busy before ${q.busy}%)`);
        continue;
      }
      let j;
      // Another job's load during the timed phase spoils the figure: measure again (twice at most).
      for (let attempt = 0; attempt < 3; attempt++) {
        if (attempt > 0) q = await waitQuiet({ max: 15 });
        const out = await runFile('node', [sharedTool('kvload.mjs'), '--endpoints', c.endpoints().join(','), '--op', v.op, '--clients', v.clients, '--total', v.total, '--warmup', v.warmup ?? String(warmupFor(Number(v.clients))), '--cpu-pids', c.pids().join(','), '--http', v.http, '--quiet'], { allowFail: true });
        j = JSON.parse(out.stdout.trim().split('\n').pop());
        if (j.foreignCpuPct <= 25) break;
        console.error(`  (other processes used ${j.foreignCpuPct}% of a core meanwhile: again)`);
      }
      const cpu = (Object.values(j.pidCpuPct).reduce((x, y) => x + y, 0) / 100) * j.durationS * 1e6 / j.ok;
      res[which].push({ rps: j.rps, p50: j.p50, p99: j.p99, cpu, errors: j.errors });
      console.error(`${which}: ${j.rps} req/s p50 ${j.p50} p99 ${j.p99} cpu ${fmt(cpu)} µs/req errors ${j.errors} (busy before ${q.busy}%)`);
    } finally {
      await c.stop();
    }
  }
}
for (const which of ['a', 'b']) {
  const rs = res[which];
  const flags = [v[`${which}-node-args`], v[`${which}-kvd-args`]].filter((f) => f !== '').map((f) => ` ${f}`).join('');
  console.log(`${which}: ${v.op === 'watch' ? 'events/s' : 'req/s'} ${fmt(median(rs.map((x) => x.rps)))}  p50 ${fmt(median(rs.map((x) => x.p50)))}  p99 ${fmt(median(rs.map((x) => x.p99)))}  CPU ${fmt(median(rs.map((x) => x.cpu)))} µs/req  (${v[which]}${flags})`);
}
