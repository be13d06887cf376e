// Runs one scenario: a fresh cluster, the workload, the nemesis for the given time, recovery, the
// checkers; returns (and prints) the summary.

import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Anomaly } from './checker/anomaly.js';
import { checkHistory, type CheckReport } from './checker/check.js';
import { describeOp, type Op, type OpKind } from './checker/history.js';
import { Cluster } from './harness/cluster.js';
import { b64, closeAgents, errorText, post } from './lib/http.js';
import { Rng, sleep } from './lib/rng.js';
import type { FaultRecord } from './scenarios/faults.js';
import type { Scenario } from './scenarios/index.js';
import { prefixEnd, Workload } from './workload/workload.js';

export interface RunOptions {
  seed: number;
  durationMs: number;
  clients: number;
  keys: number;
  watchers: number;
  /** Client timeout per operation. */
  timeoutMs: number;
  thinkMs: [number, number];
  members?: number;
  /** Multiplies the pauses between faults. */
  pace: number;
  heartbeatMs?: number;
  electionMs?: number;
  snapshotCount?: number;
  snapshotCatchUpEntries?: number;
  /** A deliberately broken client: gets sent as serializable reads, checked as linearizable. */
  unsafeSerializableReads?: boolean;
  /**
   * A deliberately broken server: every member started with kvd's test-only
   * --test-only-unsafe-local-reads (linearizable reads answered locally, without ReadIndex).
   */
  unsafeLocalReads?: boolean;
  /** kvd's --log-level (default info: the member logs of a failed run are kept). */
  logLevel?: string;
  /** Where to write the history and logs: always when set; otherwise a temp dir, on failure only. */
  outDir?: string;
  quiet?: boolean;
  verbose?: boolean;
  print?: (line: string) => void;
}

export interface Failover {
  count: number;
  medianMs: number;
  maxMs: number;
  samples: number[];
}

export interface RunResult {
  scenario: string;
  seed: number;
  durationMs: number;
  members: number;
  ops: number;
  byKind: Record<OpKind, { ok: number; fail: number; unknown: number }>;
  faults: Record<string, number>;
  unknown: number;
  unknownCommitted: number;
  unknownNotCommitted: number;
  unknownUnresolved: number;
  /** Unknown outcomes by the client's reason (timeout, or the member's error): how many committed. */
  unknownReasons: Record<string, { count: number; committed: number; notCommitted: number }>;
  watchEvents: number;
  watchReconnects: number;
  /** From the member logs: Raft snapshots taken, and installed from a leader. */
  snapshotsTaken: number;
  snapshotsInstalled: number;
  anomalies: number;
  anomalyCounts: Record<string, number>;
  failover?: Failover;
  passed: boolean;
  savedTo?: string;
  error?: string;
}

