// Runs a probe at once, then every interval (measured from the start of each run), each run
// given `timeoutMs`: past it the run is aborted and the check is critical. Results go to
// `onResult` in order, one per run; stop() ends the loop and aborts a run in flight.
import type { Clock, TimerHandle } from '../../util/clock.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckResult, Probe } from './types.js';

export class IntervalCheck {
  private timer: TimerHandle | undefined;
  private running: AbortController | undefined;
  private stopped = false;
  /** Resolves after the run in flight (if any) has reported. */
  private current: Promise<void> = Promise.resolve();

  constructor(
    private readonly probe: Probe,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly timers: Clock,
    private readonly onResult: (r: CheckResult) => void,
  ) {}

  /** Starts the loop; resolves after the first run has reported. */
  start(): Promise<void> {
    return this.runOnce();
  }

  stop(): void {
    this.stopped = true;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.running?.abort();
  }

  private runOnce(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const startedAt = this.timers.now();
    const ac = new AbortController();
    this.running = ac;
    let timedOut = false;
    const deadline = this.timers.setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, this.timeoutMs);
    this.current = this.probe(ac.signal).then(
      (r) => r,
      (e: unknown) => ({ status: 'critical' as const, output: `check failed: ${(e as Error)?.message ?? String(e)}` }),
    ).then((r) => {
      this.timers.clearTimeout(deadline);
      this.running = undefined;
      if (this.stopped) return;
      this.onResult(timedOut ? { status: 'critical', output: `Timeout exceeded (${formatDuration(this.timeoutMs)})` } : r);
      const wait = Math.max(0, startedAt + this.intervalMs - this.timers.now());
      this.timer = this.timers.setTimeout(() => {
        this.timer = undefined;
        void this.runOnce();
      }, wait);
    });
    return this.current;
  }
}
