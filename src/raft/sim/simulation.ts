// One seeded run: a cluster of SimNodes on a simulated network, driven by a discrete-event loop.
// Each event handled (a node's tick, a message arriving, a scheduled fault) is one step, and the
// checker has seen everything the step caused before the next one starts. The run has two phases:
// faults for `steps` steps, then the endgame (endgame.ts): everything heals, a leader must commit a
// fresh entry on a majority within LIVENESS_TICKS, and a settled leader must survive a follower
// that cannot hear it.
import { bootstrapEntries, type RaftConfig } from '../raft.js';
import { ConfChangeType, MessageType, Role, type Entry, type Message, type NodeId } from '../types.js';
import { Checker } from './checker.js';
import { EventQueue, type Unsequenced } from './event-queue.js';
import { chaos, isolate, type FaultState } from './faults.js';
import { healEverything, LivenessProbe, StabilityProbe, type Probe } from './endgame.js';
import { CALM, Network } from './network.js';
import { CrashPoint, SimNode, type NodeHost } from './node.js';
import { ELECTION_TICK, HEARTBEAT_TICK, TICK, drawProfile, type Profile, type SimOptions } from './options.js';
import { confChangeOf, entryBody, proposalPayload } from './payload.js';
import { Rng, mixSeed } from './random.js';
import { describeMessage } from './trace.js';

type SimEvent =
  | { kind: 'tick'; time: number; seq: number; node: NodeId; incarnation: number }
  | { kind: 'deliver'; time: number; seq: number; msg: Message; incarnation: number; first: boolean }
  | { kind: 'chaos'; time: number; seq: number }
  | { kind: 'restart'; time: number; seq: number; node: NodeId; incarnation: number }
  | { kind: 'kill'; time: number; seq: number; node: NodeId; incarnation: number }
  | { kind: 'isolate'; time: number; seq: number; node: NodeId; incarnation: number }
  | { kind: 'heal'; time: number; seq: number; epoch: number }
  | { kind: 'calm'; time: number; seq: number; epoch: number };

export interface SimStats {
  steps: number;
  ticks: number;
  delivered: number;
  dropped: number;
  proposals: number;
  applied: number;
  elections: number;
  reads: number;
  readsServed: number;
  snapshotsSent: number;
  compactions: number;
  crashes: number;
  readyCrashes: number;
  partitions: number;
  stalls: number;
  confChanges: number;
  leaderRemovals: number;
  transfers: number;
  retired: number;
  livenessTicks: number;
}

export interface SimResult {
  seed: number;
  nodes: number;
  steps: number;
  time: number;
  /** The first violation; it was seen at step `steps`, where the run stopped. */
  violation?: string;
  trace: string[];
  stats: SimStats;
  profile: Profile;
}

export function newStats(): SimStats {
  return {
    steps: 0, ticks: 0, delivered: 0, dropped: 0, proposals: 0, applied: 0, elections: 0, reads: 0, readsServed: 0,
    snapshotsSent: 0, compactions: 0, crashes: 0, readyCrashes: 0, partitions: 0, stalls: 0, confChanges: 0, leaderRemovals: 0,
    transfers: 0, retired: 0, livenessTicks: 0,
  };
}

export class Simulation implements NodeHost {
  readonly checker = new Checker();
  readonly nodes = new Map<NodeId, SimNode>();
  readonly stats = newStats();
  readonly profile: Profile;
  /** Decisions of the fault schedule. Separate streams keep, e.g., network draws from shifting the schedule. */
  readonly rng: Rng;
  private readonly crashRng: Rng;
  readonly network: Network;
  private readonly queue = new EventQueue<SimEvent>();
  now = 0;
  step = 0;
  phase: 'faults' | 'healing' = 'faults';
  readonly faults: FaultState = { partitionEpoch: 0, weatherEpoch: 0, nextConfChangeAt: 0, confCounter: 0, readCounter: 0, isolated: new Set(), slowLeader: undefined };
  nextNodeId: NodeId;
  private nextProposal = 1;
  /**
   * Member -> index of the entry that removed it. A peer that has applied that entry refuses the
   * member's messages, and the refused member shuts down, as in etcd.
   */
  readonly removedAt = new Map<NodeId, number>();
  readonly tracing: boolean;
  private readonly traceLines: string[] = [];
  private readonly traceLimit: number;
  /** What the end of the run checks, once a tick. */
  private probe: Probe | undefined;
  /** Where the first entry proposed after healing was applied (0 until it is). */
  finalIndex = 0;

