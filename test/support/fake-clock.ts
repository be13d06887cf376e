// A clock (src/util/clock.ts) whose time moves only when the test says so; the timers due by then
// fire in order, each at its own instant. One for every test of a policy that waits on time.
import type { Clock, TimerHandle } from '../../src/util/clock.js';

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private timers: FakeTimer[] = [];
  private nextId = 1;

  constructor(public t = 1_700_000_000_000) {}

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: this.nextId++, at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    this.timers = this.timers.filter((x) => x.id !== (handle as unknown as number));
  }

  /** Timers pending (for checks that nothing is left behind). */
  get pending(): number {
    return this.timers.length;
  }

  /** The delays, from now, of the timers pending, shortest first. */
  pendingDelays(): number[] {
    return this.timers.map((x) => x.at - this.t).sort((a, b) => a - b);
  }

  /** When the next timer is due, if any. */
  get nextAt(): number | undefined {
    return this.timers.reduce<number | undefined>((min, x) => (min === undefined || x.at < min ? x.at : min), undefined);
  }

  /** Moves time forward by `ms`, firing each timer due on the way (at its own instant). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }
}