export async function runScenario(sc: Scenario, o: RunOptions): Promise<RunResult> {
  const print = o.print ?? ((l: string) => process.stdout.write(l + '\n'));
  const log = (l: string) => {
    if (!o.quiet) print(`  ${l}`);
  };
  const members = o.members ?? sc.members;
  const rng = new Rng(o.seed);
  print(`== ${sc.name}: ${sc.description}`);
  print(`   seed=${o.seed} duration=${(o.durationMs / 1000).toFixed(0)}s members=${members} heartbeat=${o.heartbeatMs ?? 100}ms election=${o.electionMs ?? 1000}ms clients=${o.clients} keys=${o.keys} watchers=${o.watchers} timeout=${o.timeoutMs}ms${o.unsafeSerializableReads ? ' UNSAFE-SERIALIZABLE-READS (broken client)' : ''}${o.unsafeLocalReads ? ' UNSAFE-LOCAL-READS (broken server)' : ''}`);
  const faults: FaultRecord[] = [];
  let cluster: Cluster;
  try {
    cluster = await Cluster.start({
    members,
    heartbeatMs: o.heartbeatMs,
    electionMs: o.electionMs,
    snapshotCount: o.snapshotCount,
    snapshotCatchUpEntries: o.snapshotCatchUpEntries,
    logLevel: o.logLevel,
    dataDir: o.outDir ? join(o.outDir, `${sc.name}-${o.seed}`, 'data') : undefined,
    flags: o.unsafeLocalReads ? ['--test-only-unsafe-local-reads'] : [],
  });
  } catch (err) {
    const error = `the cluster did not start: ${(err as Error).message}`;
    print(`   ERROR: ${error}`);
    const r: RunResult = {
      scenario: sc.name, seed: o.seed, durationMs: o.durationMs, members, ops: 0,
      byKind: { put: z(), get: z(), delete: z(), cas: z() }, faults: {}, unknown: 0, unknownCommitted: 0,
      unknownNotCommitted: 0, unknownUnresolved: 0, unknownReasons: {}, watchEvents: 0, watchReconnects: 0,
      snapshotsTaken: 0, snapshotsInstalled: 0, anomalies: 0, anomalyCounts: {}, passed: false, error,
    };
    printSummary(r, [], print, o.verbose);
    return r;
  }
  let workload: Workload | undefined;
  let report: CheckReport | undefined;
  let finalRev: number | undefined;
  let divergence: Anomaly | undefined;
  const t0 = performance.now();
  let error: string | undefined;
  try {
    workload = new Workload({
      clients: o.clients,
      keys: o.keys,
      watchers: o.watchers,
      prefix: 'ct/',
      timeoutMs: o.timeoutMs,
      thinkMs: o.thinkMs,
      mix: { put: 30, get: 35, cas: 25, delete: 10 },
      rng: rng.fork(),
      endpoints: () => cluster.current.map((m) => ({ name: m.name, url: m.url })),
      unsafeSerializableReads: o.unsafeSerializableReads,
    });
    await workload.init();
    workload.start();
    const nemesisRng = rng.fork();
    await sleep(Math.min(1000, o.durationMs / 10));
    await sc.nemesis({ cluster, rng: nemesisRng, faults, log, t0, until: t0 + o.durationMs, pace: o.pace });
    const left = t0 + o.durationMs - performance.now();
    if (left > 0) await sleep(left);

    // The end: stop the clients, heal everything, and read the final revision.
    log(`+${((performance.now() - t0) / 1000).toFixed(1)}s stopping the workload; healing`);
    await workload.stopClients();
    await cluster.healAll();
    if (!(await cluster.waitHealthy(30000))) log('the cluster is not healthy 30 s after healing');
    await sleep(1000);
    finalRev = await readFinalRevision(cluster, workload.o.prefix);
    if (finalRev !== undefined) {
      const caught = await workload.waitWatchers(finalRev, 30000);
      if (!caught) log(`watchers did not all reach revision ${finalRev}`);
      divergence = await compareMemberHashes(cluster, finalRev, log);
    }
    workload.stopWatchers();
  } catch (err) {
    error = (err as Error).stack ?? String(err);
    print(`   ERROR: ${error}`);
    workload?.stopWatchers();
  }
  closeAgents();

  let savedTo: string | undefined;
  try {
    if (workload) {
      const t = performance.now();
      report = checkHistory(workload.history(finalRev));
      log(`checked ${workload.ops.length} ops and ${report.stats.watchEvents} watch events in ${((performance.now() - t) / 1000).toFixed(1)}s`);
    }
  } catch (err) {
    error = (error ? error + '\n' : '') + `checker: ${(err as Error).stack}`;
    print(`   ERROR: checker: ${(err as Error).message}`);
  }
  if (report && divergence) {
    report.anomalies.push(divergence);
    report.counts['member-divergence'] = 1;
  }
  if (report && workload && finalRev === undefined) {
    report.anomalies.push({ type: 'no-recovery', message: 'the cluster served no linearizable read after every fault was healed' });
    report.counts['no-recovery'] = 1;
  }
  const anomalies = report ? Object.values(report.counts).reduce((a, b) => a + b, 0) : 0;
  const passed = !error && !!report && anomalies === 0;
  if (o.outDir || !passed) {
    savedTo = o.outDir ? join(o.outDir, `${sc.name}-${o.seed}`) : join(tmpdir(), 'flotilla-cluster-tests', `${sc.name}-${o.seed}`);
    try {
      await save(savedTo, cluster, workload, faults, report, finalRev);
    } catch (err) {
      print(`   could not save the run: ${(err as Error).message}`);
      savedTo = undefined;
    }
  }
  await cluster.close();

  const faultCounts: Record<string, number> = {};
  for (const f of faults) faultCounts[f.kind] = (faultCounts[f.kind] ?? 0) + 1;
  const result: RunResult = {
    scenario: sc.name,
    seed: o.seed,
    durationMs: o.durationMs,
    members,
    ops: workload?.ops.length ?? 0,
    byKind: report?.stats.byKind ?? { put: z(), get: z(), delete: z(), cas: z() },
    faults: faultCounts,
    unknown: workload?.ops.filter((x) => x.status === 'unknown').length ?? 0,
    unknownCommitted: report?.stats.unknownCommitted ?? 0,
    unknownNotCommitted: report?.stats.unknownNotCommitted ?? 0,
    unknownUnresolved: report?.stats.unknownUnresolved ?? 0,
    unknownReasons: unknownReasons(workload?.ops ?? [], report),
    watchEvents: report?.stats.watchEvents ?? 0,
    watchReconnects: report?.stats.watchReconnects ?? 0,
    snapshotsTaken: cluster.members.reduce((n, m) => n + m.snapshotsTaken, 0),
    snapshotsInstalled: cluster.members.reduce((n, m) => n + m.snapshotsInstalled, 0),
    anomalies,
    anomalyCounts: report?.counts ?? {},
    failover: sc.failover && workload ? failoverFigures(faults, workload.ops) : undefined,
    passed,
    savedTo,
    error,
  };
  printSummary(result, report?.anomalies ?? [], print, o.verbose);
  return result;
}

