// The faults ("nemesis"): each one injects a fault, keeps it for a while, undoes it, and records
// what it did. They pick their victims among the current members (the membership may change).

import type { Cluster, Member } from '../harness/cluster.js';
import { sleep, type Rng } from '../lib/rng.js';

export interface FaultRecord {
  kind: string;
  targets: string[];
  at: number;
  healedAt?: number;
  detail?: string;
  /** For the failover figures: the fault took the leader down at `at`. */
  leaderDown?: boolean;
  error?: string;
}

export interface NemesisContext {
  cluster: Cluster;
  rng: Rng;
  faults: FaultRecord[];
  log: (line: string) => void;
  /** performance.now() at the start of the run, for the relative times in the log. */
  t0: number;
  /** Stop injecting new faults after this time (performance.now()). */
  until: number;
  /** Multiplies every pause between faults (a lower rate for the mixed scenario). */
  pace: number;
}

export type Fault = (ctx: NemesisContext) => Promise<void>;

const rel = (ctx: NemesisContext, t = performance.now()) => `+${((t - ctx.t0) / 1000).toFixed(1)}s`;

function record(ctx: NemesisContext, kind: string, targets: Member[], detail?: string, leaderDown?: boolean): FaultRecord {
  const f: FaultRecord = { kind, targets: targets.map((m) => m.name), at: performance.now(), detail, leaderDown };
  ctx.faults.push(f);
  ctx.log(`${rel(ctx, f.at)} ${kind} ${f.targets.join(',')}${detail ? ` (${detail})` : ''}`);
  return f;
}

function healed(ctx: NemesisContext, f: FaultRecord, what = 'healed'): void {
  f.healedAt = performance.now();
  ctx.log(`${rel(ctx, f.healedAt)}   ${what} ${f.kind} ${f.targets.join(',')} after ${((f.healedAt - f.at) / 1000).toFixed(1)}s`);
}

async function leaderOrSkip(ctx: NemesisContext, kind: string): Promise<Member | undefined> {
  const l = await ctx.cluster.leader(5000);
  if (!l) ctx.log(`${rel(ctx)} ${kind}: no leader found, skipped`);
  return l;
}

async function settle(ctx: NemesisContext): Promise<void> {
  if (!(await ctx.cluster.waitHealthy(20000))) ctx.log(`${rel(ctx)} cluster not healthy 20s after a heal`);
}

/** kill -9 of the leader, restart after a while. */
export const killLeader: Fault = async (ctx) => {
  const l = await leaderOrSkip(ctx, 'kill-leader');
  if (!l) return;
  const f = record(ctx, 'kill-leader', [l], undefined, true);
  await l.kill();
  await sleep(ctx.rng.int(500, 2000));
  await l.start();
  healed(ctx, f, 'restarted');
  await settle(ctx);
};

/** kill -9 of random members (usually one; sometimes a majority, or all), restart after a while. */
export const killRandom: Fault = async (ctx) => {
  const running = ctx.cluster.current.filter((m) => m.state === 'running');
  if (running.length === 0) return;
  const n = ctx.rng.weighted([
    [8, 1],
    [1, Math.floor(running.length / 2) + 1],
    [1, running.length],
  ] as const);
  const victims = ctx.rng.shuffle(running).slice(0, Math.min(n, running.length));
  const leader = await ctx.cluster.leader(1000);
  const hitLeader = !!leader && victims.includes(leader);
  const f = record(ctx, n >= running.length ? 'kill-all' : n > 1 ? 'kill-majority' : 'kill-member', victims, hitLeader ? `the leader ${leader.name} among them` : undefined, hitLeader);
  await Promise.all(victims.map((m) => m.kill()));
  await sleep(ctx.rng.int(300, 2500));
  for (const m of ctx.rng.shuffle(victims)) await m.start();
  healed(ctx, f, 'restarted');
  await settle(ctx);
};

/**
 * A flapping member: kill -9, restart, and kill -9 again soon after (while it catches up, before
 * it has proposed much), then restart. Short-lived processes are where state that does not survive
 * a restart (counters, ids, caches) shows.
 */
