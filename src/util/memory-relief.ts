// Gives memory back to the system after a burst of writes, when the member goes quiet.
//
// Two kinds of memory stay resident after a burst (a million-key load left ~650 MiB per member,
// of which ~220 MiB was the live V8 heap):
// - Free malloc memory. ArrayBuffers (request bodies, peer frames, encoded records) and LevelDB
//   allocate with malloc; glibc only returns the free space at the top of its heap, and in a heap
//   where a few blocks are still in use everywhere that is almost nothing. glibc's malloc_trim()
//   returns every whole free page: called on every tick that finds the member idle, or grown.
// - V8's old space. The burst's garbage is collected only when allocation asks for it, and the
//   emptied pages are returned only by a GC made to reduce memory, which V8's memory reducer starts
//   by itself once it judges the process idle: measured 30-60 s after the load ended. Here, when a
//   tick finds the event loop idle and the heap grown since the last such GC, the native binding
//   tells V8 of memory pressure, which starts that GC at once (incrementally: no long pause).
//   Garbage ArrayBuffers go with it, and a trim as soon as the GC ends returns their malloc memory.
//
// native/memory is the binding; scripts/build-native.mjs builds it at install.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { constants, performance, PerformanceObserver, type EventLoopUtilization } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import type { Logger } from './log.js';

export interface MemoryBinding {
  /** glibc's malloc_trim(0); returns whether any memory went back to the system. */
  trim(): boolean;
  /** False where the C library has no malloc_trim (not glibc): trim() then does nothing. */
  trimSupported: boolean;
  /** Starts a compacting, memory-reducing major GC (V8's moderate memory pressure); returns at once. */
  relieveHeap(): void;
}

const ADDON = join('native', 'memory', 'build', 'Release', 'memory.node');

export type LoadedBinding = { binding: MemoryBinding } | { why: string };

/**
 * The built binding, looked for above `from` (src/util or dist/src/util), or why there is none: not
 * built, or built for another Node (its V8 API is not ABI-stable; npm install rebuilds it).
 */
export function loadMemoryBinding(from = dirname(fileURLToPath(import.meta.url))): LoadedBinding {
  const require = createRequire(import.meta.url);
  let dir = from;
  for (let i = 0; i < 5; i++) {
    const path = join(dir, ADDON);
    if (existsSync(path)) {
      try {
        return { binding: require(path) as MemoryBinding };
      } catch (err) {
        return { why: `${ADDON} could not be loaded (${(err as Error).message.split('\n')[0]}); npm install rebuilds it` };
      }
    }
    dir = dirname(dir);
  }
  return { why: `${ADDON} is not built (npm install builds it)` };
}

/** What a tick looks at: how busy the event loop was since the last sample, and the heap in use. */
export interface MemorySample {
  /** Event-loop utilization since the previous sample, 0 to 1. */
  busy: number;
  /** V8 heap in use, bytes (live objects and garbage not yet collected). */
  heapUsed: number;
}

/** Samples this process: event-loop utilization between calls, V8's used heap size. */
export function processSampler(): () => MemorySample {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return { busy, heapUsed: getHeapStatistics().used_heap_size };
  };
}

/** Calls `fn` once, after the next major (mark-compact) GC ends; the returned function cancels. */
export function afterNextMajorGc(fn: () => void): () => void {
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
      observer.disconnect();
      fn();
      return;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}

export interface MemoryReliefOptions {
  log: Logger;
  /** Milliseconds between ticks (default 2000). */
  intervalMs?: number;
  /** The binding (default: loadMemoryBinding()); tests pass their own, or undefined for none. */
  binding?: MemoryBinding | undefined;
  /** Runs `fn` every `ms` until the returned function is called (default: an unref'd setInterval). */
  every?: (fn: () => void, ms: number) => () => void;
  /** Default: processSampler(). */
  sample?: () => MemorySample;
  /** Default: afterNextMajorGc (the trim after a relief's GC). */
  afterGc?: (fn: () => void) => () => void;
  /** The event loop counts as idle below this utilization (default 0.05: an idle member's heartbeats use ~1%). */
  idleBelow?: number;
  /** Heap growth since the last relief (or since the lowest heap seen after it) that calls for another (default 32 MiB). */
  growthBytes?: number;
}

