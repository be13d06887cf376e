// Runs one cluster-tests scenario as its own process (as `npm run cluster-tests` does) and checks
// its summary. Shared by the short scenario tests (test/cluster/scenario-*.test.ts), one file per
// scenario so that tap runs them as separate jobs, each well within tap's per-file timeout.
//
// The scenario runs without coverage collection: the harness is test code, and kvd's coverage comes
// from its own tests.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { plainNode } from '../plain-node.js';
import type { RunResult } from '../../cluster-tests/runner.js';

export const root = fileURLToPath(new URL('../..', import.meta.url));
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

export interface ScenarioRun {
  code: number | null;
  output: string;
  result: RunResult;
  /** Where the run's history.json, report.json and member logs are. */
  outDir: string;
}

/** The seed of a test run: CT_SMOKE_SEED to replay one, otherwise random (and printed). */
export function smokeSeed(): number {
  return Number(process.env.CT_SMOKE_SEED ?? Math.floor(Math.random() * 2 ** 31));
}

/** Runs `node dist/cluster-tests/run.js <scenario> --duration S --seed N ...args` and reads its result. */
export async function runScenarioProcess(t: Test, scenario: string, durationS: number, seed: number, args: string[] = []): Promise<ScenarioRun> {
  t.ok(existsSync(join(root, 'dist', 'bin', 'kvd.js')), 'kvd is built (npm run build)');
  t.ok(
    existsSync(runJs) && statSync(runJs).mtimeMs >= newestSource(join(root, 'cluster-tests')),
    'dist/cluster-tests is built and current (npm run build)',
  );
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-ct-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const argv = [scenario, '--duration', String(durationS), '--seed', String(seed), ...args];
  t.comment(`replay: node dist/cluster-tests/run.js ${argv.join(' ')}`);
  const json = join(dir, 'result.json');
  const outDir = join(dir, 'out');
  // A plain node (no coverage; its kvd members inherit the environment and are plain too).
  const child = spawn(...plainNode([runJs, ...argv, '--json', json, '--out', outDir, '--quiet']), { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const [result] = JSON.parse(readFileSync(json, 'utf8')) as RunResult[];
  return { code, output, result: result!, outDir: join(outDir, `${scenario}-${seed}`) };
}

export interface ShortScenario {
  scenario: string;
  /** Seconds of faults (the run takes about 10 s more: start, recovery, checks). */
  durationS: number;
  /** The fault kinds this scenario injects: at least one fault of one of them must have happened. */
  faults: string[];
  /** Failover figures must be printed (every fault takes the leader down). */
  failover?: boolean;
}

/** The short version of one scenario: it must pass with 0 anomalies, having injected faults and completed operations. */
export function shortScenarioTest(t: Test, s: ShortScenario): void {
  t.test(`${s.scenario} for ${s.durationS} s: 0 anomalies`, { timeout: (s.durationS + 120) * 1000 }, async (t) => {
    const seed = smokeSeed();
    const { code, output, result: r } = await runScenarioProcess(t, s.scenario, s.durationS, seed);
    t.equal(code, 0, 'the scenario passes');
    if (code !== 0) t.comment(output);
    t.equal(r.error, undefined, 'the run itself did not fail');
    t.equal(r.anomalies, 0, 'no anomalies');
    t.same(r.anomalyCounts, {}, 'no anomaly of any kind');
    const injected = s.faults.reduce((n, k) => n + (r.faults[k] ?? 0), 0);
    t.ok(injected >= 1, `faults were injected (${JSON.stringify(r.faults)})`);
    const ok = Object.values(r.byKind).reduce((n, k) => n + k.ok, 0);
    t.ok(ok >= 50, `operations completed (${ok} ok of ${r.ops})`);
    t.ok(r.byKind.get.ok > 0 && r.byKind.put.ok > 0 && r.byKind.cas.ok > 0 && r.byKind.delete.ok > 0, 'every kind of operation succeeded sometimes');
    t.ok(r.watchEvents > 0, `the watchers saw events (${r.watchEvents})`);
    if (s.failover) {
      t.ok(r.failover && r.failover.count >= 1, 'failover figures were taken');
      t.ok(r.failover && r.failover.maxMs < 10_000, `writes resume after the leader goes down (median ${r.failover?.medianMs} ms, max ${r.failover?.maxMs} ms)`);
    }
  });
}
