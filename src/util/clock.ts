// Wall-clock milliseconds and one-shot timers, injected wherever a policy waits on time, so that a
// test can drive it without real time passing: the agent's lease deadline (fencing) and facts
// refresh, the engine's hold-off, the runner's RestartSec=, TimeoutStartSec=, TimeoutStopSec= and
// start-rate limit, discovery's check intervals, TTLs and blocking queries. (The Raft node's ticks
// and the watch hub's unref'ed intervals are other matters: tick-clock.ts, kv/watch/progress.ts.)

export type TimerHandle = { readonly __timer: unique symbol };

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as TimerHandle,
  clearTimeout: (h) => clearTimeout(h as unknown as NodeJS.Timeout | undefined),
};
