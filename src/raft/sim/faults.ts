// The fault schedule: once a tick, the simulation draws which actions to take, with the
// probabilities of the seed's profile. Clients propose and read throughout; partitions, network
// weather, crashes, membership changes, leadership transfers, compactions and election
// disruptions come and go on top of that.
import { ConfChangeType, Role, type ConfChange, type NodeId } from '../types.js';
import { ELECTION_TICK, TICK } from './options.js';
import { ascii, describeConfChange } from './payload.js';
import type { SimNode } from './node.js';
import type { Simulation } from './simulation.js';

export interface FaultState {
  /** Bumped by each new partition, so that only the latest one's heal event heals. */
  partitionEpoch: number;
  weatherEpoch: number;
  /** No membership change is proposed before this time: one settles before the next. */
  nextConfChangeAt: number;
  confCounter: number;
  readCounter: number;
  /** leaderChurn: the members currently cut off from everyone. */
  isolated: Set<NodeId>;
  /** slowLeader: the episode under way (see slowLeader()). */
  slowLeader: { leader: NodeId; cutAt: number; until: number; cut: boolean } | undefined;
}

export function chaos(sim: Simulation): void {
  const r = sim.profile.rates;
  const rng = sim.rng;
  if (rng.chance(r.propose)) clientProposal(sim);
  if (sim.profile.nemesis === 'leaderChurn') leaderChurn(sim);
  if (sim.profile.nemesis === 'slowLeader') slowLeader(sim);
  for (let n = r.read; n > 0; n--) if (n >= 1 || rng.chance(n)) clientRead(sim);
  if (rng.chance(r.partition)) partition(sim);
  if (rng.chance(r.weather)) weather(sim);
  if (rng.chance(r.stall)) stall(sim);
  if (rng.chance(r.crash)) crash(sim);
  if (rng.chance(r.membership)) membershipChange(sim);
  if (rng.chance(r.transfer)) transfer(sim);
  if (rng.chance(r.compact)) compact(sim);
  if (rng.chance(r.disrupt)) disrupt(sim);
}

/** Mostly through the leader; sometimes through a follower, which forwards the proposal. */
function someNode(sim: Simulation, leaderBias: number): SimNode | undefined {
  const leader = sim.leader();
  if (leader && sim.rng.chance(leaderBias)) return leader;
  const up = sim.upNodes();
  return up.length ? sim.rng.pick(up) : undefined;
}

function clientProposal(sim: Simulation): void {
  if (sim.profile.nemesis === 'leaderChurn') {
    // Clients that cannot tell a deposed leader from a live one: each gets the proposal.
    for (const n of sim.upNodes()) if (n.role === Role.Leader) sim.propose(n, sim.rng.range(1, 3));
    return;
  }
  const node = someNode(sim, 0.7);
  if (node) sim.propose(node, sim.rng.range(1, 3));
}

function clientRead(sim: Simulation): void {
  const node = someNode(sim, 0.5);
  if (!node) return;
  const ctx = ++sim.faults.readCounter;
  sim.stats.reads++;
  sim.checker.readRequested(node.id, ctx);
  if (sim.tracing) sim.trace(`READ ${ctx} at n${node.id} (commit known anywhere: ${sim.checker.maxCommit})`);
  node.act((core) => core.readIndex(ctx));
}

// ---- Partitions ----------------------------------------------------------------------------------

type Link = readonly [NodeId, NodeId];

function between(a: readonly NodeId[], b: readonly NodeId[], both: boolean): Link[] {
  const links: Link[] = [];
  for (const x of a) {
    for (const y of b) {
      links.push([x, y]);
      if (both) links.push([y, x]);
    }
  }
  return links;
}

