#!/usr/bin/env node
// The benchmark runner: `npm run bench` (kvd only) and `npm run bench -- --vs-etcd` (kvd and etcd
// side by side, alternating, a fresh cluster for every measurement, medians over --runs runs).
// See docs/benchmarks.md. Needs `npm run build` first (npm run bench does it).
//
//   node bench/run.mjs [--vs-etcd] [--runs N] [--figures put1,put16,...] [--no-watch] [--no-failover]
//                      [--failover-rounds N] [--memory] [--memory-keys N] [--json FILE] [--quiet-max PCT] [--warmup N]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EtcdCluster, ensureEtcd, etcdVersion } from './etcd.mjs';
import { KvdCluster } from './kvd-cluster.mjs';
import { b64, cpuMsOf, findLeader, fmt, median, nowMs, peakRssMiB, postJson, range, REPO_DIR, rssMiB, runFile, sharedTool, sleep, status, trustCa, waitQuiet, warmupFor } from './lib.mjs';
import { watchFigure } from './watch.mjs';

const FIGURES = [
  // 10,000 at 1 client as in etcd's op guide (benchmark --conns=1 --clients=1 put --total=10000).
  // More runs there by default: a 1-client put waits mostly for the disk's flushes and the vCPUs'
  // wake-ups on the shared host, so one build's runs vary 2-2.5x (7 runs: 377-919 req/s), and the
  // median of 3 moved the ratio by a third from one run of the benchmark to the next
  // (docs/benchmarks.md, "What is measured").
  { id: 'put1', label: 'put, 1 client', op: 'put', clients: 1, total: 10000, size: 3, vsEtcdRuns: 7 },
  { id: 'put16', label: 'put, 16 clients', op: 'put', clients: 16, total: 10000, size: 3 },
  { id: 'put64', label: 'put, 64 clients', op: 'put', clients: 64, total: 20000, size: 3 },
  { id: 'put256', label: 'put, 256 clients', op: 'put', clients: 256, total: 20000, size: 3 },
  { id: 'range64', label: 'range linearizable, 64 clients', op: 'range', clients: 64, total: 20000, size: 3 },
  { id: 'rangeser64', label: 'range serializable, 64 clients', op: 'range-serializable', clients: 64, total: 20000, size: 3 },
  { id: 'put64single', label: 'put, 64 clients, 1 member', op: 'put', clients: 64, total: 20000, size: 1 },
  // Not in the default set: with put1 it splits a put's latency at 1 client into the client path
  // (one member) and what replication adds (three).
  { id: 'put1single', label: 'put, 1 client, 1 member', op: 'put', clients: 1, total: 10000, size: 1, optional: true },
];
const DEFAULT_FIGURES = FIGURES.filter((f) => !f.optional);

const HELP = `usage: npm run bench -- [options]
  --vs-etcd              also measure a throwaway etcd cluster (installs etcd-server if missing)
  --runs N               runs per figure and system (default with --vs-etcd: 3, and ${FIGURES.filter((f) => f.vsEtcdRuns).map((f) => `${f.vsEtcdRuns} for ${f.id}`).join(', ')}; else 1)
  --figures LIST         load figures to run (default all): ${DEFAULT_FIGURES.map((f) => f.id).join(',')};
                         also ${FIGURES.filter((f) => f.optional).map((f) => `${f.id} (${f.label})`).join(', ')}
  --tls                  the client ports over TLS (https://, the test fixtures' certificate, TLS 1.3;
                         kvload with --cacert): the load figures only
  --http node|raw        kvload's HTTP client (default node): raw sends the same requests on one bare
                         keep-alive socket per client (bench/raw-http.mjs); node is Node's http.Agent,
                         as ../shared/bench/kvload.mjs, whose own CPU per request is about a kvd
                         leader's (docs/benchmarks.md, "The load generator's share")
  --no-load              skip the load figures
  --no-watch             skip the watch figure
  --no-failover          skip the failover figure
  --failover-rounds N    leader kills per system (default 5)
  --memory               also measure RSS per member after --memory-keys keys (slow: minutes per system)
  --memory-keys N[,N]    key counts (default 1000000)
  --json FILE            write every raw result there (default /tmp/flotilla-bench-results/<time>.json)
  --quiet-max PCT        machine busy % under which a measurement may start (default 8)
  --warmup N             untimed requests before each load figure and the watch figure (default:
                         10,000 at 1 client, 30,000 otherwise; see docs/benchmarks.md, "Warm-up")`;