const z = () => ({ ok: 0, fail: 0, unknown: 0 });

function unknownReasons(ops: Op[], report: CheckReport | undefined): RunResult['unknownReasons'] {
  const out: RunResult['unknownReasons'] = {};
  for (const op of ops) {
    if (op.status !== 'unknown') continue;
    const reason = (op.error ?? 'unknown').replace(/\d+ ms/, 'N ms').replace(/^HTTP \d+: /, '');
    const r = (out[reason] ??= { count: 0, committed: 0, notCommitted: 0 });
    r.count++;
    const res = report?.resolution.get(op.id);
    if (res === 'committed') r.committed++;
    else if (res === 'not committed') r.notCommitted++;
  }
  return out;
}

async function readFinalRevision(cluster: Cluster, prefix: string): Promise<number | undefined> {
  const deadline = performance.now() + 30000;
  while (performance.now() < deadline) {
    for (const m of cluster.current.filter((x) => x.state === 'running')) {
      const r = await post(m.url, '/v3/kv/range', { key: b64(prefix), range_end: b64(prefixEnd(prefix)), count_only: true }, 3000);
      if (r.kind === 'answer' && r.status === 200) return Number(r.body.header?.revision);
    }
    await sleep(300);
  }
  return undefined;
}

/**
 * Every running member's HashKV at the final revision, once it has applied it (a linearizable read
 * on that member returns once it has): members that applied the same log agree, so two different
 * hashes mean a member's store diverged, whatever the clients saw. A member that does not answer
 * is logged, not counted (recovery is the read check's business).
 */
async function compareMemberHashes(cluster: Cluster, rev: number, log: (l: string) => void): Promise<Anomaly | undefined> {
  const hashes: { name: string; hash: number }[] = [];
  for (const m of cluster.current.filter((x) => x.state === 'running')) {
    const read = await post(m.url, '/v3/kv/range', { key: b64('\0'), count_only: true }, 10000);
    const r = read.kind === 'answer' && read.status === 200 ? await post(m.url, '/v3/maintenance/hashkv', { revision: rev }, 30000) : read;
    if (r.kind === 'answer' && r.status === 200) hashes.push({ name: m.name, hash: Number(r.body.hash ?? 0) });
    else log(`${m.name} gave no hash at revision ${rev}: ${errorText(r)}`);
  }
  const listed = hashes.map((h) => `${h.name}: ${h.hash}`).join(', ');
  log(`member hashes at revision ${rev}: ${listed}`);
  if (new Set(hashes.map((h) => h.hash)).size <= 1) return undefined;
  return { type: 'member-divergence', message: `the members' histories up to revision ${rev} differ: ${listed}` };
}

