// One short cluster-tests scenario with real kvd processes: the leader kill loop for 15 seconds,
// checked for linearizability and watch properties. The long runs are `npm run cluster-test`.
//
// The scenario runs as its own process (as `npm run cluster-test` does), without coverage
// collection: the harness is test code, and kvd's coverage comes from its own tests.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = fileURLToPath(new URL('../..', import.meta.url));
const runJs = join(root, 'dist', 'cluster-tests', 'run.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

t.test('leader kill loop: 0 anomalies', { timeout: 180_000 }, async (t) => {
  t.ok(existsSync(join(root, 'dist', 'bin', 'kvd.js')), 'kvd is built');
  // Built by `npm run build` once tsconfig.json includes cluster-tests; otherwise (or when stale) here.
  if (!existsSync(runJs) || statSync(runJs).mtimeMs < newestSource(join(root, 'cluster-tests'))) {
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'cluster-tests', 'tsconfig.json')], {
      encoding: 'utf8',
      env: { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' },
    });
    t.equal(tsc.status, 0, `cluster-tests compiles ${tsc.stdout}${tsc.stderr}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-ct-smoke-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const seed = Number(process.env.CT_SMOKE_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.comment(`seed ${seed} (replay: node dist/cluster-tests/run.js leader-kill --duration 15 --seed ${seed})`);
  const json = join(dir, 'result.json');
  const child = spawn(process.execPath, [runJs, 'leader-kill', '--duration', '15', '--seed', String(seed), '--json', json], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' },
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  t.equal(code, 0, 'the scenario passes');
  if (code !== 0) t.comment(out);
  const [r] = JSON.parse(readFileSync(json, 'utf8'));
  t.equal(r.anomalies, 0, 'no anomalies');
  t.ok(r.ops > 300, `operations were made (${r.ops})`);
  t.ok((r.faults['kill-leader'] ?? 0) >= 2, `the leader was killed (${r.faults['kill-leader']} times)`);
  t.ok(r.byKind.get.ok > 0 && r.byKind.put.ok > 0 && r.byKind.cas.ok > 0 && r.byKind.delete.ok > 0, 'every kind of operation succeeded sometimes');
  t.ok(r.watchEvents > 0, 'the watchers saw events');
  t.ok(r.failover && r.failover.maxMs < 10_000, `writes resume after a leader kill (median ${r.failover?.medianMs} ms, max ${r.failover?.maxMs} ms)`);
});
