// The periodic corruption check (etcd's --experimental-corrupt-check-time): the leader hashes its
// history (HashKV) at its current revision and asks every other member for its hash at the same
// revision. Members that applied the same log agree, so a member whose hash differs holds a store
// that went wrong (a lost or changed record, a bad disk), which Raft cannot see: the leader raises
// a CORRUPT alarm, and the cluster refuses writes until an operator has looked (alarms.ts).
//
// Who is wrong is decided by the majority of the hashes compared: the members outside the largest
// group are corrupt when that group is more than half of them; when no group is (two members that
// differ, or three different hashes), nobody can tell, and every member compared is suspect.
import type { Logger } from '../../util/log.js';

export interface MemberHash {
  memberId: number;
  hash: number;
  /** Hashes taken at different compacted revisions cover different records: not compared. */
  compactRevision: number;
}

/** The members to raise a CORRUPT alarm for: [] when every comparable hash agrees with the leader's. */
export function corruptMembers(leader: MemberHash, peers: readonly MemberHash[]): number[] {
  const compared = [leader, ...peers.filter((p) => p.compactRevision === leader.compactRevision)];
  const groups = new Map<number, number[]>();
  for (const m of compared) groups.set(m.hash, [...(groups.get(m.hash) ?? []), m.memberId]);
  if (groups.size === 1) return [];
  const largest = [...groups.values()].reduce((a, b) => (b.length > a.length ? b : a));
  if (largest.length * 2 > compared.length) return compared.filter((m) => !largest.includes(m.memberId)).map((m) => m.memberId);
  return compared.map((m) => m.memberId);
}

/**
 * The check at start (etcd's --experimental-initial-corrupt-check): this member's hash at its own
 * revision against each peer's at the same revision, before the member serves clients. A peer
 * that is down, or behind that revision, or compacted elsewhere is skipped (as etcd does); a peer
 * that has the revision and hashes it differently means this member's store (or the peer's) went
 * wrong: the member must not serve, so this throws.
 */
export async function checkAgainstPeers(
  own: MemberHash & { revision: number },
  peers: { memberId: number; clientURL: string }[],
  askPeer: (clientURL: string, revision: number) => Promise<{ hash: number; compactRevision: number }>,
  log: Logger,
): Promise<void> {
  for (const p of peers) {
    let theirs: { hash: number; compactRevision: number };
    try {
      theirs = await askPeer(p.clientURL, own.revision);
    } catch (err) {
      log.warn({ member: p.memberId.toString(16), err: (err as Error).message }, 'initial corruption check: no hash from a member; skipped');
      continue;
    }
    if (theirs.compactRevision !== own.compactRevision) continue;
    if (theirs.hash !== own.hash) {
      throw new Error(
        `initial corruption check: this member's history up to revision ${own.revision} hashes to ${own.hash}, member ${p.memberId.toString(16)}'s to ${theirs.hash}: ` +
          'found data inconsistency with peers; not serving (see "Checking that the members agree" in docs/operations.md)',
      );
    }
  }
}

export interface CorruptionCheckOptions {
  periodMs: number;
  isLeader(): boolean;
  /** The leader's own hash at its current revision. */
  own(): Promise<MemberHash & { revision: number }>;
  /** Every other member with a client URL to ask. */
  peers(): { memberId: number; clientURL: string }[];
  /** A peer's hash at `revision` (it answers once it has applied that revision). */
  askPeer(clientURL: string, revision: number): Promise<{ hash: number; compactRevision: number }>;
  /** Raises a CORRUPT alarm for the member, unless one is raised already. */
  raise(memberId: number): Promise<void>;
  log: Logger;
}

/** Runs the check every `periodMs` while this member leads, one round at a time. */
export class CorruptionCheck {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly o: CorruptionCheckOptions) {}

  start(): void {
    if (this.timer || this.o.periodMs <= 0) return;
    this.timer = setInterval(() => {
      if (this.o.isLeader() && !this.running) void this.runOnce();
    }, this.o.periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round; resolves with the members found corrupt (a CORRUPT alarm raised for each). */
  async runOnce(): Promise<number[]> {
    this.running = true;
    try {
      const own = await this.o.own();
      const answers = await Promise.all(
        this.o.peers().map(async (p): Promise<MemberHash | undefined> => {
          try {
            return { memberId: p.memberId, ...(await this.o.askPeer(p.clientURL, own.revision)) };
          } catch (err) {
            // A member down or behind is not a corrupt one: it is compared at a later round.
            this.o.log.debug({ member: p.memberId.toString(16), err: (err as Error).message }, 'corruption check: no hash from a member');
            return undefined;
          }
        }),
      );
      const peers = answers.filter((a): a is MemberHash => a !== undefined);
      const corrupt = corruptMembers(own, peers);
      if (corrupt.length > 0) {
        this.o.log.error(
          { revision: own.revision, hashes: [own, ...peers].map((h) => `${h.memberId.toString(16)}:${h.hash}@${h.compactRevision}`), corrupt: corrupt.map((id) => id.toString(16)) },
          'corruption check: the members hold different histories; raising a CORRUPT alarm (writes are refused until it is disarmed)',
        );
        for (const id of corrupt) await this.o.raise(id);
      }
      return corrupt;
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'corruption check: could not hash this member');
      return [];
    } finally {
      this.running = false;
    }
  }
}