function partition(sim: Simulation): void {
  const rng = sim.rng;
  const ids = [...sim.nodes.values()].filter((n) => !n.retired).map((n) => n.id);
  if (ids.length < 2) return;
  const leader = sim.leader()?.id ?? rng.pick(ids);
  const others = ids.filter((id) => id !== leader);
  const minority = Math.floor((ids.length - 1) / 2);
  const kind = rng.weighted({ split: 3, isolateLeader: 2, leaderInMinority: 2, leaderOutOnly: 1, leaderInOnly: 1, oneWay: 2, bridge: 1 });
  let links: Link[];
  switch (kind) {
    case 'split': {
      const shuffled = rng.sample(ids, ids.length);
      const k = rng.range(1, Math.max(1, minority));
      links = between(shuffled.slice(0, k), shuffled.slice(k), true);
      break;
    }
    case 'isolateLeader':
      links = between([leader], others, true);
      break;
    case 'leaderInMinority': {
      // The leader keeps a minority; the majority must elect a new leader without it.
      const company = rng.sample(others, Math.max(0, minority - 1));
      links = between([leader, ...company], others.filter((id) => !company.includes(id)), true);
      break;
    }
    case 'leaderOutOnly':
      links = between([leader], others, false); // it cannot send, but still hears everyone
      break;
    case 'leaderInOnly':
      links = between(others, [leader], false); // it can send, but hears nobody
      break;
    case 'oneWay':
      links = [];
      for (const a of ids) for (const b of ids) if (a !== b && rng.chance(0.3)) links.push([a, b]);
      break;
    case 'bridge': {
      // Two halves that cannot talk to each other, and one member (left out of both) that talks to both.
      const rest = rng.sample(ids, ids.length).slice(1);
      const half = Math.floor(rest.length / 2);
      links = between(rest.slice(0, half), rest.slice(half), true);
      break;
    }
  }
  const epoch = ++sim.faults.partitionEpoch;
  const ticks = rng.range(...sim.profile.partitionTicks);
  sim.stats.partitions++;
  sim.network.cut(links, `${kind}: ${links.map(([a, b]) => `${a}-/>${b}`).join(' ')}`);
  if (sim.tracing) sim.trace(`PARTITION ${sim.network.partition} for ${ticks} ticks`);
  sim.queuePush({ kind: 'heal', time: sim.now + ticks * TICK, epoch });
}

/**
 * leaderChurn, once a tick: now and then an isolated member comes back. (Leaders are cut off by
 * isolate(), scheduled when they are elected.)
 */
function leaderChurn(sim: Simulation): void {
  const isolated = sim.faults.isolated;
  if (isolated.size > 0 && sim.rng.chance(0.03)) {
    isolated.delete(sim.rng.pick([...isolated]));
    applyIsolation(sim);
  }
}

/** leaderChurn: cuts `node` (a new leader) off from everyone; if that leaves too few connected, a random isolated member comes back. */
export function isolate(sim: Simulation, node: SimNode): void {
  const isolated = sim.faults.isolated;
  if (node.retired || isolated.has(node.id)) return;
  isolated.add(node.id);
  // Leave a majority of the voters connected, as 6.824's test does.
  const voters = sim.checker.confAt(sim.checker.maxDecided).voters;
  const cutVoters = [...isolated].filter((id) => voters.includes(id)).length;
  if (cutVoters > Math.floor((voters.length - 1) / 2)) isolated.delete(sim.rng.pick([...isolated]));
  applyIsolation(sim);
}

function applyIsolation(sim: Simulation): void {
  const isolated = sim.faults.isolated;
  for (const id of isolated) if (sim.nodes.get(id)!.retired) isolated.delete(id);
  const members = [...sim.nodes.values()].filter((n) => !n.retired).map((n) => n.id);
  const cut = [...isolated];
  sim.faults.partitionEpoch++;
  sim.network.cut(
    between(cut, members, true).filter(([a, b]) => a !== b),
    `isolated: ${cut.join(',')}`,
  );
  if (sim.tracing) sim.trace(`CHURN isolated now [${cut}]`);
}

