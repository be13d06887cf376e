// The end of every run. Faults stop and everything heals; then two properties that only a healthy
// cluster owes us are checked:
//  - liveness: a leader is elected and a new entry commits on a majority within LIVENESS_TICKS;
//  - stability (with pre-vote and check-quorum on): a member that cannot hear the leader must not
//    depose it while a quorum still does, because the others refuse to vote while in lease.
import { EntryType, Role, type NodeId } from '../types.js';
import { CALM } from './network.js';
import { ELECTION_TICK, LIVENESS_TICKS, TICK } from './options.js';
import type { SimNode } from './node.js';
import type { Simulation } from './simulation.js';

/** Something checked once a tick while it runs; the run ends it at `deadline` if it has not finished. */
export interface Probe {
  readonly deadline: number;
  finished: boolean;
  tick(): void;
  /** Called if the deadline passed first. */
  expire(): void;
}

export function healEverything(sim: Simulation): void {
  if (sim.tracing) sim.trace('=== HEAL EVERYTHING: reconnect, stop losing messages, restart crashed members ===');
  sim.phase = 'healing';
  sim.faults.partitionEpoch++;
  sim.faults.weatherEpoch++;
  sim.network.heal();
  sim.network.endStalls();
  sim.faults.isolated.clear();
  sim.faults.slowLeader = undefined;
  sim.network.conditions = CALM;
  for (const node of sim.nodes.values()) if (!node.up && !node.retired) sim.restart(node);
}

export class LivenessProbe implements Probe {
  readonly deadline: number;
  finished = false;
  private proposedAt = -1;
  private readonly start: number;

  constructor(private readonly sim: Simulation) {
    this.start = sim.now;
    this.deadline = sim.now + LIVENESS_TICKS * TICK;
  }

  get ticksTaken(): number {
    return Math.ceil((this.sim.now - this.start) / TICK);
  }

  tick(): void {
    const sim = this.sim;
    if (sim.finalIndex > 0 && this.majorityApplied(sim.finalIndex)) {
      this.finished = true;
      // Nothing committed during the faults may be missing from the leader that survived them.
      const leader = sim.leader();
      if (leader) sim.checker.holdsDecided(leader.id, 'leads the healed cluster', leader.logView(leader.core!), leader.core!.status().term);
      return;
    }
    if (sim.finalIndex > 0) return;
    // Propose through the leader; again if the proposal seems lost (its leader may have been deposed).
    const leader = sim.leader();
    const stale = this.proposedAt >= 0 && sim.now - this.proposedAt > 3 * ELECTION_TICK * TICK;
    if (!leader || (this.proposedAt >= 0 && !stale)) return;
    if (sim.proposeFinal(leader)) this.proposedAt = sim.now;
  }

  private majorityApplied(index: number): boolean {
    const voters = this.sim.checker.confAt(this.sim.checker.maxDecided).voters;
    let have = 0;
    for (const v of voters) if ((this.sim.nodes.get(v)?.sm.length ?? 0) >= index) have++;
    return have * 2 > voters.length;
  }

  expire(): void {
    const sim = this.sim;
    sim.checker.fail(
      `liveness: ${LIVENESS_TICKS} ticks after healing, no new entry was committed on a majority ` +
        `(voters [${sim.checker.confAt(sim.checker.maxDecided).voters}]; ${[...sim.nodes.values()].map((n) => n.describe()).join('; ')})`,
    );
  }
}

export class StabilityProbe implements Probe {
  readonly deadline: number;
  finished = false;
  private readonly notBefore: number;
  private leader: SimNode | undefined;
  private term = 0;
  private follower: NodeId = 0;
  private voters = '';
  private endAt = 0;

  constructor(
    private readonly sim: Simulation,
    healedAt: number,
  ) {
    // Let messages delayed from the fault phase (up to 8 ticks, or held by a stalled link until
    // it ends) land first.
    this.notBefore = Math.max(healedAt + 10 * TICK, sim.network.heldUntil + TICK);
    this.deadline = sim.now + LIVENESS_TICKS * TICK;
  }

  tick(): void {
    if (!this.leader) this.begin();
    else this.watch();
  }

  /** Waits for a settled leader (nothing uncommitted, no transfer), then cuts it off from one follower. */
  private begin(): void {
    const sim = this.sim;
    if (sim.now < this.notBefore) return;
    const leader = sim.leader();
    const st = leader?.core?.status();
    if (!leader || !st || st.leadTransferee !== 0 || st.commit !== st.lastIndex || !st.confState.voters.includes(leader.id)) return;
    const followers = st.confState.voters.filter((id) => id !== leader.id && sim.nodes.get(id)?.up);
    if (followers.length === 0) {
      this.finished = true; // a single voter cannot be disrupted
      return;
    }
    this.leader = leader;
    this.term = st.term;
    this.follower = sim.rng.pick(followers);
    this.voters = this.committedVoters();
    this.endAt = sim.now + 5 * ELECTION_TICK * TICK;
    sim.network.cut([[leader.id, this.follower]], `stability: ${leader.id}-/>${this.follower}`);
    if (sim.tracing) sim.trace(`STABILITY: n${this.follower} stops hearing leader n${leader.id} (term ${this.term}) for 5 election timeouts`);
  }

  private watch(): void {
    const sim = this.sim;
    const st = this.leader!.core?.status();
    if (!st || st.role !== Role.Leader || st.term !== this.term) {
      // A membership change from the fault phase that commits only now changes the rules; skip.
      if (this.committedVoters() !== this.voters || this.pendingConfChange()) {
        this.finished = true;
        return;
      }
      const now = sim.leader();
      sim.checker.fail(
        `stability: leader n${this.leader!.id} of term ${this.term} lost its leadership ` +
          `(now ${st ? `${Role[st.role]} in term ${st.term}` : 'down'}; leader ${now ? `n${now.id} of term ${now.core!.status().term}` : 'none'}) ` +
          `although only n${this.follower} could not hear it: with pre-vote and check-quorum on, the others should have refused to vote`,
      );
      return;
    }
    if (sim.now >= this.endAt) this.finished = true;
  }

  private committedVoters(): string {
    return this.sim.checker.confAt(this.sim.checker.maxDecided).voters.join(',');
  }

  private pendingConfChange(): boolean {
    for (const node of this.sim.nodes.values()) {
      const st = node.core?.status();
      if (!st) continue;
      for (let i = st.commit + 1; i <= st.lastIndex; i++) if (node.core!.entryAt(i)?.type === EntryType.ConfChange) return true;
    }
    return false;
  }

  expire(): void {
    // No settled leader showed up in time (liveness was already proven): nothing to check.
  }
}
