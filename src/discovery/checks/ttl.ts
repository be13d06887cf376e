// TTL check: its status is what the service last reported (pass, warn, fail); without a report
// within the TTL it turns critical. It starts with its declared status (critical by default),
// as Consul's TTL checks do.
import type { HealthStatus } from '../schema.js';
import { formatDuration } from '../../util/duration.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import type { CheckResult } from './types.js';
import { capOutput } from './types.js';

export class TtlCheck {
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    private readonly ttlMs: number,
    private readonly timers: Clock,
    private readonly onResult: (r: CheckResult) => void,
  ) {}

  /** A report from the service: the status holds for one TTL. */
  report(status: HealthStatus, output: string): void {
    if (this.stopped) return;
    this.timers.clearTimeout(this.timer);
    this.onResult({ status, output: capOutput(output) });
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.onResult({ status: 'critical', output: `TTL expired (no report within ${formatDuration(this.ttlMs)})` });
    }, this.ttlMs);
  }

  stop(): void {
    this.stopped = true;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