const { values: args } = parseArgs({
  options: {
    'vs-etcd': { type: 'boolean', default: false },
    tls: { type: 'boolean', default: false },
    http: { type: 'string', default: 'node' },
    runs: { type: 'string' },
    figures: { type: 'string' },
    'no-load': { type: 'boolean', default: false },
    'no-watch': { type: 'boolean', default: false },
    'no-failover': { type: 'boolean', default: false },
    'failover-rounds': { type: 'string', default: '5' },
    memory: { type: 'boolean', default: false },
    'memory-keys': { type: 'string', default: '1000000' },
    json: { type: 'string' },
    'quiet-max': { type: 'string', default: '8' },
    warmup: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}


const systems = args['vs-etcd'] ? ['kvd', 'etcd'] : ['kvd'];
const runs = Number(args.runs ?? (args['vs-etcd'] ? 3 : 1));
/** Runs of a load figure: --runs, else the figure's own default with --vs-etcd. */
const runsOf = (fig) => (args.runs === undefined && args['vs-etcd'] && fig.vsEtcdRuns ? fig.vsEtcdRuns : runs);
const figures = args['no-load'] ? [] : args.figures ? args.figures.split(',').map((id) => {
  const f = FIGURES.find((x) => x.id === id);
  if (!f) {
    console.error(`bench: unknown figure "${id}" in --figures; known: ${FIGURES.map((x) => x.id).join(', ')}`);
    process.exit(2);
  }
  return f;
}) : DEFAULT_FIGURES;
const quietMax = Number(args['quiet-max']);
const log = (...a) => console.error(...a);
const kvload = sharedTool('kvload.mjs');
if (args.warmup !== undefined && !/^\d+$/.test(args.warmup)) throw new Error('--warmup must be a whole number of requests');
const warmupOf = (clients) => (args.warmup !== undefined ? Number(args.warmup) : warmupFor(clients));

// --tls: both systems serve their client URLs over TLS with the test fixtures' member certificate.
const fixture = (name) => join(REPO_DIR, 'test', 'fixtures', 'tls', name);
const tls = args.tls ? { cert: fixture('member.pem'), key: fixture('member-key.pem'), ca: fixture('ca.pem') } : undefined;
if (tls) trustCa(readFileSync(tls.ca));
if (!['raw', 'node'].includes(args.http)) throw new Error('--http must be raw or node');
// What every kvload run of this benchmark is given besides its figure: the HTTP client and TLS.
const loadArgs = ['--http', args.http, ...(tls ? ['--cacert', tls.ca] : [])];

function newCluster(kind, size) {
  return kind === 'etcd' ? new EtcdCluster({ size, tls }) : new KvdCluster({ size, tls });
}

async function quiet() {
  const q = await waitQuiet({ max: quietMax, log });
  if (!q.quiet) log(`  (machine still ${q.busy}% busy after waiting: measuring anyway, noted in the results)`);
  return q;
}

// ---- load figures -------------------------------------------------------------------------

/** Measures again (on a fresh cluster, twice at most) when other jobs used more than this % of a core meanwhile. */
const FOREIGN_MAX = 25;

async function measureLoad(kind, fig) {
  for (let attempt = 1; ; attempt++) {
    const res = await measureLoadOnce(kind, fig);
    res.attempts = attempt;
    if (!(res.foreignCpuPct > FOREIGN_MAX) || attempt >= 3) return res;
    log(`  other processes used ${res.foreignCpuPct}% of a core during the run: measuring again`);
  }
}

async function measureLoadOnce(kind, fig) {
  // wait_quiet measures the whole machine: before the cluster starts, so that it sees only others.
  const q = await quiet();
  const c = newCluster(kind, fig.size);
  await c.start();
  try {
    const pids = c.pids();
    const r = await runFile('node', [kvload, '--endpoints', c.endpoints().join(','), '--op', fig.op, '--clients', String(fig.clients), '--total', String(fig.total), '--warmup', String(warmupOf(fig.clients)), '--cpu-pids', pids.join(','), ...loadArgs, '--quiet'], { allowFail: true });
    const line = r.stdout.trim().split('\n').pop();
    if (!line?.startsWith('{')) throw new Error(`kvload failed: ${r.stderr.slice(0, 500)}`);
    const res = JSON.parse(line);
    const cpuS = Object.values(res.pidCpuPct ?? {}).reduce((a, p) => a + (p ?? 0), 0) / 100 * res.durationS;
    return {
      kind, figure: fig.id, rps: res.rps, p50: res.p50, p99: res.p99, max: res.max, errors: res.errors, errorKinds: res.errorKinds,
      cpuUsPerReq: res.ok ? (cpuS * 1e6) / res.ok : undefined, memberCpuPct: res.pidCpuPct, clientCpuPct: res.clientCpuPct,
      clientUsPerReq: res.ok ? (res.clientCpuPct / 100 * res.durationS * 1e6) / res.ok : undefined,
      foreignCpuPct: res.foreignCpuPct, busyBefore: q.busy, quiet: q.quiet,
    };
  } finally {
    await c.stop();
  }
}

// ---- watch --------------------------------------------------------------------------------

async function measureWatch(kind) {
  const q = await quiet();
  const c = newCluster(kind, 3);
  await c.start();
  try {
    return { kind, ...(await watchFigure(c.endpoints(), kvload, { warmup: warmupOf(64), kvloadArgs: ['--http', args.http] })), busyBefore: q.busy, quiet: q.quiet };
  } finally {
    await c.stop();
  }
}

// ---- failover -----------------------------------------------------------------------------

async function measureFailover(kind) {
  const q = await quiet();
  const c = newCluster(kind, 3);
  await c.start();
  try {
    const leader = await findLeader(c.endpoints());
    const survivors = c.endpoints().filter((e) => e !== leader);
    let stop = false;
    let killAt = Infinity;
    let firstOk;
    let errors = 0;
    let n = 0;
    const put = async (i) => {
      const sent = nowMs();
      try {
        const r = await postJson(survivors[i % survivors.length], '/v3/kv/put', { key: b64(`f${String(n++ % 10000).padStart(7, '0')}`), value: b64('x'.repeat(256)) }, 10000);
        if (r.status === 200) {
          if (sent >= killAt && firstOk === undefined) firstOk = nowMs();
          return true;
        }
      } catch {
        /* counted below */
      }
      errors++;
      return false;
    };
    // The load: 16 closed-loop writers on the members that survive.
    const writers = Array.from({ length: 16 }, async (_, i) => {
      while (!stop) if (!(await put(i))) await sleep(5);
    });
    // The probe: a put every 10 ms whatever happens (a member may hold a request while there is
    // no leader), so that the first success after the kill is seen within ~10 ms.
    const probes = [];
    const probe = setInterval(() => probes.push(put(probes.length)), 10);
    await sleep(1500);
    const killed = c.killNow(c.nameOf(leader));
    killAt = nowMs();
    await killed;
    for (const t = Date.now(); firstOk === undefined && Date.now() - t < 15000; ) await sleep(2);
    stop = true;
    clearInterval(probe);
    await Promise.all([...writers, ...probes]);
    return { kind, ms: firstOk === undefined ? undefined : firstOk - killAt, errors, busyBefore: q.busy, quiet: q.quiet };
  } finally {
    await c.stop();
  }
}

// ---- memory -------------------------------------------------------------------------------

async function measureMemory(kind, keys) {
  await quiet();
  const c = newCluster(kind, 3);
  await c.start();
  try {
    const t0 = Date.now();
    const r = await runFile('node', [kvload, '--endpoints', c.endpoints().join(','), '--op', 'put', '--prefill', '--key-space', String(keys), '--clients', '64', '--total', '1000', '--quiet'], { allowFail: true });
    const line = r.stdout.trim().split('\n').pop();
    // A failed load (a member that stopped answering, say) is a result too: the RSS is still read.
    const failed = line?.startsWith('{') ? undefined : r.stderr.trim().split('\n').slice(-3).join(' | ');
    const res = failed ? { errors: undefined } : JSON.parse(line);
    const seconds = (Date.now() - t0) / 1000;
    const pids = () => (c.members ? c.members.map((m) => m.proc?.pid) : c.pids());
    const readRss = (read = rssMiB) => pids().map((p) => (p === undefined ? undefined : read(p)));
    // Both systems give memory back some time after a burst (Go's scavenger, V8's GCs and kvd's
    // memory relief): the figure is read 5 s after the load, and again at 30 s to show the settling.
    await sleep(5000);
    const rss = readRss();
    await sleep(25000);
    const rss30 = readRss();
    // The highest RSS each member had, the load included (the kernel's high-water mark).
    const peak = readRss(peakRssMiB);
    const alive = rss.filter((x) => x !== undefined);
    return { kind, keys, seconds, errors: res.errors, failed, rssMiB: rss, maxRssMiB: alive.length ? Math.max(...alive) : undefined, rss30MiB: rss30, peakRssMiB: peak };
  } finally {
    await c.stop();
  }
}

// ---- report -------------------------------------------------------------------------------

const medRange = (xs, digits = 3) => {
  const m = median(xs);
  const r = range(xs);
  if (m === undefined) return '–';
  return xs.length > 1 ? `${fmt(m, digits)} (${fmt(r[0], digits)}–${fmt(r[1], digits)})` : fmt(m, digits);
};
const ratio = (a, b) => (a !== undefined && b !== undefined && b > 0 ? (a / b).toFixed(2) : '–');

function loadTable(results) {
  const lines = [];
  if (systems.length === 2) {
    lines.push('| load | kvd req/s | etcd req/s | ratio | kvd p99 ms | etcd p99 ms | ratio | kvd CPU µs/req | etcd CPU µs/req | ratio | kvload CPU µs/req kvd/etcd | errors kvd/etcd |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  } else {
    lines.push('| load | req/s | p50 ms | p99 ms | CPU µs/req (members) | errors |');
    lines.push('|---|---|---|---|---|---|');
  }
  for (const f of figures) {
    const of = (k) => results.filter((r) => r.figure === f.id && r.kind === k);
    const k = of('kvd');
    if (systems.length === 2) {
      const e = of('etcd');
      const mk = (rs, key) => median(rs.map((r) => r[key]));
      lines.push(`| ${f.label} | ${medRange(k.map((r) => r.rps), 4)} | ${medRange(e.map((r) => r.rps), 4)} | **${ratio(mk(k, 'rps'), mk(e, 'rps'))}** | ${medRange(k.map((r) => r.p99))} | ${medRange(e.map((r) => r.p99))} | ${ratio(mk(k, 'p99'), mk(e, 'p99'))} | ${medRange(k.map((r) => r.cpuUsPerReq))} | ${medRange(e.map((r) => r.cpuUsPerReq))} | ${ratio(mk(k, 'cpuUsPerReq'), mk(e, 'cpuUsPerReq'))} | ${fmt(mk(k, 'clientUsPerReq'))}/${fmt(mk(e, 'clientUsPerReq'))} | ${k.reduce((a, r) => a + r.errors, 0)}/${e.reduce((a, r) => a + r.errors, 0)} |`);
    } else {
      lines.push(`| ${f.label} | ${medRange(k.map((r) => r.rps), 4)} | ${medRange(k.map((r) => r.p50))} | ${medRange(k.map((r) => r.p99))} | ${medRange(k.map((r) => r.cpuUsPerReq))} | ${k.reduce((a, r) => a + r.errors, 0)} |`);
    }
  }
  return lines.join('\n');
}

function watchTable(results) {
  const lines = ['| system | events/s | missed | duplicates | put-to-event p50 ms | p99 ms | replay events/s | puts req/s |', '|---|---|---|---|---|---|---|---|'];
  for (const k of systems) {
    const rs = results.filter((r) => r.kind === k);
    if (!rs.length) continue;
    lines.push(`| ${k} | ${medRange(rs.map((r) => r.eventsPerS), 4)} | ${rs.reduce((a, r) => a + r.missed, 0)} | ${rs.reduce((a, r) => a + r.duplicates, 0)} | ${medRange(rs.map((r) => r.p50))} | ${medRange(rs.map((r) => r.p99))} | ${medRange(rs.map((r) => r.replayPerS), 4)} | ${medRange(rs.map((r) => r.putRps), 4)} |`);
  }
  return lines.join('\n');
}

function failoverTable(results) {
  const lines = ['| system | rounds | time to the next successful write: median ms | max ms | all rounds ms |', '|---|---|---|---|---|'];
  for (const k of systems) {
    const rs = results.filter((r) => r.kind === k);
    if (!rs.length) continue;
    const ms = rs.map((r) => r.ms);
    lines.push(`| ${k} | ${rs.length} | ${fmt(median(ms))} | ${fmt(Math.max(...ms.filter((x) => x !== undefined)))} | ${ms.map((x) => fmt(x)).join(', ')} |`);
  }
  if (systems.length === 2) {
    const m = (k) => median(results.filter((r) => r.kind === k).map((r) => r.ms));
    lines.push('', `etcd median / kvd median: **${ratio(m('etcd'), m('kvd'))}x**`);
  }
  return lines.join('\n');
}

function memoryTable(results) {
  const lines = ['| system | keys | RSS per member MiB (5 s after the load) | max | 30 s after | peak (during the load) | load time s | load |', '|---|---|---|---|---|---|---|---|'];
  const members = (xs) => (xs ?? []).map((x) => (x === undefined ? 'gone' : fmt(x))).join(', ');
  for (const r of results) {
    lines.push(`| ${r.kind} | ${r.keys.toLocaleString('en-US')} | ${members(r.rssMiB)} | ${fmt(r.maxRssMiB)} | ${members(r.rss30MiB)} | ${members(r.peakRssMiB)} | ${fmt(r.seconds)} | ${r.failed ? `failed: ${r.failed}` : 'ok'} |`);
  }
  return lines.join('\n');
}

function gitInfo() {
  try {
    const head = execFileSync('git', ['-C', REPO_DIR, 'rev-parse', '--short', 'HEAD']).toString().trim();
    const dirty = execFileSync('git', ['-C', REPO_DIR, 'status', '--porcelain', '--', 'src', 'bin']).toString().trim() ? ' + uncommitted changes' : '';
    return head + dirty;
  } catch {
    return 'unknown';
  }
}

// ---- main ---------------------------------------------------------------------------------

if (args['vs-etcd']) await ensureEtcd(log);
// The watch client speaks plain HTTP and the failover and memory figures are not about the client
// port's encryption: with --tls only the load figures run.
if (tls) {
  if (!args['no-watch'] || !args['no-failover'] || args.memory) log('bench: --tls measures the load figures only (no watch, failover or memory figures)');
  args['no-watch'] = true;
  args['no-failover'] = true;
  args.memory = false;
}
const env = {
  date: new Date().toISOString(),
  cpu: `${cpus().length} x ${cpus()[0]?.model}`,
  memGiB: Math.round(totalmem() / 2 ** 30),
  kernel: release(),
  node: process.version,
  etcd: args['vs-etcd'] ? await etcdVersion() : undefined,
  kvd: gitInfo(),
  command: `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  kvload: kvload,
  clientPort: tls ? 'https (TLS)' : 'http',
  http: args.http,
};
log(`bench: ${JSON.stringify(env)}`);
const out = { env, load: [], watch: [], failover: [], memory: [] };
const started = Date.now();
const jsonFile = args.json ?? join('/tmp/flotilla-bench-results', `${env.date.replace(/[:.]/g, '-')}.json`);
mkdirSync(join(jsonFile, '..'), { recursive: true });
const save = () => writeFileSync(jsonFile, JSON.stringify(out, null, 1));

for (const fig of figures) {
  const n = runsOf(fig);
  for (let r = 0; r < n; r++) {
    const order = r % 2 === 0 ? systems : [...systems].reverse();
    for (const kind of order) {
      log(`[${Math.round((Date.now() - started) / 1000)}s] ${fig.label}: ${kind}, run ${r + 1}/${n}`);
      try {
        const res = await measureLoad(kind, fig);
        log(`  ${res.rps} req/s, p50 ${res.p50} ms, p99 ${res.p99} ms, ${fmt(res.cpuUsPerReq)} µs CPU/req, errors ${res.errors}${res.errors ? ' ' + JSON.stringify(res.errorKinds) : ''}`);
        out.load.push(res);
      } catch (err) {
        log(`  failed: ${err.message}`);
        out.load.push({ kind, figure: fig.id, failed: err.message });
      }
      save();
    }
  }
}
if (!args['no-watch']) {
  for (let r = 0; r < runs; r++) {
    for (const kind of r % 2 === 0 ? systems : [...systems].reverse()) {
      log(`[${Math.round((Date.now() - started) / 1000)}s] watch: ${kind}, run ${r + 1}/${runs}`);
      try {
        const res = await measureWatch(kind);
        log(`  ${fmt(res.eventsPerS)} events/s, missed ${res.missed}, dups ${res.duplicates}, p50 ${fmt(res.p50)} ms, p99 ${fmt(res.p99)} ms, replay ${fmt(res.replayPerS)} events/s`);
        out.watch.push(res);
      } catch (err) {
        log(`  failed: ${err.message}`);
      }
      save();
    }
  }
}
if (!args['no-failover']) {
  const rounds = Number(args['failover-rounds']);
  for (let r = 0; r < rounds; r++) {
    for (const kind of r % 2 === 0 ? systems : [...systems].reverse()) {
      log(`[${Math.round((Date.now() - started) / 1000)}s] failover: ${kind}, round ${r + 1}/${rounds}`);
      try {
        const res = await measureFailover(kind);
        log(`  next successful write ${fmt(res.ms)} ms after kill -9 of the leader (${res.errors} failed requests meanwhile)`);
        out.failover.push(res);
      } catch (err) {
        log(`  failed: ${err.message}`);
      }
      save();
    }
  }
}
if (args.memory) {
  for (const keys of args['memory-keys'].split(',').map(Number)) for (const kind of systems) {
    log(`[${Math.round((Date.now() - started) / 1000)}s] memory: ${kind}, ${keys} keys`);
    const res = await measureMemory(kind, keys);
    log(`  RSS ${res.rssMiB.map((x) => fmt(x)).join(', ')} MiB${res.failed ? ` (the load failed: ${res.failed})` : ''}`);
    out.memory.push(res);
    save();
  }
}

const md = [];
md.push(`Machine: ${env.cpu}, ${env.memGiB} GiB, Linux ${env.kernel}; Node ${env.node}${env.etcd ? `; etcd ${env.etcd}` : ''}; kvd ${env.kvd}; client port ${env.clientPort}; kvload --http ${env.http}; ${env.date}`);
const moreRuns = figures.filter((f) => runsOf(f) !== runs).map((f) => `${runsOf(f)} for ${f.id}`);
md.push(`Command: \`${env.command}\` (${runs} run(s) per figure and system${moreRuns.length ? ` (${moreRuns.join(', ')})` : ''}, fresh cluster each, medians with ranges; ${Math.round((Date.now() - started) / 60000)} min)`);
if (out.load.length) md.push('', loadTable(out.load.filter((r) => !r.failed)));
if (out.watch.length) md.push('', `Watch (a watcher on a follower during 20,000 puts at 64 clients; replay of the same events from history):`, '', watchTable(out.watch));
if (out.failover.length) md.push('', 'Failover (kill -9 of the leader under 16 writers on the other members):', '', failoverTable(out.failover));
if (out.memory.length) md.push('', memoryTable(out.memory));
md.push('', `Raw results: ${jsonFile}`);
console.log(md.join('\n'));
