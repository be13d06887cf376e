// Keeps a large V8 heap from growing far beyond what is live while the member is busy.
//
// After each major GC, V8 lets the heap grow to a multiple of what survived before the next one:
// a factor it computes from how fast it collects against how fast the program allocates, up to 4x
// on a machine with this much memory. For a small heap that is cheap and right. For a store of a
// million keys (about 220 MiB live) under a write load it meant 400-500 MiB of V8 heap per member
// and a peak RSS of 676-828 MiB (two loads), though 5 s after the load the members were at
// 412-437 MiB. Here the factor is fixed at 1.3 (`--heap-growing-percent=30`) while the heap's low
// point stays above 64 MiB: the same load peaked at 529-555 MiB and took 195 s instead of
// 182-185 s. At 1.5 it peaked at 570-591 MiB in 186 s. Set for every heap, the fixed factor cost 8%
// of put throughput on the 10,000-key benchmark (major GCs on a small heap, often); under that
// load the heap's low point stays at 10-23 MiB, far below the threshold, so it is not set there.
//
// V8 reads the flag each time it sets the next GC's limit, so changing it at run time takes effect
// at the next GC. (Node documents flags changed after start as unsupported in general; this one is
// a plain number V8 reads at that point, and the tests check it is accepted.)
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { everyUnref } from './memory-relief.js';

export interface HeapGrowthOptions {
  /** Milliseconds between samples (default 2000). */
  intervalMs?: number;
  /** How many samples the low point is taken over (default 5: 10 s at the default interval). */
  window?: number;
  /** The low point above which growth is made conservative (default 64 MiB). */
  conservativeAboveBytes?: number;
  /** The low point below which V8 chooses again (default 48 MiB). */
  dynamicBelowBytes?: number;
  /** The growing percent while conservative (default 30: the heap grows to 1.3x what survived). */
  percent?: number;
  /** Default: V8's used heap size. */
  heapUsed?: () => number;
  /** Default: v8.setFlagsFromString. */
  setFlags?: (flags: string) => void;
  /** Runs `fn` every `ms` until the returned function is called (default: an unref'd setInterval). */
  every?: (fn: () => void, ms: number) => () => void;
}

const MiB = 2 ** 20;

/**
 * The heap in use sampled between GCs is live data plus garbage not yet collected; its lowest
 * value over a few samples is close to what is live, and that is what decides.
 */
export class HeapGrowth {
  private cancel: (() => void) | undefined;
  private readonly samples: number[] = [];
  /** Whether the conservative factor is set. */
  conservative = false;

  constructor(private readonly opts: HeapGrowthOptions = {}) {}

  start(): void {
    if (this.cancel) return;
    this.cancel = (this.opts.every ?? everyUnref)(() => this.tick(), this.opts.intervalMs ?? 2000);
  }

  tick(): void {
    const window = this.opts.window ?? 5;
    this.samples.push((this.opts.heapUsed ?? (() => getHeapStatistics().used_heap_size))());
    if (this.samples.length > window) this.samples.shift();
    if (this.samples.length < window) return;
    const low = Math.min(...this.samples);
    if (!this.conservative && low > (this.opts.conservativeAboveBytes ?? 64 * MiB)) this.set(true);
    else if (this.conservative && low < (this.opts.dynamicBelowBytes ?? 48 * MiB)) this.set(false);
  }

  private set(conservative: boolean): void {
    this.conservative = conservative;
    (this.opts.setFlags ?? setFlagsFromString)(`--heap-growing-percent=${conservative ? (this.opts.percent ?? 30) : 0}`);
  }

  /** Stops sampling and gives the choice back to V8. */
  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
    if (this.conservative) this.set(false);
  }
}
