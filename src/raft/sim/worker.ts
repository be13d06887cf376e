// A worker thread's share of a multi-seed run (see runSeeds' `jobs`).
import { parentPort, workerData } from 'node:worker_threads';
import { runOne, type RunOptions, type SeedOutcome } from './runner.js';

const { seeds, opts } = workerData as { seeds: number[]; opts: RunOptions };
const outcomes: SeedOutcome[] = seeds.map((seed) => runOne(seed, opts));
parentPort!.postMessage(outcomes);
