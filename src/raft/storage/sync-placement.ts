// Where the write-ahead log's fdatasync runs: on the event loop's own thread, or in libuv's pool.
//
// In the pool, every synced write costs two thread hand-offs: a pool thread is woken to make the
// call, and the event loop is woken by its completion. Where cores are shared (the benchmark's
// three members and load generator on two vCPUs) each wake-up is dear: with the rule below, 8%
// less CPU per put at 64 and at 256 clients (docs/benchmarks.md, "Changes made"). In place, though, the
// event loop waits for the disk: no request is read, no read answered and no heartbeat sent until
// the fsync returns. That is cheap while the disk answers within a fraction of a millisecond, and
// not when it does not (a slow or busy disk): then the pool lets the member go on meanwhile.
//
// So fsyncs run in place while they are fast: while the thread spends, on average, at most
// `inlineMaxMs` asleep in each, waiting for the disk (asleep-timer.ts; time spent waiting for a
// core does not count: the event loop would not have run then either). The average is a moving
// one (each fsync weighs 1/8), so that one flush held up by other writes to the disk does not
// change anything, and a disk that has turned slow moves the fsyncs to the pool within a few
// writes. While in the pool, after every `probeEvery` fsyncs there the next runs in place, timed
// (only an fsync in place is timed: a pooled one's time, seen from the event loop, includes the
// wait for the loop itself); when the average is back under the limit, the cheap path is back. A
// persistently slow disk stalls the event loop once per `probeEvery` + 1 writes.

/** While fsyncs in place keep the thread asleep longer than this on average (ms), they run in the pool. */
export const DEFAULT_INLINE_SYNC_MAX_MS = 1;
/** While in the pool, the fsync after this many there runs in place, to see whether the disk is fast again. */
export const DEFAULT_SYNC_PROBE_EVERY = 64;
/** The weight of the newest fsync in the moving average. */
const WEIGHT = 1 / 8;

export interface SyncPlacementOptions {
  /** The limit on the moving average of time asleep per fsync in place (ms); 0: every fsync runs in the pool. */
  inlineMaxMs?: number;
  /** While in the pool, the fsync after this many there runs in place as a probe (at least 1). */
  probeEvery?: number;
}

export class SyncPlacement {
  private readonly maxMs: number;
  private readonly probeEvery: number;
  /** Moving average of the time asleep in an fsync in place, ms. */
  private averageMs = 0;
  /** fsyncs in the pool since the last one in place; -1 while fsyncs run in place. */
  private pooledSinceProbe = -1;
  /** How many fsyncs ran in place and in the pool (the storage's metrics). */
  inlineCount = 0;
  pooledCount = 0;

  constructor(opts: SyncPlacementOptions = {}) {
    this.maxMs = opts.inlineMaxMs ?? DEFAULT_INLINE_SYNC_MAX_MS;
    this.probeEvery = Math.max(1, opts.probeEvery ?? DEFAULT_SYNC_PROBE_EVERY);
  }

  /** Whether the next fsync should run on the calling thread (then report it with `inlineTook`). */
  inline(): boolean {
    if (this.maxMs <= 0) return false;
    return this.pooledSinceProbe < 0 || this.pooledSinceProbe >= this.probeEvery;
  }

  /** An fsync ran in place and kept the thread asleep `ms`. */
  inlineTook(ms: number): void {
    this.inlineCount++;
    this.averageMs += (ms - this.averageMs) * WEIGHT;
    this.pooledSinceProbe = this.averageMs > this.maxMs ? 0 : -1;
  }

  /** An fsync ran in the pool. */
  pooled(): void {
    this.pooledCount++;
    if (this.pooledSinceProbe >= 0) this.pooledSinceProbe++;
  }
}
