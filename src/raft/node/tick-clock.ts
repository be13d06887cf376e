// How many Raft ticks a timer callback owes the core, and when to give them. Node runs a late
// setInterval callback once, not once per period missed, so counting callbacks stretches every
// timeout measured in ticks whenever the process waits for a CPU: under load a follower's election
// timeout (100-200 ticks of 10 ms) became 3-4 s, and a stopped leader was replaced too late for
// the fleet agents' leases. So the ticks follow the monotonic clock instead, with two limits:
//
// - Only a follower or a candidate catches up. A leader that was starved gets one tick per
//   callback, as before: caught-up ticks would run its quorum check before it has read the
//   followers' answers waiting in its sockets, and it would step down while healthy (seen in CI).
// - The ticks caught up run after the event loop's poll phase (the caller passes setImmediate),
//   and only if no peer message was read meanwhile. A message read then arrived while the process
//   waited, after some of the time those ticks stand for: a leader's heartbeat restarts the
//   election clock, and replaying the old time after it would make a follower campaign against a
//   live leader. So a follower catches up only while it hears nothing at all, which is exactly
//   the case that matters (its leader stopped or died), and campaigns after an election timeout
//   of real time.
//
// At most `maxCatchUp` ticks are owed at once: after a longer stall (the process stopped, say)
// the missed time is not replayed further.

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

export interface Tickable {
  tick(): void;
  /** Whether it leads now (a leader gets no caught-up ticks). */
  leading(): boolean;
  /** How many peer messages it has read so far (any read after the callback voids its catch-up). */
  messagesRead(): number;
}

/**
 * Gives `target` the `owed` ticks: the first at once, the rest (never to a leader) through `defer`
 * unless a message was read before they ran; calls `after` when deferred ticks were given.
 */
export function runOwedTicks(owed: number, target: Tickable, defer: (fn: () => void) => void, after: () => void): void {
  if (owed <= 0) return;
  target.tick();
  if (owed === 1 || target.leading()) return;
  const read = target.messagesRead();
  defer(() => {
    if (target.messagesRead() !== read) return;
    for (let i = 1; i < owed && !target.leading(); i++) target.tick();
    after();
  });
}
