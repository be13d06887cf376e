// The scenarios: which faults, how often, on how many members.

import { sleep } from '../lib/rng.js';
import {
  youngCrash,
  flapMember,
  killLeader,
  killRandom,
  membershipChange,
  partition,
  pauseLeader,
  pauseRandom,
  transferLeader,
  type Fault,
  type NemesisContext,
} from './faults.js';

export interface Scenario {
  name: string;
  description: string;
  members: number;
  /** The nemesis: injects faults until ctx.until. */
  nemesis(ctx: NemesisContext): Promise<void>;
  /** Print failover figures (kill of the leader -> next successful write). */
  failover?: boolean;
}

/** Runs `pick()` faults one after another, with a pause of [lo, hi] ms (times ctx.pace) between them. */
function loop(pick: (ctx: NemesisContext) => Fault, lo: number, hi: number): (ctx: NemesisContext) => Promise<void> {
  return async (ctx) => {
    await sleep(ctx.rng.int(lo, hi) * ctx.pace);
    while (performance.now() < ctx.until) {
      await pick(ctx)(ctx);
      if (performance.now() >= ctx.until) break;
      await sleep(Math.min(ctx.rng.int(lo, hi) * ctx.pace, Math.max(0, ctx.until - performance.now())));
    }
  };
}

export const scenarios: Scenario[] = [
  {
    name: 'leader-kill',
    description: 'kill -9 of the leader, restart 0.5-2 s later, in a loop',
    members: 3,
    failover: true,
    nemesis: loop(() => killLeader, 1000, 3000),
  },
  {
    name: 'member-kill',
    description: 'kill -9 of random members (one; sometimes a majority or all), restart 0.3-2.5 s later; a member that flaps; a young member that crashes with writes in flight',
    members: 3,
    failover: true,
    nemesis: loop((ctx) => ctx.rng.weighted<Fault>([[5, killRandom], [2, flapMember], [2, youngCrash]]), 1000, 3000),
  },
  {
    name: 'partition',
    description: 'partitions through the peer proxies: leader isolated, minority isolated, bridge, one-way (out/in), slow links; 2-5 s each',
    members: 3,
    nemesis: loop(() => partition(), 1000, 2500),
  },
  {
    name: 'partition-5',
    description: 'the partition scenario on 5 members (a real bridge: {a,b} - c - {d,e})',
    members: 5,
    nemesis: loop(() => partition(), 1000, 2500),
  },
  {
    name: 'leader-pause',
    description: 'SIGSTOP of the leader for 1.5-4 s (longer than the election timeout), then SIGCONT',
    members: 3,
    failover: true,
    nemesis: loop(() => pauseLeader, 1000, 3000),
  },
  {
    name: 'membership',
    description: 'add a learner, start it, promote it, remove an old voter (sometimes the leader), in a loop under load',
    members: 3,
    nemesis: loop(() => membershipChange, 500, 2000),
  },
  {
    name: 'leader-transfer',
    description: 'leadership transfer to a random voter every 0.3-1.5 s',
    members: 3,
    nemesis: loop(() => transferLeader, 300, 1500),
  },
  {
    name: 'everything',
    description: 'all of the above, mixed, at a lower rate (sometimes two at once)',
    members: 3,
    failover: true,
    nemesis: async (ctx) => {
      const network = partition();
      const all: [number, Fault][] = [
        [2, killLeader],
        [2, killRandom],
        [1, flapMember],
        [1, youngCrash],
        [3, network],
        [2, pauseLeader],
        [1, pauseRandom],
        [2, transferLeader],
        [1, membershipChange],
      ];
      await loop(
        (c) => {
          const a = c.rng.weighted(all);
          if (!c.rng.chance(0.25)) return a;
          // Two at once: a network fault with a fault of another kind. Two process faults could
          // pick the same member (a kill -9 while the other fault is restarting it), which the
          // harness takes for a member that cannot start.
          const b = c.rng.weighted(all.filter(([, f]) => f !== membershipChange && (f === network) !== (a === network)));
          return async (x) => {
            await Promise.all([a(x), sleep(x.rng.int(200, 1500)).then(() => b(x))]);
          };
        },
        2000,
        5000,
      )(ctx);
    },
  },
];

export const scenarioNames = scenarios.map((s) => s.name);
