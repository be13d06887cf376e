// Runs many seeds and reports like a test runner: each failing seed with its first violation and
// the command that replays it, then exactly "seeds: N, violations: V". Wall-clock time is measured
// here, outside the simulation, and only for the report.
import { Worker } from 'node:worker_threads';
import { DEFAULT_STEPS, type BugName } from './options.js';
import { newStats, runSimulation, type SimResult, type SimStats } from './simulation.js';

export interface RunOptions {
  /** Run seeds first .. first+seeds-1. */
  seeds: number;
  first: number;
  /** Cluster size; when absent, even seeds run 3 nodes and odd seeds 5. */
  nodes?: number;
  steps?: number;
  bugs?: readonly BugName[];
  /** Print the last `trace` lines of each failing seed's run (for replaying one seed). */
  trace?: number;
  /** Worker threads; 1 runs in this thread. */
  jobs?: number;
  stats?: boolean;
  out?: (line: string) => void;
}

export interface SeedOutcome {
  seed: number;
  nodes: number;
  steps: number;
  time: number;
  violation?: string;
  trace: string[];
  stats: SimStats;
}

export interface RunSummary {
  seeds: number;
  violations: number;
  failures: SeedOutcome[];
  elapsedMs: number;
  stats: SimStats;
}

export function nodesForSeed(seed: number, nodes?: number): number {
  return nodes ?? (seed % 2 === 0 ? 3 : 5);
}

export function replayCommand(seed: number, nodes: number, steps: number, bugs: readonly BugName[] = []): string {
  const bugArgs = bugs.map((b) => ` --bug ${b}`).join('');
  return `npm run sim -- --seed ${seed} --nodes ${nodes} --steps ${steps}${bugArgs} --trace 200`;
}

export function runOne(seed: number, opts: Pick<RunOptions, 'nodes' | 'steps' | 'bugs' | 'trace'>): SeedOutcome {
  const r: SimResult = runSimulation({
    seed,
    nodes: nodesForSeed(seed, opts.nodes),
    steps: opts.steps ?? DEFAULT_STEPS,
    bugs: opts.bugs,
    trace: opts.trace,
  });
  return { seed, nodes: r.nodes, steps: r.steps, time: r.time, violation: r.violation, trace: r.trace, stats: r.stats };
}

function addStats(into: SimStats, from: SimStats): void {
  for (const k of Object.keys(into) as (keyof SimStats)[]) into[k] += from[k];
}

export function formatFailure(o: SeedOutcome, steps: number, bugs: readonly BugName[] = []): string[] {
  const lines = [`FAIL seed ${o.seed} (${o.nodes} nodes) at step ${o.steps}, t=${o.time}: ${o.violation}`];
  lines.push(`  replay: ${replayCommand(o.seed, o.nodes, steps, bugs)}`);
  return lines;
}

export async function runSeeds(opts: RunOptions): Promise<RunSummary> {
  const out = opts.out ?? ((line: string) => console.log(line));
  const steps = opts.steps ?? DEFAULT_STEPS;
  const seeds = Array.from({ length: opts.seeds }, (_, i) => opts.first + i);
  const started = process.hrtime.bigint();
  const jobs = Math.max(1, Math.min(opts.jobs ?? 1, seeds.length));
  const outcomes: SeedOutcome[] = [];
  const report = (o: SeedOutcome) => {
    // A single seed's trace is shown whether or not it failed: replaying a passing seed is how one reads a run.
    if (opts.trace && (o.violation || seeds.length === 1)) for (const l of o.trace) out(`    ${l}`);
    if (o.violation) for (const l of formatFailure(o, steps, opts.bugs)) out(l);
  };
  if (jobs === 1) {
    for (const seed of seeds) {
      const o = runOne(seed, { ...opts, steps });
      outcomes.push(o);
      report(o);
    }
  } else {
    const parts = await Promise.all(
      Array.from({ length: jobs }, (_, j) => runInWorker(seeds.filter((_, i) => i % jobs === j), { ...opts, steps, out: undefined })),
    );
    for (const o of parts.flat().sort((a, b) => a.seed - b.seed)) {
      outcomes.push(o);
      report(o);
    }
  }
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  const stats = newStats();
  for (const o of outcomes) addStats(stats, o.stats);
  const failures = outcomes.filter((o) => o.violation);
  return { seeds: outcomes.length, violations: failures.length, failures, elapsedMs, stats };
}

function runInWorker(seeds: number[], opts: RunOptions): Promise<SeedOutcome[]> {
  return new Promise((resolve, reject) => {
    // Under a TypeScript loader (the tests) this module is runner.ts, and its worker is worker.ts.
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    const worker = new Worker(new URL(`./worker.${ext}`, import.meta.url), { workerData: { seeds, opts } });
    worker.once('message', (outcomes: SeedOutcome[]) => resolve(outcomes));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`sim worker exited with code ${code}`));
    });
  });
}

/** The report's tail: timing, optional counters, and the summary line (always last). */
export function summaryLines(s: RunSummary, withStats: boolean): string[] {
  const secs = s.elapsedMs / 1000;
  const lines = [`time: ${secs.toFixed(1)} s, ${(s.seeds / Math.max(secs, 1e-9)).toFixed(1)} seeds/s, ${Math.round(s.stats.steps / Math.max(1, s.seeds))} steps/seed`];
  if (withStats) {
    lines.push(
      'totals: ' +
        Object.entries(s.stats)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
    );
  }
  lines.push(`seeds: ${s.seeds}, violations: ${s.violations}`);
  return lines;
}
