// Time for the runner's policies (RestartSec=, TimeoutStartSec=, TimeoutStopSec=, the start-rate
// limit), injectable so that a test can drive them. Waiting for processes to go away is not a
// policy and polls with real timers (see process-group.ts).

export interface Clock {
  now(): number;
  /** Calls `fn` after `ms`; returns a function that cancels the call. */
  setTimeout(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};