  constructor(readonly options: SimOptions) {
    this.rng = new Rng(mixSeed(options.seed, 1));
    this.crashRng = new Rng(mixSeed(options.seed, 2));
    this.network = new Network(new Rng(mixSeed(options.seed, 3)));
    this.profile = drawProfile(new Rng(mixSeed(options.seed, 4)));
    this.traceLimit = options.trace ?? 0;
    this.tracing = this.traceLimit > 0;
    const peers = Array.from({ length: options.nodes }, (_, i) => i + 1);
    this.nextNodeId = options.nodes + 1;
    const boot = bootstrapEntries(peers);
    for (const id of peers) {
      const node = new SimNode(id, this);
      // The bootstrap entries are on every initial member's disk, committed, as etcd writes them.
      node.disk.append(boot);
      node.disk.hardState = { term: 1, vote: 0, commit: boot.length };
      this.checker.persisted(id, 0, boot);
      this.checker.hardStatePersisted(id, node.disk.hardState, node.disk.lastIndex(), node.disk.lastTerm());
      this.nodes.set(id, node);
    }
    for (const node of this.nodes.values()) this.startNode(node);
    this.queue.push({ kind: 'chaos', time: TICK / 2 });
  }

  // ---- NodeHost -----------------------------------------------------------------------------------

  trace(line: string): void {
    this.traceLines.push(`t=${this.now} #${this.step} ${line}`);
    if (this.traceLines.length > this.traceLimit * 2) this.traceLines.splice(0, this.traceLines.length - this.traceLimit);
  }

  send(from: SimNode, m: Message): void {
    // Entries are shared by reference between logs, disks and messages: a core that changed one
    // after handing it over would corrupt its peers silently; frozen, the change throws instead.
    // (Freezing whole messages too would cost a third of the simulator's speed.)
    freeze(m);
    if (m.type === MessageType.Snap) this.stats.snapshotsSent++;
    const delays = this.network.deliveries(m, this.now);
    if (this.tracing && delays.length !== 1) this.trace(`${delays.length ? 'DUPLICATE' : 'LOSE'} ${describeMessage(m)}`);
    for (let i = 0; i < delays.length; i++) {
      this.queue.push({ kind: 'deliver', time: this.now + delays[i]!, msg: m, incarnation: from.incarnation, first: i === 0 });
    }
    if (delays.length === 0) {
      this.stats.dropped++;
      this.senderReport(m, from.incarnation, false);
    }
  }

  crashPoint(node: SimNode): CrashPoint | undefined {
    const r = this.profile.rates;
    const p = node.role === Role.Leader ? r.readyCrash + r.leaderReadyCrash : r.readyCrash;
    if (this.phase !== 'faults' || !this.crashRng.chance(p)) return undefined;
    this.stats.readyCrashes++;
    this.scheduleRestart(node);
    return this.crashRng.range(CrashPoint.BeforePersist, CrashPoint.AfterApply) as CrashPoint;
  }

  keepStateMachine(): boolean {
    return this.crashRng.chance(0.5);
  }

  applied(node: SimNode, e: Entry): void {
    this.stats.applied++;
    const cc = confChangeOf(e);
    if (cc && cc.type === ConfChangeType.RemoveNode && !this.removedAt.has(cc.nodeId)) this.removedAt.set(cc.nodeId, e.index);
    if (this.phase === 'healing' && this.finalIndex === 0 && entryBody(e).startsWith('f')) this.finalIndex = e.index;
  }

  becameLeader(node: SimNode): void {
    this.stats.elections++;
    if (this.phase !== 'faults') return;
    const r = this.profile.rates;
    if (this.crashRng.chance(r.leaderKill)) {
      this.queue.push({ kind: 'kill', time: this.now + this.crashRng.range(0, 2 * TICK), node: node.id, incarnation: node.incarnation });
    } else if (this.crashRng.chance(r.isolateLeader)) {
      this.queue.push({ kind: 'isolate', time: this.now + this.crashRng.range(0, TICK), node: node.id, incarnation: node.incarnation });
    }
  }

