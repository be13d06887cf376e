// Measures the cost of RaftStorage.append (one synced record of the write-ahead log each) on this machine:
//   npm run build && node dist/src/raft/storage/bench.js [rounds] [dir]
// Prints, for batches of 1 and of 500 entries of 256 bytes (each append also carries a hard
// state, as a Ready does), the median / p90 / p99 / mean time per append and entries per second.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { EntryType, type Entry } from '../types.js';
import { RaftStorage } from './raft-storage.js';

export interface BenchResult {
  batch: number;
  rounds: number;
  medianMs: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  entriesPerSec: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export async function benchAppend(dir: string, batch: number, rounds: number, entryBytes = 256): Promise<BenchResult> {
  const storage = await RaftStorage.open(dir, { logger: pino({ level: 'silent' }) });
  try {
    const data = new Uint8Array(entryBytes).fill(0x5a);
    let next = storage.lastIndex + 1;
    const times: number[] = [];
    for (let r = 0; r < rounds + 5; r++) {
      const entries: Entry[] = [];
      for (let i = 0; i < batch; i++) entries.push({ index: next + i, term: 1, type: EntryType.Normal, data });
      const t0 = performance.now();
      await storage.append({ hardState: { term: 1, vote: 1, commit: next - 1 }, entries });
      const ms = performance.now() - t0;
      if (r >= 5) times.push(ms); // the first appends warm LevelDB up
      next += batch;
    }
    const sorted = [...times].sort((a, b) => a - b);
    const total = times.reduce((a, b) => a + b, 0);
    return {
      batch,
      rounds,
      medianMs: quantile(sorted, 0.5),
      p90Ms: quantile(sorted, 0.9),
      p99Ms: quantile(sorted, 0.99),
      meanMs: total / rounds,
      entriesPerSec: (batch * rounds * 1000) / total,
    };
  } finally {
    await storage.close();
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 200);
  const base = process.argv[3] ?? tmpdir();
  const dir = await mkdtemp(join(base, 'raft-storage-bench-'));
  try {
    for (const batch of [1, 500]) {
      const r = await benchAppend(join(dir, `b${batch}`), batch, rounds);
      const f = (n: number) => n.toFixed(2);
      console.log(
        `append of ${batch} x 256 B: median ${f(r.medianMs)} ms, p90 ${f(r.p90Ms)} ms, p99 ${f(r.p99Ms)} ms, ` +
          `mean ${f(r.meanMs)} ms, ${Math.round(r.entriesPerSec)} entries/s (${rounds} appends)`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