export const flapMember: Fault = async (ctx) => {
  const running = ctx.cluster.current.filter((m) => m.state === 'running');
  if (running.length === 0) return;
  const leader = await ctx.cluster.leader(1000);
  const m = leader && ctx.rng.chance(0.5) ? leader : ctx.rng.pick(running);
  const f = record(ctx, 'flap-member', [m], m === leader ? 'the leader' : undefined, m === leader);
  for (let i = ctx.rng.int(2, 3); i > 0; i--) {
    await m.kill();
    await sleep(ctx.rng.int(100, 800));
    await m.start();
    if (i > 1) await sleep(ctx.rng.int(200, 1200));
  }
  healed(ctx, f, 'restarted');
  await settle(ctx);
};

/**
 * A young member crashes with writes in flight: a follower is restarted; as soon as it knows the
 * leader again, every link into it is cut (it still reaches the leader, so it forwards its clients'
 * writes, which commit without it); 300-700 ms later it is killed, the network heals, and it is
 * restarted. The new process applies the entries of its short-lived predecessor while its own first
 * requests are in flight. This is how kvd's bug of proposal sequence numbers that restart at 0 with
 * every process shows (see cluster-tests/repro/proposal-seq.ts).
 */
export const youngCrash: Fault = async (ctx) => {
  const leader = await ctx.cluster.leader(3000);
  const followers = ctx.cluster.voters.filter((m) => m !== leader && m.state === 'running');
  if (!leader || followers.length === 0) return;
  const m = ctx.rng.pick(followers);
  const f = record(ctx, 'young-crash', [m], 'restart; cut its inbound links once it knows the leader; kill -9; heal; restart');
  await m.kill();
  await sleep(ctx.rng.int(50, 300));
  await m.start();
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline) {
    const st = await m.status(300);
    if (st && st.leader !== '0') break;
    await sleep(10);
  }
  for (const o of ctx.cluster.current) if (o !== m) ctx.cluster.network.set(o.name, m.name, { mode: 'drop' });
  await sleep(ctx.rng.int(300, 700));
  await m.kill();
  ctx.cluster.network.heal();
  await m.start();
  healed(ctx, f, 'restarted');
  await settle(ctx);
};

/** SIGSTOP of the leader for longer than an election timeout, then SIGCONT. */
export const pauseLeader: Fault = async (ctx) => {
  const l = await leaderOrSkip(ctx, 'pause-leader');
  if (!l) return;
  const ms = ctx.rng.int(1500, 4000);
  const f = record(ctx, 'pause-leader', [l], `${ms} ms`, true);
  l.pause();
  await sleep(ms);
  l.resume();
  healed(ctx, f, 'resumed');
  await settle(ctx);
};

/** SIGSTOP of a random member (leader or not). */
export const pauseRandom: Fault = async (ctx) => {
  const running = ctx.cluster.current.filter((m) => m.state === 'running');
  if (running.length === 0) return;
  const m = ctx.rng.pick(running);
  const ms = ctx.rng.int(1500, 4000);
  const f = record(ctx, 'pause-member', [m], `${ms} ms`);
  m.pause();
  await sleep(ms);
  m.resume();
  healed(ctx, f, 'resumed');
  await settle(ctx);
};

export type PartitionKind = 'leader-isolated' | 'minority-isolated' | 'bridge' | 'one-way-out' | 'one-way-in' | 'slow';

