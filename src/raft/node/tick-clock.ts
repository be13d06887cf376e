// How many Raft ticks a timer callback owes the core. Node runs a late setInterval callback once,
// not once per period missed, so counting callbacks stretches every timeout measured in ticks
// whenever the process waits for a CPU: under load the election timeout (100-200 ticks of 10 ms)
// became 3-4 s. The ticks follow the monotonic clock instead, at most `maxCatchUp` at once (after
// a stall as long as that, the process stopped say, the missed time is not replayed further).

export class TickClock {
  private last: number;

  constructor(
    private readonly tickMs: number,
    private readonly maxCatchUp: number,
    now: number,
  ) {
    this.last = now;
  }

  /** The ticks due at `now` (0 when less than a tick has passed since the last one). */
  due(now: number): number {
    const owed = Math.floor((now - this.last) / this.tickMs);
    if (owed > this.maxCatchUp) {
      this.last = now;
      return this.maxCatchUp;
    }
    if (owed > 0) this.last += owed * this.tickMs;
    return Math.max(0, owed);
  }
}
