// The simulated network between members: per-message loss, duplication and delay (a long delay
// is how messages get reordered), and partitions as sets of blocked directed links, which covers
// symmetric splits, one-way cuts and non-transitive "bridge" topologies alike. A partition is
// applied when a message would arrive, so a cut also drops what was already in flight. A stalled
// link (a TCP connection that stops moving and then catches up) holds what is sent on it until
// the stall ends, possibly several election timeouts later, and then delivers it: the late
// heartbeat answers and votes of a term long gone that only a slow network produces.
import { MessageType, type Message, type NodeId } from '../types.js';
import type { Rng } from './random.js';

export interface NetworkConditions {
  /** Probability that a message is lost. */
  loss: number;
  /** Probability that a message is delivered twice. */
  duplicate: number;
  /** Probability that a message is held back by up to `maxExtraDelay`, so that later ones overtake it. */
  reorder: number;
  maxExtraDelay: number;
}

export const CALM: NetworkConditions = { loss: 0, duplicate: 0, reorder: 0, maxExtraDelay: 0 };

/** Time units of the usual one-way latency: a fraction of a tick, so a round trip fits between ticks. */
const MIN_DELAY = 1;
const MAX_DELAY = 3;

export class Network {
  conditions: NetworkConditions = CALM;
  private blocked = new Set<number>();
  /** Stalled links: until when (simulated time) each holds what is sent on it. */
  private stalls = new Map<number, number>();
  /** When the last message held by a stall arrives (after its stall, its own delay: reordering included). */
  heldUntil = 0;
  /** A human description of the current partition, for traces. */
  partition = '';

  constructor(private readonly rng: Rng) {}

  private static link(from: NodeId, to: NodeId): number {
    return from * 1_000_003 + to;
  }

  /** Replaces the partition by one that blocks each of `links` (from, to). */
  cut(links: Iterable<readonly [NodeId, NodeId]>, description: string): void {
    this.blocked = new Set();
    for (const [from, to] of links) this.blocked.add(Network.link(from, to));
    this.partition = description;
  }

  heal(): void {
    this.blocked = new Set();
    this.partition = '';
  }

  /** Holds everything sent from `from` to `to` until `until` (it arrives in the units after that). */
  stall(from: NodeId, to: NodeId, until: number): void {
    this.stalls.set(Network.link(from, to), until);
  }

  /** No link holds what is sent from now on (messages already held still arrive when their stall ends). */
  endStalls(): void {
    this.stalls.clear();
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.size > 0 && this.blocked.has(Network.link(from, to));
  }

  /**
   * The delays after which copies of `m` arrive: none if lost, two if duplicated. Forwarded
   * proposals are never duplicated: a second copy would be a second client request, and a
   * membership change applied twice is the runtime's business to prevent, not the core's.
   */
  deliveries(m: Message, now: number): number[] {
    const c = this.conditions;
    if (c.loss > 0 && this.rng.chance(c.loss)) return [];
    const held = this.heldFor(m, now);
    const out = [held + this.delay()];
    if (c.duplicate > 0 && m.type !== MessageType.Prop && this.rng.chance(c.duplicate)) out.push(held + this.delay());
    // A held message may also have been held back by reordering (up to maxExtraDelay) on top of its
    // stall: the endgame waits for the last one to land, not only for the stall to end.
    if (held > 0) for (const d of out) this.heldUntil = Math.max(this.heldUntil, now + d);
    return out;
  }

  /** How long a message sent at `now` waits for its link's stall to end (0 when not stalled). */
  private heldFor(m: Message, now: number): number {
    if (this.stalls.size === 0) return 0;
    const link = Network.link(m.from, m.to);
    const until = this.stalls.get(link);
    if (until === undefined) return 0;
    if (until <= now) {
      this.stalls.delete(link);
      return 0;
    }
    return until - now;
  }

  private delay(): number {
    const c = this.conditions;
    let d = this.rng.range(MIN_DELAY, MAX_DELAY);
    if (c.reorder > 0 && this.rng.chance(c.reorder)) d += this.rng.range(1, c.maxExtraDelay);
    return d;
  }
}