/** A network fault through the proxies, for 2-5 s, then healed. */
export function partition(kind?: PartitionKind): Fault {
  return async (ctx) => {
    const k = kind ?? ctx.rng.pick<PartitionKind>(['leader-isolated', 'minority-isolated', 'bridge', 'one-way-out', 'one-way-in', 'slow']);
    const net = ctx.cluster.network;
    const members = ctx.cluster.current;
    const names = members.map((m) => m.name);
    const mode = ctx.rng.chance(0.75) ? 'drop' : 'reset';
    const leader = await ctx.cluster.leader(3000);
    const others = (x: Member[]) => members.filter((m) => !x.includes(m));
    let f: FaultRecord;
    switch (k) {
      case 'leader-isolated': {
        if (!leader) return;
        f = record(ctx, 'partition', [leader], `leader isolated, ${mode}`, true);
        net.partition([[leader.name], others([leader]).map((m) => m.name)], mode);
        break;
      }
      case 'minority-isolated': {
        const size = Math.max(1, Math.floor((members.length - 1) / 2));
        const pool = leader && ctx.rng.chance(0.7) ? others([leader]) : members;
        const minority = ctx.rng.shuffle(pool).slice(0, size);
        f = record(ctx, 'partition', minority, `minority isolated, ${mode}`, !!leader && minority.includes(leader));
        net.partition([minority.map((m) => m.name), others(minority).map((m) => m.name)], mode);
        break;
      }
      case 'bridge': {
        // Two sides that cannot talk, and one member that talks to both (with 3 members: a - b - c).
        const order = ctx.rng.shuffle(members);
        const mid = Math.floor(order.length / 2);
        const bridge = order[mid]!;
        const left = order.slice(0, mid).map((m) => m.name);
        const right = order.slice(mid + 1).map((m) => m.name);
        f = record(ctx, 'partition', [bridge], `bridge: {${left}} - ${bridge.name} - {${right}}, ${mode}`);
        for (const a of left) for (const b of right) {
          net.set(a, b, { mode });
          net.set(b, a, { mode });
        }
        break;
      }
      case 'one-way-out':
      case 'one-way-in': {
        const victim = leader && ctx.rng.chance(0.7) ? leader : ctx.rng.pick(members);
        const rest = others([victim]).map((m) => m.name);
        if (k === 'one-way-out') {
          f = record(ctx, 'partition', [victim], `one-way: nothing from ${victim.name} reaches the others, ${mode}`, victim === leader);
          net.cutOneWay(victim.name, rest, mode);
        } else {
          f = record(ctx, 'partition', [victim], `one-way: nothing from the others reaches ${victim.name}, ${mode}`, victim === leader);
          for (const r of rest) net.set(r, victim.name, { mode });
        }
        break;
      }
      case 'slow': {
        const victim = ctx.rng.pick(members);
        const ms = ctx.rng.int(50, 400);
        f = record(ctx, 'slow-links', [victim], `${ms} ms (+ up to ${Math.round(ms / 2)} ms) on every link of ${victim.name}`);
        net.slow(victim.name, names, ms, Math.round(ms / 2));
        break;
      }
    }
    await sleep(ctx.rng.int(2000, 5000));
    net.heal();
    healed(ctx, f);
    await settle(ctx);
  };
}

/** Moves leadership to a random other voter. */
export const transferLeader: Fault = async (ctx) => {
  const l = await leaderOrSkip(ctx, 'transfer-leader');
  if (!l) return;
  const targets = ctx.cluster.voters.filter((m) => m !== l && m.state === 'running');
  if (targets.length === 0) return;
  const t = ctx.rng.pick(targets);
  const f = record(ctx, 'transfer-leader', [l, t], `${l.name} -> ${t.name}`);
  const r = await ctx.cluster.transferLeadership(l, t);
  if (!r.ok) {
    f.error = r.error;
    ctx.log(`${rel(ctx)}   transfer refused: ${r.error}`);
  }
  const nl = await ctx.cluster.leader(5000);
  healed(ctx, f, `leader now ${nl?.name ?? 'unknown'};`);
};

/** Adds a learner, starts it, promotes it, then removes an old voter (sometimes the leader). */
export const membershipChange: Fault = async (ctx) => {
  const c = ctx.cluster;
  const f = record(ctx, 'member-add', [], 'learner');
  let m: Member;
  try {
    m = await c.addLearner();
  } catch (err) {
    f.error = (err as Error).message;
    ctx.log(`${rel(ctx)}   add failed: ${f.error.split('\n')[0]}`);
    return;
  }
  f.targets = [m.name];
  ctx.log(`${rel(ctx)}   ${m.name} started as a learner (id ${m.id})`);
  try {
    await c.promote(m);
    healed(ctx, f, `promoted ${m.name};`);
  } catch (err) {
    f.error = (err as Error).message;
    ctx.log(`${rel(ctx)}   promote failed: ${f.error}`);
    return;
  }
  const leader = await c.leader(5000);
  const old = c.voters.filter((x) => x !== m);
  const victim = leader && ctx.rng.chance(0.3) ? leader : ctx.rng.pick(old.filter((x) => x !== leader).length ? old.filter((x) => x !== leader) : old);
  const r = record(ctx, 'member-remove', [victim], victim === leader ? 'the leader' : undefined, victim === leader);
  try {
    await c.remove(victim);
    healed(ctx, r, 'removed');
  } catch (err) {
    r.error = (err as Error).message;
    ctx.log(`${rel(ctx)}   remove failed: ${r.error}`);
  }
  await settle(ctx);
};