function weather(sim: Simulation): void {
  const rng = sim.rng;
  const conditions = {
    loss: rng.pick([0, 0.02, 0.1, 0.3, 0.6]),
    duplicate: rng.pick([0, 0.05, 0.2]),
    reorder: rng.pick([0, 0.1, 0.3]),
    maxExtraDelay: rng.pick([10, 30, 80]),
  };
  const epoch = ++sim.faults.weatherEpoch;
  const ticks = rng.range(5, 60);
  sim.network.conditions = conditions;
  if (sim.tracing) sim.trace(`WEATHER ${JSON.stringify(conditions)} for ${ticks} ticks`);
  sim.queuePush({ kind: 'calm', time: sim.now + ticks * TICK, epoch });
}

/**
 * A slow network: for one to three election timeouts, what is sent on one link, on all of one
 * member's outgoing links, or on all links to and from one member (the leader, mostly) is held,
 * and then delivered. Late answers of an old term reach a leader that may have been deposed
 * meanwhile without knowing it: a read they confirmed would be stale.
 */
function stall(sim: Simulation): void {
  const rng = sim.rng;
  const ids = [...sim.nodes.values()].filter((n) => !n.retired).map((n) => n.id);
  if (ids.length < 2) return;
  const until = sim.now + rng.range(ELECTION_TICK, 3 * ELECTION_TICK) * TICK;
  const kind = rng.weighted({ link: 2, outgoing: 1, member: 2 });
  const leader = sim.leader()?.id;
  const from = kind === 'member' && leader !== undefined && rng.chance(2 / 3) ? leader : rng.pick(ids);
  const others = ids.filter((id) => id !== from);
  const links: Link[] = kind === 'link' ? [[from, rng.pick(others)]] : between([from], others, kind === 'member');
  for (const [a, b] of links) sim.network.stall(a, b, until);
  sim.stats.stalls++;
  if (sim.tracing) sim.trace(`STALL ${links.map(([a, b]) => `${a}~>${b}`).join(' ')} until t=${until}`);
}

/**
 * slowLeader, once a tick: now and then the leader's network turns slow in the way that
 * separates a correct ReadIndex from a broken one. Everything sent to it is held for three to
 * five election timeouts (its followers' heartbeat answers among it); a few ticks later it cannot
 * send either, so the others elect a new leader and commit, while it still believes it leads and
 * serves reads; then the held answers of its old term arrive. Reads confirmed by them would be
 * stale. (With check-quorum on, the leader steps down first, as it should.)
 */
function slowLeader(sim: Simulation): void {
  const rng = sim.rng;
  const ep = sim.faults.slowLeader;
  if (ep) {
    if (!ep.cut && sim.now >= ep.cutAt) {
      ep.cut = true;
      const others = [...sim.nodes.values()].filter((n) => !n.retired && n.id !== ep.leader).map((n) => n.id);
      const epoch = ++sim.faults.partitionEpoch;
      sim.network.cut(between([ep.leader], others, false), `slowLeader: n${ep.leader} cannot send`);
      if (sim.tracing) sim.trace(`SLOW LEADER n${ep.leader}: cannot send until t=${ep.until}`);
      sim.queuePush({ kind: 'heal', time: ep.until, epoch });
    }
    if (sim.now >= ep.until + ELECTION_TICK * TICK) sim.faults.slowLeader = undefined;
    return;
  }
  const leader = sim.leader();
  if (!leader || !rng.chance(0.05)) return;
  const others = [...sim.nodes.values()].filter((n) => !n.retired && n.id !== leader.id).map((n) => n.id);
  // Long enough for the others to notice, elect and commit (election timeouts are 1-2x ELECTION_TICK).
  const until = sim.now + rng.range(3 * ELECTION_TICK, 5 * ELECTION_TICK) * TICK;
  for (const id of others) sim.network.stall(id, leader.id, until);
  sim.faults.slowLeader = { leader: leader.id, cutAt: sim.now + rng.range(1, 4) * TICK, until, cut: false };
  sim.stats.stalls++;
  if (sim.tracing) sim.trace(`SLOW LEADER n${leader.id}: what it is sent is held until t=${until}`);
}

