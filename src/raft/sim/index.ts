// The deterministic simulator of the Raft core (see docs/raft.md, "The simulator").
export { Checker, type DiskView, type LogView } from './checker.js';
export { BUG_NAMES, DEFAULT_STEPS, type BugName, type SimOptions } from './options.js';
export { Rng, mixSeed } from './random.js';
export { formatFailure, nodesForSeed, replayCommand, runOne, runSeeds, summaryLines, type RunOptions, type RunSummary, type SeedOutcome } from './runner.js';
export { runSimulation, Simulation, type SimResult, type SimStats } from './simulation.js';