/** Runs `fn` every `ms` on a timer that does not keep the process alive; the returned function stops it. */
export function everyUnref(fn: () => void, ms: number): () => void {
  const timer = setInterval(fn, ms);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Every intervalMs while started: trims malloc when the loop was idle over the interval; and when
 * the loop was idle and the heap has grown by growthBytes since the lowest point seen after the last relief,
 * relieves the heap, and trims again as soon as the relief's GC has ended. Measured after a million-key load
 * (3 members): RSS per member 5 s after the load 657-737 MiB with trims alone, 410-465 MiB with
 * reliefs too (V8's own reducer got there 30-60 s later).
 * malloc_trim: 16 ms for a trim that gave back 180 MiB, 1.4 ms when there was little to give back;
 * relieveHeap: 5-12 ms for the call, the GC's work then spread over incremental steps.
 */
export class MemoryRelief {
  private cancel: (() => void) | undefined;
  private readonly binding: MemoryBinding | undefined;
  private readonly why: string | undefined;
  private sample: (() => MemorySample) | undefined;
  /** The lowest heap in use seen since the last relief (Infinity right after one: its GC is still to run). */
  private lowWater = Infinity;
  /** Cancels the wait for the GC a relief started (after which memory is trimmed at once). */
  private cancelGcWait: (() => void) | undefined;
  /** Ticks, trims that gave memory back, and heap reliefs (for tests and the log). */
  ticks = 0;
  released = 0;
  reliefs = 0;

  constructor(private readonly opts: MemoryReliefOptions) {
    if ('binding' in opts) {
      this.binding = opts.binding;
      this.why = opts.binding ? undefined : `${ADDON} is not loaded`;
    } else {
      const loaded = loadMemoryBinding();
      this.binding = 'binding' in loaded ? loaded.binding : undefined;
      this.why = 'why' in loaded ? loaded.why : undefined;
    }
  }

  /** Whether ticks will do anything (the binding is loaded). */
  get active(): boolean {
    return this.binding !== undefined;
  }

  start(): void {
    if (this.cancel) return;
    if (!this.binding) {
      this.opts.log.info({ addon: ADDON }, `memory: ${this.why}; freed memory goes back to the system only when V8 and glibc decide`);
      return;
    }
    if (!this.binding.trimSupported) this.opts.log.info('memory: the C library has no malloc_trim; free native memory stays with the process');
    this.sample = this.opts.sample ?? processSampler();
    const first = this.sample();
    this.lowWater = first.heapUsed;
    this.cancel = (this.opts.every ?? everyUnref)(() => this.tick(), this.opts.intervalMs ?? 2000);
  }

  tick(): void {
    const binding = this.binding;
    if (!binding || !this.sample) return;
    this.ticks++;
    const { busy, heapUsed } = this.sample();
    const idle = busy < (this.opts.idleBelow ?? 0.05);
    const growth = this.opts.growthBytes ?? 32 * 2 ** 20;
    if (idle && heapUsed - this.lowWater >= growth) {
      binding.relieveHeap();
      this.reliefs++;
      this.lowWater = Infinity;
      // The GC frees the load's ArrayBuffers into malloc's heap: give that back as soon as it ends
      // rather than at the next tick.
      if (binding.trimSupported) {
        this.cancelGcWait?.();
        this.cancelGcWait = (this.opts.afterGc ?? afterNextMajorGc)(() => {
          this.cancelGcWait = undefined;
          if (this.cancel && binding.trim()) this.released++;
        });
      }
    } else {
      this.lowWater = Math.min(this.lowWater, heapUsed);
    }
    // A busy member is never trimmed. At 64 clients a trim on every tick held the loop 2-40 ms
    // every 2 s on every member (a stall in the puts' and watchers' tail) to give back pages the
    // load faulted in again at once. Trimming only while the RSS grew (as until session 14) kept
    // each member's peak RSS about 20 MiB lower during a million-key load (557-566 MiB against
    // 577-585), but a delete_range of 200,000 keys made the heap churn so that one such trim held
    // the loop 290 ms (13% of a single member's 2.25 s delete spent in that trim), and every read
    // waited for it. The memory goes back at the first idle tick instead.
    if (binding.trimSupported && idle && binding.trim()) this.released++;
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.cancelGcWait?.();
    this.cancelGcWait = undefined;
  }
}