function crash(sim: Simulation): void {
  const node = someNode(sim, 0.3);
  if (node) sim.crash(node);
}

// ---- Membership and leadership ------------------------------------------------------------------

/**
 * Keeps the cluster between 3 and 5 voters: add a learner (a new, empty member), promote it,
 * remove a voter (the leader itself a third of the time), or drop a learner.
 */
function membershipChange(sim: Simulation): void {
  if (sim.now < sim.faults.nextConfChangeAt) return;
  const leader = sim.leader();
  if (!leader) return;
  const rng = sim.rng;
  const cs = leader.core!.status().confState;
  const options: Record<string, number> = {};
  if (cs.learners.length === 0 && cs.voters.length < 5) options.addLearner = 3;
  if (cs.learners.length > 0 && cs.voters.length < 5) options.promote = 3;
  if (cs.voters.length > 3) options.removeVoter = 3;
  if (cs.learners.length > 0) options.removeLearner = 1;
  if (Object.keys(options).length === 0) return;
  const what = rng.weighted(options);
  let cc: ConfChange;
  const context = ascii(`c${++sim.faults.confCounter}`);
  switch (what) {
    case 'addLearner':
      cc = { type: ConfChangeType.AddLearner, nodeId: sim.addNode().id, context };
      break;
    case 'promote':
      cc = { type: ConfChangeType.AddVoter, nodeId: rng.pick(cs.learners), context };
      break;
    case 'removeVoter': {
      const target = rng.chance(0.33) ? leader.id : rng.pick(cs.voters);
      if (target === leader.id) sim.stats.leaderRemovals++;
      cc = { type: ConfChangeType.RemoveNode, nodeId: target, context };
      break;
    }
    default:
      cc = { type: ConfChangeType.RemoveNode, nodeId: rng.pick(cs.learners), context };
  }
  sim.stats.confChanges++;
  sim.faults.nextConfChangeAt = sim.now + rng.range(5, 30) * TICK;
  const via = rng.chance(0.8) ? leader : (someNode(sim, 0) ?? leader);
  if (sim.tracing) sim.trace(`CONF CHANGE ${describeConfChange(cc)} via n${via.id} (voters [${cs.voters}] learners [${cs.learners}])`);
  via.act((core) => core.proposeConfChange(cc));
}

function transfer(sim: Simulation): void {
  const leader = sim.leader();
  if (!leader) return;
  const voters = leader.core!.status().confState.voters.filter((id) => id !== leader.id);
  if (voters.length === 0) return;
  const to = sim.rng.pick(voters);
  sim.stats.transfers++;
  if (sim.tracing) sim.trace(`TRANSFER leadership n${leader.id} -> n${to}`);
  leader.act((core) => core.transferLeader(to));
}

function compact(sim: Simulation): void {
  const up = sim.upNodes();
  if (up.length === 0) return;
  const node = sim.rng.pick(up);
  if (node.sm.length - node.disk.snapshotIndex() < sim.rng.range(1, 30)) return;
  sim.stats.compactions++;
  node.compact(sim.rng.pick([0, 0, 1, 3, 10, 50]), sim.rng.chance(0.5));
}

/** A runtime that lost the leader's connection, or an operator forcing an election. */
function disrupt(sim: Simulation): void {
  const up = sim.upNodes();
  if (up.length === 0) return;
  const node = sim.rng.pick(up);
  const forget = sim.rng.chance(0.5);
  if (sim.tracing) sim.trace(`${forget ? 'FORGET LEADER' : 'CAMPAIGN'} at n${node.id}`);
  node.act((core) => (forget ? core.forgetLeader() : core.campaign()));
}