  queuePush(ev: Unsequenced<SimEvent>): void {
    this.queue.push(ev);
  }

  // ---- Nodes ------------------------------------------------------------------------------------------

  coreConfig(node: SimNode): RaftConfig {
    const rng = new Rng(mixSeed(this.options.seed, 5, node.id, node.incarnation));
    const config: RaftConfig = {
      id: node.id,
      electionTick: ELECTION_TICK,
      heartbeatTick: HEARTBEAT_TICK,
      random: () => rng.next(),
      ...this.profile.core,
    };
    if (this.options.bugs?.length) config.unsafeBugs = Object.fromEntries(this.options.bugs.map((b) => [b, true]));
    return config;
  }

  startNode(node: SimNode): void {
    node.start(this.coreConfig(node));
    // Each member's clock has its own phase and a slightly different rate.
    const interval = TICK + this.rng.range(-1, 1);
    this.queue.push({ kind: 'tick', time: this.now + 1 + this.rng.int(interval), node: node.id, incarnation: node.incarnation });
    node.drain();
  }

  /** A member added by a membership change starts empty and learns everything from the leader. */
  addNode(): SimNode {
    const node = new SimNode(this.nextNodeId++, this);
    this.nodes.set(node.id, node);
    this.startNode(node);
    return node;
  }

  crash(node: SimNode): void {
    if (!node.up) return;
    if (this.tracing) this.trace(`CRASH n${node.id}`);
    this.stats.crashes++;
    node.crash(this.keepStateMachine());
    this.scheduleRestart(node);
  }

  private scheduleRestart(node: SimNode): void {
    // The restart is tied to this incarnation, so a stale one does not revive a node twice.
    this.queue.push({ kind: 'restart', time: this.now + TICK * this.rng.range(...this.profile.downTicks), node: node.id, incarnation: node.incarnation });
  }

  restart(node: SimNode): void {
    if (node.up || node.retired) return;
    if (this.tracing) this.trace(`RESTART n${node.id} from disk (applied ${node.sm.length}, snapshot ${node.disk.snapshotIndex()})`);
    this.startNode(node);
  }

  retire(node: SimNode, why: string): void {
    if (node.retired) return;
    if (this.tracing) this.trace(`RETIRE n${node.id}: ${why}`);
    this.stats.retired++;
    node.retire();
  }

