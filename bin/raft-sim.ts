#!/usr/bin/env node
// raft-sim: runs the deterministic Raft simulator over many seeds (or replays one).
//   npm run sim -- --seeds N [--nodes 3|5] [--steps K] [--first F] [--jobs J] [--bug NAME] [--stats]
//   npm run sim -- --seed S --nodes 3|5 [--steps K] [--bug NAME] [--trace [LINES]]
import { parseArgs } from 'node:util';
import { BUG_NAMES, DEFAULT_STEPS, runSeeds, summaryLines, type BugName } from '../src/raft/sim/index.js';

const USAGE = `usage: raft-sim (--seeds N [--first F] | --seed S) [--nodes 3|5] [--steps K] [--jobs J]
                [--bug ${BUG_NAMES.join('|')}]... [--trace [LINES]] [--stats]`;

function fail(msg: string): never {
  console.error(`raft-sim: ${msg}\n${USAGE}`);
  process.exit(2);
}

function int(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) fail(`--${name} wants an integer >= ${min}, not "${v}"`);
  return Number(v);
}

// --trace takes an optional count: "--trace" alone means 200 lines.
const argv = process.argv.slice(2).flatMap((a, i, all) => (a === '--trace' && !/^\d+$/.test(all[i + 1] ?? '') ? ['--trace', '200'] : [a]));
let values;
try {
  ({ values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      first: { type: 'string' },
      nodes: { type: 'string' },
      steps: { type: 'string' },
      jobs: { type: 'string' },
      bug: { type: 'string', multiple: true },
      trace: { type: 'string' },
      stats: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (values.seeds !== undefined && values.seed !== undefined) fail('give --seeds or --seed, not both');
const nodes = int('nodes', values.nodes, 1);
if (nodes !== undefined && nodes !== 3 && nodes !== 5) fail('--nodes must be 3 or 5');
const bugs = (values.bug ?? []).map((b) => {
  if (!(BUG_NAMES as readonly string[]).includes(b)) fail(`unknown bug "${b}"`);
  return b as BugName;
});
const single = int('seed', values.seed, 0);

const summary = await runSeeds({
  seeds: single !== undefined ? 1 : (int('seeds', values.seeds, 1) ?? 100),
  first: single ?? int('first', values.first, 0) ?? 1,
  nodes,
  steps: int('steps', values.steps, 1) ?? DEFAULT_STEPS,
  bugs,
  trace: int('trace', values.trace, 1),
  jobs: int('jobs', values.jobs, 1) ?? 1,
});
for (const line of summaryLines(summary, values.stats ?? false)) console.log(line);
process.exitCode = summary.violations > 0 ? 1 : 0;