/** For each fault that took the leader down: the time to the next successful write invoked after it. */
export function failoverFigures(faults: FaultRecord[], ops: Op[]): Failover | undefined {
  const writes = ops.filter((op) => op.kind !== 'get' && op.status === 'ok').sort((a, b) => a.invoke - b.invoke);
  const samples: number[] = [];
  for (const f of faults) {
    if (!f.leaderDown) continue;
    const next = writes.filter((w) => w.invoke >= f.at).reduce<Op | undefined>((best, w) => (!best || w.ret! < best.ret! ? w : best), undefined);
    if (next) samples.push(next.ret! - f.at);
  }
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  return { count: samples.length, medianMs: Math.round(median), maxMs: Math.round(sorted[sorted.length - 1]!), samples: samples.map(Math.round) };
}

export function printSummary(r: RunResult, anomalies: Anomaly[], print: (l: string) => void, verbose?: boolean): void {
  const k = r.byKind;
  const kinds = (['put', 'get', 'cas', 'delete'] as const).map((x) => `${x} ${k[x].ok + k[x].fail + k[x].unknown} (ok ${k[x].ok}, fail ${k[x].fail}, unknown ${k[x].unknown})`);
  print(`   ops: ${r.ops} in ${(r.durationMs / 1000).toFixed(0)}s: ${kinds.join('; ')}`);
  const fk = Object.entries(r.faults).map(([n, c]) => `${n} x${c}`);
  print(`   faults: ${fk.length ? fk.join(', ') : 'none'}`);
  print(`   unknown outcomes: ${r.unknown} (committed ${r.unknownCommitted}, not committed ${r.unknownNotCommitted}, unresolved ${r.unknownUnresolved})`);
  for (const [reason, c] of Object.entries(r.unknownReasons).sort((a, b) => b[1].count - a[1].count)) {
    print(`      ${String(c.count).padStart(5)} ${reason}: committed ${c.committed}, not committed ${c.notCommitted}`);
  }
  print(`   watch: ${r.watchEvents} events, ${r.watchReconnects} resumptions`);
  if (r.snapshotsTaken || r.snapshotsInstalled) print(`   raft snapshots: ${r.snapshotsTaken} taken, ${r.snapshotsInstalled} installed from a leader`);
  if (r.failover) print(`   failover (leader down -> next successful write): median ${r.failover.medianMs} ms, max ${r.failover.maxMs} ms over ${r.failover.count}`);
  for (const a of anomalies) {
    print(`   ANOMALY ${a.type}: ${a.message}`);
    for (const l of (a.excerpt ?? []).slice(0, verbose ? 200 : 45)) print(`      ${l}`);
  }
  const counts = Object.entries(r.anomalyCounts).map(([t, n]) => `${t} ${n}`);
  print(`   anomalies: ${r.anomalies}${counts.length ? ` (${counts.join(', ')})` : ''}${r.error ? '; the run itself failed' : ''}`);
  if (r.savedTo) print(`   history and logs: ${r.savedTo}`);
  print(`   ${r.passed ? 'PASS' : 'FAIL'} ${r.scenario} seed=${r.seed}`);
}

async function save(dir: string, cluster: Cluster, w: Workload | undefined, faults: FaultRecord[], report: CheckReport | undefined, finalRev: number | undefined): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (w) {
    await writeFile(join(dir, 'history.json'), JSON.stringify(w.history(finalRev)));
    await writeFile(join(dir, 'ops.txt'), w.ops.map(describeOp).join('\n') + '\n');
  }
  await writeFile(join(dir, 'faults.json'), JSON.stringify(faults, null, 1));
  if (report) await writeFile(join(dir, 'report.json'), JSON.stringify({ counts: report.counts, anomalies: report.anomalies, stats: { ...report.stats, keys: report.stats.keys } }, null, 1));
  for (const m of cluster.members) await writeFile(join(dir, `${m.name}.log`), m.log());
}