  /** Live members, in id order. */
  upNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.up) out.push(n);
    return out;
  }

  /** The live leader of the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      if (!n.up || n.role !== Role.Leader) continue;
      const term = n.core!.status().term;
      if (term > bestTerm) {
        best = n;
        bestTerm = term;
      }
    }
    return best;
  }

  propose(node: SimNode, count: number): void {
    const payloads: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const padding = this.rng.chance(0.2) ? this.rng.range(1, 120) : 0;
      payloads.push(proposalPayload(this.nextProposal++, padding));
    }
    this.stats.proposals += count;
    if (this.tracing) this.trace(`PROPOSE at n${node.id}: p${this.nextProposal - count}..p${this.nextProposal - 1}`);
    node.act((core) => core.propose(payloads));
  }

  // ---- The event loop ---------------------------------------------------------------------------------

  run(): SimResult {
    try {
      this.loop(() => this.step < this.options.steps);
      if (this.checker.ok) {
        healEverything(this);
        const healedAt = this.now;
        const liveness = new LivenessProbe(this);
        this.runProbe(liveness);
        this.stats.livenessTicks = liveness.ticksTaken;
        const { preVote, checkQuorum } = this.profile.core;
        if (this.checker.ok && preVote !== false && checkQuorum !== false) this.runProbe(new StabilityProbe(this, healedAt));
      }
    } catch (err) {
      // The first frames say where; the rest is the simulator's own call chain.
      const where = err instanceof Error ? (err.stack ?? err.message).split('\n').slice(0, 4).join(' | ') : String(err);
      this.checker.fail(`the core threw at step ${this.step}: ${where}`);
    }
    this.stats.steps = this.step;
    const violation = this.checker.violations[0];
    return {
      seed: this.options.seed,
      nodes: this.options.nodes,
      steps: this.step,
      time: this.now,
      violation,
      trace: this.traceLines.slice(-this.traceLimit),
      stats: this.stats,
      profile: this.profile,
    };
  }

  private runProbe(probe: Probe): void {
    this.probe = probe;
    this.loop(() => !probe.finished && this.now <= probe.deadline);
    if (this.checker.ok && !probe.finished) probe.expire();
    this.probe = undefined;
  }

  private loop(more: () => boolean): void {
    while (this.checker.ok && more()) {
      const ev = this.queue.pop();
      if (!ev) return;
      this.now = ev.time;
      this.step++;
      this.handle(ev);
    }
  }

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'tick': {
        const node = this.nodes.get(ev.node)!;
        if (node.incarnation !== ev.incarnation || !node.up) return; // a later incarnation has its own clock
        this.stats.ticks++;
        node.act((core) => core.tick());
        this.queue.push({ kind: 'tick', time: this.now + TICK, node: node.id, incarnation: node.incarnation });
        return;
      }
      case 'deliver':
        return this.deliver(ev.msg, ev.incarnation, ev.first);
      case 'chaos':
        this.queue.push({ kind: 'chaos', time: this.now + TICK });
        if (this.phase === 'faults') chaos(this);
        else this.probe?.tick();
        return;
      case 'restart': {
        const node = this.nodes.get(ev.node)!;
        if (node.incarnation === ev.incarnation) this.restart(node);
        return;
      }
      case 'kill': {
        const node = this.nodes.get(ev.node)!;
        if (node.incarnation === ev.incarnation && this.phase === 'faults') this.crash(node);
        return;
      }
      case 'isolate': {
        const node = this.nodes.get(ev.node)!;
        if (node.incarnation === ev.incarnation && node.role === Role.Leader && this.phase === 'faults') isolate(this, node);
        return;
      }
      case 'heal':
        if (ev.epoch === this.faults.partitionEpoch) {
          if (this.tracing) this.trace('HEAL partition');
          this.network.heal();
        }
        return;
      case 'calm':
        if (ev.epoch === this.faults.weatherEpoch) {
          if (this.tracing) this.trace('CALM network');
          this.network.conditions = CALM;
        }
        return;
    }
  }

  private deliver(m: Message, incarnation: number, first: boolean): void {
    const to = this.nodes.get(m.to);
    let why = '';
    if (!to || !to.up) why = 'recipient down';
    else if (this.network.isBlocked(m.from, m.to)) why = 'partitioned';
    else if (to.sm.length >= (this.removedAt.get(m.from) ?? Infinity)) why = 'sender was removed';
    if (why) {
      this.stats.dropped++;
      if (this.tracing) this.trace(`DROP (${why}) ${describeMessage(m)}`);
      const sender = this.nodes.get(m.from);
      // Peers refuse a removed member's messages, and etcd's member shuts down when told so.
      if (why === 'sender was removed' && sender && sender.up) this.retire(sender, 'a peer refused its message: removed from the cluster');
      else if (first) this.senderReport(m, incarnation, why === 'partitioned' || why === 'recipient down');
      return;
    }
    this.stats.delivered++;
    if (this.tracing) this.trace(describeMessage(m));
    to!.act((core) => core.step(m));
    if (first && m.type === MessageType.Snap) this.senderReport(m, incarnation, true);
  }

  /** The transport tells the sender how a snapshot went, and sometimes that a peer is unreachable. */
  private senderReport(m: Message, incarnation: number, delivered: boolean): void {
    const sender = this.nodes.get(m.from);
    if (!sender || !sender.up || sender.incarnation !== incarnation) return;
    if (m.type === MessageType.Snap) sender.act((core) => core.reportSnapshot(m.to, delivered));
    else if (!delivered && this.rng.chance(0.5)) sender.act((core) => core.reportUnreachable(m.to));
  }

  /** Proposes an entry whose commitment proves the healed cluster makes progress. */
  proposeFinal(leader: SimNode): boolean {
    const payload = proposalPayload(this.nextProposal++, 0, 'f');
    if (this.tracing) this.trace(`PROPOSE final f${this.nextProposal - 1} at n${leader.id}`);
    return leader.act((core) => core.propose([payload]));
  }
}

function freeze(m: Message): void {
  for (const e of m.entries) Object.freeze(e);
}

export function runSimulation(options: SimOptions): SimResult {
  return new Simulation(options).run();
}
