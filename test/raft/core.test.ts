// Unit tests of single Raft rules, each on a small deterministic network (net.ts). Where a rule has
// a deliberate-bug knob, the test also shows that breaking the rule makes it fail.
import t from 'tap';
import { TestNet, enc, seeded } from './net.js';
import { RaftCore, bootstrapEntries, type RaftConfig } from '../../src/raft/raft.js';
import { encodeConfChange } from '../../src/raft/confchange.js';
import { ProposalDroppedError } from '../../src/raft/errors.js';
import {
  ConfChangeType,
  EntryType,
  MessageType,
  Role,
  emptyMessage,
  type Entry,
  type Message,
  type NodeId,
} from '../../src/raft/types.js';

const ELECTION = 10;

function normal(term: number, index: number, s = `e${index}`): Entry {
  return { term, index, type: EntryType.Normal, data: enc(s) };
}

t.test('three nodes elect one leader and apply the same entries', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  l.propose([enc('a'), enc('b')]);
  net.tick(2);
  for (const id of [1, 2, 3]) t.same(net.appliedData(id), ['a', 'b'], `node ${id} applied`);
  t.equal([...net.nodes.values()].filter((n) => n.status().role === Role.Leader).length, 1);
});

t.test('a batch of proposals travels in one append message', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  net.sent.length = 0;
  l.propose([enc('x'), enc('y'), enc('z')]);
  net.settle();
  const apps = net.sent.filter((m) => m.type === MessageType.App && m.entries.length > 0);
  t.equal(apps.length, 2, 'one append per follower');
  t.same(apps[0]!.entries.map((e) => Buffer.from(e.data).toString()), ['x', 'y', 'z']);
});

t.test('followers forward proposals to the leader', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  const f = [...net.nodes.values()].find((n) => n !== l)!;
  f.propose([enc('via-follower')]);
  net.tick(2);
  for (const id of [1, 2, 3]) t.same(net.appliedData(id), ['via-follower']);
});

t.test('a node without a leader refuses proposals with a clear error', async (t) => {
  const net = new TestNet([1, 2, 3]);
  t.throws(() => net.node(1).propose([enc('x')]), ProposalDroppedError);
});

/**
 * Figure 8 of the Raft paper: a new leader must not commit an entry of an older term by counting
 * replicas. Node 1 holds (term 2, index 6) from its earlier leadership; it wins term 4 and
 * appends its no-op at 7. Nodes 2 and 3 acknowledge index 6: a majority holds it, but it must
 * stay uncommitted until the term-4 entry reaches a majority.
 */
function figure8(bugs: RaftConfig['unsafeBugs']): { before: number; after: number } {
  const boot = bootstrapEntries([1, 2, 3, 4, 5]);
  const n = new RaftCore(
    { id: 1, electionTick: ELECTION, heartbeatTick: 1, random: seeded(1), unsafeBugs: bugs },
    { hardState: { term: 3, vote: 0, commit: 5 }, entries: [...boot, normal(2, 6)], applied: 5 },
  );
  const drain = () => {
    while (n.hasReady()) n.advance(n.ready());
  };
  n.campaign();
  for (const from of [2, 3]) n.step({ ...emptyMessage(MessageType.PreVoteResp, 1, from, 4) });
  for (const from of [2, 3]) n.step({ ...emptyMessage(MessageType.VoteResp, 1, from, 4) });
  if (n.status().role !== Role.Leader) throw new Error('setup: not leader');
  drain();
  for (const from of [2, 3]) n.step({ ...emptyMessage(MessageType.AppResp, 1, from, 4), index: 6 });
  drain();
  const before = n.status().commit;
  for (const from of [2, 3]) n.step({ ...emptyMessage(MessageType.AppResp, 1, from, 4), index: 7 });
  drain();
  return { before, after: n.status().commit };
}

t.test('Figure 8: an old-term entry is not committed by counting', async (t) => {
  const ok = figure8(undefined);
  t.equal(ok.before, 5, 'index 6 (term 2) on a majority stays uncommitted');
  t.equal(ok.after, 7, 'committing the term-4 entry commits both');
  const broken = figure8({ commitOldTermByCounting: true });
  t.equal(broken.before, 6, 'with the rule broken the old entry is committed by counting (the test can fail)');
});

t.test('a stale leader cut off from the majority commits nothing and its entries are discarded', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const old = net.elect();
  const oldId = old.id;
  net.isolate(oldId);
  old.propose([enc('stale')]);
  net.settle();
  t.equal(net.appliedData(oldId).length, 0);
  // The rest elect a new leader while the old one still believes it leads.
  let fresh: RaftCore | undefined;
  for (let i = 0; i < 100 && !fresh; i++) {
    net.tick();
    fresh = [...net.nodes.values()].find((n) => n.id !== oldId && n.status().role === Role.Leader);
  }
  t.ok(fresh, 'the majority elected a new leader');
  fresh!.propose([enc('fresh')]);
  net.settle();
  net.heal();
  net.tick(5);
  for (const id of [1, 2, 3]) t.same(net.appliedData(id), ['fresh'], `node ${id} has the new leader's entry only`);
  t.notOk(
    net.disks.get(oldId)!.entries.some((e) => Buffer.from(e.data).toString() === 'stale'),
    'the stale entry was overwritten on disk',
  );
});

t.test('CheckQuorum: a leader cut off from a majority steps down within one election timeout', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  net.tick(3);
  net.isolate(l.id);
  let ticks = 0;
  while (l.status().role === Role.Leader && ticks < 5 * ELECTION) {
    l.tick();
    net.settle();
    ticks++;
  }
  t.equal(l.status().role, Role.Follower);
  t.ok(ticks <= ELECTION, `stepped down after ${ticks} ticks (election timeout ${ELECTION})`);
});

function partitionedTermGrowth(preVote: boolean): { before: number; after: number; leaderKept: boolean } {
  const net = new TestNet([1, 2, 3], { preVote });
  const l = net.elect();
  const other = [1, 2, 3].find((id) => id !== l.id)!;
  const loner = [1, 2, 3].find((id) => id !== l.id && id !== other)!;
  const before = net.node(loner).status().term;
  net.isolate(loner);
  net.tick(20 * ELECTION);
  const after = net.node(loner).status().term;
  net.heal();
  net.tick(3 * ELECTION);
  return { before, after, leaderKept: net.node(l.id).status().role === Role.Leader && net.node(l.id).status().term === before };
}

t.test('PreVote: a partitioned node does not inflate its term or depose the leader when it returns', async (t) => {
  const withPreVote = partitionedTermGrowth(true);
  t.equal(withPreVote.after, withPreVote.before, 'term unchanged after 20 election timeouts alone');
  t.ok(withPreVote.leaderKept, 'the healthy leader keeps its term and role after the heal');
  const without = partitionedTermGrowth(false);
  t.ok(without.after > without.before + 5, `without pre-vote the term grows (${without.before} -> ${without.after})`);
});

t.test('a node that heard from the leader recently ignores vote requests (leader lease)', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  const f = [1, 2, 3].find((id) => id !== l.id)!;
  const term = net.node(f).status().term;
  const stranger = [1, 2, 3].find((id) => id !== l.id && id !== f)!;
  net.node(f).step({ ...emptyMessage(MessageType.Vote, f, stranger, term + 5), index: 100, logTerm: term + 1 });
  t.equal(net.node(f).status().term, term, 'term unchanged');
  t.equal(net.node(f).status().lead, l.id, 'still follows the leader');
});

t.test('a learner never campaigns and its vote is not counted', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  net.addEmpty(4);
  l.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4, context: new Uint8Array() });
  net.tick(5);
  t.same(net.node(4).status().confState.learners, [4], 'the learner knows it is one');
  t.equal(net.node(4).status().commit, l.status().commit, 'the learner caught up');
  const term = net.node(4).status().term;
  net.isolate(4);
  net.tick(20 * ELECTION, [4]);
  t.equal(net.node(4).status().role, Role.Follower);
  t.equal(net.node(4).status().term, term, 'the isolated learner never campaigned');

  // A candidate with voters {1,2,3} and only the learner's grant does not win.
  const c = net.node(l.id === 1 ? 2 : 1);
  net.filter = () => false;
  const cTerm = c.status().term;
  c.step(emptyMessage(MessageType.TimeoutNow, c.id, l.id, cTerm));
  t.equal(c.status().role, Role.Candidate);
  c.step({ ...emptyMessage(MessageType.VoteResp, c.id, 4, c.status().term) });
  t.equal(c.status().role, Role.Candidate, 'a learner grant does not make a leader');
});

t.test('ForgetLeader: followers that lost the leader elect a new one well within an election timeout', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  net.tick(2);
  net.isolate(l.id); // the leader's process died
  const others = [1, 2, 3].filter((id) => id !== l.id);
  for (const id of others) net.node(id).forgetLeader();
  let ticks = 0;
  let fresh: RaftCore | undefined;
  while (!fresh && ticks < 5 * ELECTION) {
    net.tick(1, others);
    ticks++;
    fresh = others.map((id) => net.node(id)).find((n) => n.status().role === Role.Leader);
  }
  t.ok(fresh, 'a new leader');
  t.ok(ticks < ELECTION / 2 + 2, `elected after ${ticks} ticks (election timeout ${ELECTION})`);
});

t.test('ForgetLeader: a split vote between the two survivors is retried soon, not after a whole election timeout', async (t) => {
  // Both survivors see the leader's connection drop at the same moment and happen to draw the same
  // short delay: each pre-votes while the other is a pre-candidate too, both pre-votes are granted,
  // both become candidates of the same term and vote for themselves. (Between processes the same
  // happens whenever the two campaigns start within one message delay, e.g. a slow fsync.)
  const electionTick = 40;
  const base = seeded(3);
  const forced: number[] = [];
  const net = new TestNet([1, 2, 3], { electionTick, random: () => (forced.length ? forced.shift()! : base()) });
  const l = net.elect(4 * electionTick);
  net.tick(2);
  const term = l.status().term;
  net.isolate(l.id); // the leader's process died
  const others = [1, 2, 3].filter((id) => id !== l.id);
  forced.push(0.5, 0.5);
  for (const id of others) net.node(id).forgetLeader();
  let ticks = 0;
  let split = false;
  let fresh: RaftCore | undefined;
  while (!fresh && ticks < 5 * electionTick) {
    net.tick(1, others);
    ticks++;
    const st = others.map((id) => net.node(id).status());
    if (st.every((s) => s.role === Role.Candidate && s.term === term + 1 && s.vote === s.id)) split = true;
    fresh = others.map((id) => net.node(id)).find((n) => n.status().role === Role.Leader);
  }
  t.ok(split, 'the two survivors split their votes in the first election');
  t.ok(fresh, 'a new leader');
  t.ok(ticks < electionTick, `elected after ${ticks} ticks (election timeout ${electionTick})`);
  // Once a leader is known again, the followers are back to the whole election timeout.
  net.tick(2, others);
  const f = others.find((id) => id !== fresh!.id)!;
  net.isolate(fresh!.id);
  net.tick(electionTick - 1, [f]);
  t.equal(net.node(f).status().role, Role.Follower, 'a follower of the new leader waits a whole election timeout');
});

t.test('a split vote after the leader went silent (no forgetLeader: it hangs) is retried soon, not after a whole election timeout', async (t) => {
  // A stopped or hung leader keeps its connections open, so its followers learn of the loss only
  // from their election timers. Every draw is the same until the leader is cut off, so the two
  // followers time out on the same tick, their pre-votes cross and both become candidates of one
  // term: a split vote. From then on the draws differ, as two processes' would.
  const electionTick = 40;
  const base = seeded(5);
  let same = true;
  const net = new TestNet([1, 2, 3], { electionTick, random: () => (same ? 0.5 : base()) });
  net.node(1).campaign();
  net.tick(1);
  t.equal(net.node(1).status().role, Role.Leader, 'node 1 leads');
  net.tick(3);
  const term = net.node(1).status().term;
  net.isolate(1);
  same = false;
  const others = [2, 3];
  let ticks = 0;
  let splitAt = -1;
  let fresh: RaftCore | undefined;
  while (!fresh && ticks < 5 * electionTick) {
    net.tick(1, others);
    ticks++;
    const st = others.map((id) => net.node(id).status());
    if (splitAt < 0 && st.every((s) => s.role === Role.Candidate && s.term === term + 1 && s.vote === s.id)) splitAt = ticks;
    fresh = others.map((id) => net.node(id)).find((n) => n.status().role === Role.Leader);
  }
  t.ok(splitAt > 0, `the two followers split their votes when their timers fired (tick ${splitAt})`);
  t.ok(fresh, 'a new leader');
  t.ok(splitAt >= electionTick, 'the loss itself was detected by a whole election timeout');
  t.ok(ticks - splitAt < electionTick / 2 + 2, `the retry elected a leader ${ticks - splitAt} ticks after the split (election timeout ${electionTick})`);
  // Once a leader is known again, its follower is back to the whole election timeout.
  net.tick(2, others);
  const f = others.find((id) => id !== fresh!.id)!;
  net.isolate(fresh!.id);
  net.tick(electionTick - 1, [f]);
  t.equal(net.node(f).status().role, Role.Follower, 'a follower of the new leader waits a whole election timeout');
});

t.test('a follower cut off alone keeps the whole election timeout between its pre-votes', async (t) => {
  // Its timer fires, but its pre-votes reach nobody: it never becomes a candidate, never draws a
  // short timeout, and so campaigns no more often than before.
  const electionTick = 40;
  const net = new TestNet([1, 2, 3], { electionTick, random: seeded(7) });
  const l = net.elect(4 * electionTick);
  net.tick(2);
  const f = [1, 2, 3].find((id) => id !== l.id)!;
  let now = 0;
  const rounds = new Set<number>();
  net.filter = (m) => {
    if (m.from === f && m.type === MessageType.PreVote) rounds.add(now);
    return m.from !== f && m.to !== f;
  };
  for (now = 0; now < 8 * electionTick; now++) net.tick(1, [f]);
  const at = [...rounds].sort((x, y) => x - y);
  t.ok(at.length >= 3, `it pre-voted ${at.length} times`);
  const gaps = at.slice(1).map((x, i) => x - at[i]!);
  t.ok(gaps.every((g) => g >= electionTick), `every retry waited a whole election timeout: gaps ${gaps.join(', ')}`);
  t.equal(net.node(f).status().role, Role.PreCandidate, 'it is still only a pre-candidate');
  t.equal(net.node(f).status().term, l.status().term, 'its term never moved');
});

t.test('ForgetLeader on one follower does not disturb a healthy leader', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  net.tick(2);
  const term = l.status().term;
  const f = [1, 2, 3].find((id) => id !== l.id)!;
  for (let i = 0; i < 5; i++) {
    net.node(f).forgetLeader();
    net.tick(ELECTION);
  }
  t.equal(l.status().role, Role.Leader);
  t.equal(l.status().term, term, 'no term change');
  t.equal(net.node(f).status().lead, l.id, 'the follower follows the leader again');
});

t.test('ReadIndex: served after a quorum heartbeat round, also through a follower', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  l.propose([enc('a')]);
  net.tick(2);
  const commit = l.status().commit;
  l.readIndex(42);
  net.settle();
  t.same(net.readStates.get(l.id), [{ index: commit, context: 42 }]);
  const f = [1, 2, 3].find((id) => id !== l.id)!;
  net.node(f).readIndex(43);
  net.settle();
  t.same(net.readStates.get(f), [{ index: commit, context: 43 }]);
});

t.test('ReadIndex: a leader cut off from the majority never answers', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  net.tick(2);
  net.isolate(l.id);
  l.readIndex(7);
  net.tick(3, [l.id]);
  t.same(net.readStates.get(l.id), []);
});

t.test('ReadIndex: a new leader waits for an entry of its term before answering', async (t) => {
  const boot = bootstrapEntries([1, 2, 3]);
  const n = new RaftCore(
    { id: 1, electionTick: ELECTION, heartbeatTick: 1, random: seeded(3) },
    { hardState: { term: 2, vote: 0, commit: 3 }, entries: [...boot, normal(2, 4)], applied: 3 },
  );
  n.campaign();
  n.step(emptyMessage(MessageType.PreVoteResp, 1, 2, 3));
  n.step(emptyMessage(MessageType.VoteResp, 1, 2, 3));
  t.equal(n.status().role, Role.Leader);
  let rd = n.ready();
  n.advance(rd);
  n.readIndex(9);
  n.step({ ...emptyMessage(MessageType.HeartbeatResp, 1, 2, 3), context: 9 });
  rd = n.ready();
  t.same(rd.readStates, [], 'no answer before the no-op commits');
  n.advance(rd);
  n.step({ ...emptyMessage(MessageType.AppResp, 1, 2, 3), index: 5 });
  // The commit releases the read into a heartbeat round; a quorum answers it.
  rd = n.ready();
  n.advance(rd);
  const hb = rd.messages.find((m) => m.type === MessageType.Heartbeat && m.context === 9)!;
  t.ok(hb, 'a heartbeat round for the read');
  n.step({ ...emptyMessage(MessageType.HeartbeatResp, 1, 2, 3), context: 9 });
  rd = n.ready();
  t.same(rd.readStates, [{ index: 5, context: 9 }]);
});

/** Node 1 as the leader of `voters` (term 3) with its no-op committed at index voters.length + 2. */
function readyLeader(voters: NodeId[]): { n: RaftCore; commit: number } {
  const boot = bootstrapEntries(voters);
  const n = new RaftCore(
    { id: 1, electionTick: ELECTION, heartbeatTick: 1, random: seeded(3) },
    { hardState: { term: 2, vote: 0, commit: boot.length }, entries: [...boot, normal(2, boot.length + 1)], applied: boot.length },
  );
  n.campaign();
  for (const from of voters.slice(1)) n.step(emptyMessage(MessageType.PreVoteResp, 1, from, 3));
  for (const from of voters.slice(1)) n.step(emptyMessage(MessageType.VoteResp, 1, from, 3));
  n.advance(n.ready());
  const commit = boot.length + 2;
  for (const from of voters.slice(1)) n.step({ ...emptyMessage(MessageType.AppResp, 1, from, 3), index: commit });
  n.advance(n.ready());
  return { n, commit };
}

/** A follower's forwarded read request: termless, with the term it was in as `logTerm`. */
function readRequest(from: NodeId, context: number, logTerm: number): Message {
  return { ...emptyMessage(MessageType.ReadIndex, 1, from, 0), context, logTerm };
}

t.test('ReadIndex: a follower asks with the term it is in', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  const f = [1, 2, 3].find((id) => id !== l.id)!;
  net.sent.length = 0;
  net.node(f).readIndex(5);
  net.settle();
  const asked = net.sent.find((m) => m.type === MessageType.ReadIndex);
  t.equal(asked?.to, l.id);
  t.equal(asked?.term, 0, 'forwarded requests stay termless');
  t.equal(asked?.logTerm, l.status().term, 'it vouches for the term it is in');
  t.same(net.readStates.get(f), [{ index: l.status().commit, context: 5 }], 'answered');
  t.equal(net.sent.filter((m) => m.type === MessageType.Heartbeat && m.context === 5).length, 0, 'in one round trip, with no heartbeat round');
});

t.test('ReadIndex: a voter asking in our term makes a quorum with us: answered without a heartbeat round', async (t) => {
  const { n, commit } = readyLeader([1, 2, 3]);
  n.step(readRequest(2, 11, 3));
  const rd = n.ready();
  n.advance(rd);
  t.same(
    rd.messages.filter((m) => m.type === MessageType.ReadIndexResp).map((m) => [m.to, m.index, m.context]),
    [[2, commit, 11]],
  );
  t.equal(rd.messages.filter((m) => m.type === MessageType.Heartbeat).length, 0, 'no heartbeat round');
});

t.test('ReadIndex: a request without our term (an older member, or an older term) waits for a heartbeat round', async (t) => {
  for (const logTerm of [0, 2]) {
    const { n, commit } = readyLeader([1, 2, 3]);
    n.step(readRequest(2, 12, logTerm));
    let rd = n.ready();
    n.advance(rd);
    t.equal(rd.messages.filter((m) => m.type === MessageType.ReadIndexResp).length, 0, `logTerm ${logTerm}: not answered yet`);
    t.equal(rd.messages.filter((m) => m.type === MessageType.Heartbeat && m.context === 12).length, 2, `logTerm ${logTerm}: a heartbeat round`);
    n.step({ ...emptyMessage(MessageType.HeartbeatResp, 1, 3, 3), context: 12 });
    rd = n.ready();
    t.same(rd.messages.filter((m) => m.type === MessageType.ReadIndexResp).map((m) => [m.to, m.index]), [[2, commit]]);
  }
});

t.test('ReadIndex: a vouched request confirms only its own reads, not those queued before it', async (t) => {
  const { n, commit } = readyLeader([1, 2, 3]);
  n.readIndex(20);
  let rd = n.ready();
  n.advance(rd);
  t.equal(rd.messages.filter((m) => m.type === MessageType.Heartbeat && m.context === 20).length, 2);
  // Follower 2 may have asked before read 20 began (its request can be old): it vouches for nothing after.
  n.step(readRequest(2, 21, 3));
  rd = n.ready();
  n.advance(rd);
  t.same(rd.messages.filter((m) => m.type === MessageType.ReadIndexResp).map((m) => m.context), [21]);
  t.same(rd.readStates, [], "the leader's own read still waits for its round");
  n.step({ ...emptyMessage(MessageType.HeartbeatResp, 1, 3, 3), context: 20 });
  rd = n.ready();
  t.same(rd.readStates, [{ index: commit, context: 20 }]);
});

t.test('ReadIndex: with five voters a vouching follower is not a quorum with the leader', async (t) => {
  const { n, commit } = readyLeader([1, 2, 3, 4, 5]);
  n.step(readRequest(2, 30, 3));
  let rd = n.ready();
  n.advance(rd);
  t.equal(rd.messages.filter((m) => m.type === MessageType.ReadIndexResp).length, 0);
  t.equal(rd.messages.filter((m) => m.type === MessageType.Heartbeat && m.context === 30).length, 4);
  n.step({ ...emptyMessage(MessageType.HeartbeatResp, 1, 3, 3), context: 30 });
  n.step({ ...emptyMessage(MessageType.HeartbeatResp, 1, 4, 3), context: 30 });
  rd = n.ready();
  t.same(rd.messages.filter((m) => m.type === MessageType.ReadIndexResp).map((m) => [m.to, m.index]), [[2, commit]]);
});

t.test('ReadIndex: a learner vouches for nothing', async (t) => {
  const { n, commit } = readyLeader([1, 2, 3]);
  n.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4, context: new Uint8Array(0) });
  let rd = n.ready();
  n.advance(rd);
  for (const from of [2, 3]) n.step({ ...emptyMessage(MessageType.AppResp, 1, from, 3), index: commit + 1 });
  rd = n.ready();
  n.advance(rd);
  t.same(n.status().confState.learners, [4]);
  n.step(readRequest(4, 40, 3));
  rd = n.ready();
  n.advance(rd);
  t.equal(rd.messages.filter((m) => m.type === MessageType.ReadIndexResp).length, 0);
  t.ok(rd.messages.some((m) => m.type === MessageType.Heartbeat && m.context === 40), 'a heartbeat round');
});

/** A follower's read request that also echoes the leader's read stamp `stamp`. */
function echoRequest(from: NodeId, context: number, logTerm: number, stamp: number): Message {
  return { ...readRequest(from, context, logTerm), index: stamp };
}

t.test('ReadIndex: an answer carries the read stamp; a follower keeps its leader\'s latest and echoes it, until its term changes', async (t) => {
  const { n } = readyLeader([1, 2, 3]);
  n.readIndex(50);
  n.advance(n.ready());
  n.step(readRequest(2, 51, 3));
  const rd = n.ready();
  n.advance(rd);
  t.same(
    rd.messages.filter((m) => m.type === MessageType.ReadIndexResp).map((m) => [m.context, m.commit]),
    [[51, 50]],
    'the stamp is the last read queued when the answer was sent',
  );

  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  const f = net.node([1, 2, 3].find((id) => id !== l.id)!);
  const term = l.status().term;
  net.sent.length = 0;
  f.readIndex(5);
  net.settle();
  t.equal(net.sent.find((m) => m.type === MessageType.ReadIndex)?.index, 0, 'no stamp yet: none echoed');
  f.step({ ...emptyMessage(MessageType.ReadIndexResp, f.id, l.id, term), index: 1, context: 5, commit: 77 });
  net.sent.length = 0;
  f.readIndex(6);
  net.settle();
  t.equal(net.sent.find((m) => m.type === MessageType.ReadIndex && m.context === 6)?.index, 77, "the next request echoes the leader's stamp");
  f.step({ ...emptyMessage(MessageType.ReadIndexResp, f.id, l.id + 10, term), index: 1, context: 6, commit: 99 });
  f.step({ ...emptyMessage(MessageType.ReadIndexResp, f.id, l.id, term), index: 1, context: 6, commit: 0 });
  net.sent.length = 0;
  f.readIndex(7);
  net.settle();
  t.equal(net.sent.find((m) => m.type === MessageType.ReadIndex && m.context === 7)?.index, 77, 'a stamp from another member, or an answer without one, changes nothing');
  f.step(emptyMessage(MessageType.Heartbeat, f.id, l.id, term + 1));
  net.sent.length = 0;
  f.readIndex(8);
  const asked = f.ready().messages.find((m) => m.type === MessageType.ReadIndex && m.context === 8);
  t.equal(asked?.logTerm, term + 1);
  t.equal(asked?.index, 0, 'a new term forgets the stamp');
});

t.test("ReadIndex: a follower's echo of a stamp confirms the leader's reads queued up to it, not those after", async (t) => {
  const { n, commit } = readyLeader([1, 2, 3]);
  n.readIndex(60);
  let rd = n.ready();
  n.advance(rd);
  t.equal(rd.messages.filter((m) => m.type === MessageType.Heartbeat && m.context === 60).length, 2, 'no follower reading yet: a heartbeat round');
  n.step(readRequest(2, 61, 3));
  rd = n.ready();
  n.advance(rd);
  t.same(rd.messages.filter((m) => m.type === MessageType.ReadIndexResp).map((m) => m.commit), [60], 'stamp 60 sent');
  // Read 62 begins after the stamp went out: the echo of 60 says nothing about it.
  n.readIndex(62);
  n.advance(n.ready());
  n.step(echoRequest(2, 63, 3, 60));
  rd = n.ready();
  n.advance(rd);
  t.same(rd.readStates, [{ index: commit, context: 60 }], 'read 60 confirmed by the echo, with no heartbeat answer');
  t.same(rd.messages.filter((m) => m.type === MessageType.ReadIndexResp).map((m) => [m.context, m.commit]), [[63, 62]], 'the answer stamps read 62');
  n.step(echoRequest(2, 64, 3, 62));
  rd = n.ready();
  n.advance(rd);
  t.same(rd.readStates, [{ index: commit, context: 62 }], 'and the next echo confirms it');
});

t.test('ReadIndex: an echo from a request not in our term confirms nothing', async (t) => {
  for (const logTerm of [0, 2]) {
    const { n } = readyLeader([1, 2, 3]);
    n.readIndex(70);
    n.advance(n.ready());
    n.step(readRequest(2, 71, 3));
    n.advance(n.ready());
    n.step(echoRequest(2, 72, logTerm, 70));
    const rd = n.ready();
    n.advance(rd);
    t.same(rd.readStates, [], `logTerm ${logTerm}: read 70 still waits`);
  }
});

t.test('ReadIndex: while followers read, the leader waits for their echo instead of a heartbeat round, and runs the round at the next tick', async (t) => {
  const { n, commit } = readyLeader([1, 2, 3]);
  n.step(readRequest(2, 80, 3));
  n.advance(n.ready());
  n.readIndex(81);
  let rd = n.ready();
  n.advance(rd);
  t.equal(rd.messages.filter((m) => m.type === MessageType.Heartbeat).length, 0, 'follower 2 reads: no heartbeat round for read 81');
  n.step(readRequest(2, 82, 3));
  rd = n.ready();
  n.advance(rd);
  t.same(rd.messages.filter((m) => m.type === MessageType.ReadIndexResp).map((m) => [m.context, m.commit]), [[82, 81]]);
  n.step(echoRequest(2, 83, 3, 81));
  rd = n.ready();
  n.advance(rd);
  t.same(rd.readStates, [{ index: commit, context: 81 }], 'confirmed by the echo');
  // Follower 2 stops reading: read 84 is deferred (its request came this tick), then runs its round at the tick.
  n.readIndex(84);
  rd = n.ready();
  n.advance(rd);
  t.equal(rd.messages.filter((m) => m.type === MessageType.Heartbeat).length, 0);
  n.readIndex(85);
  n.advance(n.ready());
  n.tick();
  rd = n.ready();
  n.advance(rd);
  t.equal(rd.messages.filter((m) => m.type === MessageType.Heartbeat && m.context === 85).length, 2, 'one round at the tick, for both reads');
  n.step({ ...emptyMessage(MessageType.HeartbeatResp, 1, 3, 3), context: 85 });
  rd = n.ready();
  t.same(rd.readStates, [{ index: commit, context: 84 }, { index: commit, context: 85 }]);
  n.advance(rd);
  // Two ticks after follower 2's last request it no longer counts as reading.
  n.tick();
  n.tick();
  n.advance(n.ready());
  n.readIndex(86);
  rd = n.ready();
  t.equal(rd.messages.filter((m) => m.type === MessageType.Heartbeat && m.context === 86).length, 2, 'no follower reading lately: the round at once');
});

t.test('ReadIndex: with five voters the leader waits for echoes only while two followers read, and needs both', async (t) => {
  const { n, commit } = readyLeader([1, 2, 3, 4, 5]);
  n.step(readRequest(2, 90, 3));
  n.advance(n.ready());
  n.readIndex(91);
  let rd = n.ready();
  n.advance(rd);
  t.equal(rd.messages.filter((m) => m.type === MessageType.Heartbeat && m.context === 91).length, 4, 'one follower reading is no quorum with us: a round at once');
  n.step({ ...emptyMessage(MessageType.HeartbeatResp, 1, 3, 3), context: 91 });
  n.step({ ...emptyMessage(MessageType.HeartbeatResp, 1, 4, 3), context: 91 });
  n.advance(n.ready());
  n.step(readRequest(3, 92, 3));
  n.advance(n.ready());
  n.readIndex(93);
  rd = n.ready();
  n.advance(rd);
  t.equal(rd.messages.filter((m) => m.type === MessageType.Heartbeat && m.context === 93).length, 0, 'two followers reading: wait for their echoes');
  n.step(readRequest(2, 94, 3));
  n.step(readRequest(3, 95, 3));
  n.advance(n.ready());
  n.step(echoRequest(2, 96, 3, 93));
  rd = n.ready();
  n.advance(rd);
  t.same(rd.readStates, [], 'one echo is not a quorum of five');
  n.step(echoRequest(3, 97, 3, 93));
  rd = n.ready();
  n.advance(rd);
  t.same(rd.readStates, [{ index: commit, context: 93 }], 'two echoes and the leader are');
});

t.test('a lagging follower catches up through a snapshot after compaction', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  const lagger = [1, 2, 3].find((id) => id !== l.id)!;
  net.isolate(lagger);
  for (let i = 0; i < 30; i++) l.propose([enc(`v${i}`)]);
  net.tick(2, [1, 2, 3].filter((id) => id !== lagger));
  const snapData = enc(JSON.stringify(net.appliedData(l.id)));
  const snap = l.compact(snapData, 5);
  t.ok(snap.meta.index >= 30);
  t.ok(l.status().firstIndex > 2, 'the log was compacted');
  net.heal();
  net.tick(5);
  const installed = net.disks.get(lagger)!.snapshot;
  t.ok(installed, 'the follower received a snapshot');
  t.same(JSON.parse(Buffer.from(installed!.data).toString()).length, 30);
  l.propose([enc('after')]);
  net.tick(2);
  t.same(net.appliedData(lagger).slice(-1), ['after'], 'and applies new entries after it');
  t.equal(net.node(lagger).status().commit, l.status().commit);
});

t.test('a restarted node keeps its log and hard state, and rejoins', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  l.propose([enc('a')]);
  net.tick(2);
  const f = [1, 2, 3].find((id) => id !== l.id)!;
  const term = net.node(f).status().term;
  net.start(f);
  t.equal(net.node(f).status().term, term);
  net.tick(2);
  t.same(net.appliedData(f), ['a'], 'committed entries are delivered again after a restart');
});

t.test('fast backtracking: a follower with a long divergent suffix is repaired in few round trips', async (t) => {
  const boot = bootstrapEntries([1, 2, 3]);
  const good = [...boot, normal(3, 4), normal(3, 5)];
  const bad = [...boot];
  for (let i = 4; i < 104; i++) bad.push(normal(2, i, `old${i}`));
  const net = new TestNet([1, 2, 3]);
  net.disks.set(1, { hardState: { term: 3, vote: 0, commit: 3 }, entries: good });
  net.disks.set(2, { hardState: { term: 3, vote: 0, commit: 3 }, entries: good.map((e) => ({ ...e })) });
  net.disks.set(3, { hardState: { term: 3, vote: 0, commit: 3 }, entries: bad });
  for (const id of [1, 2, 3]) net.start(id);
  net.sent.length = 0;
  net.filter = (m) => !(m.from === 3 && (m.type === MessageType.PreVote || m.type === MessageType.Vote));
  net.node(1).campaign();
  net.settle();
  t.equal(net.node(1).status().role, Role.Leader);
  net.tick(3);
  const rejects = net.sent.filter((m) => m.type === MessageType.AppResp && m.from === 3 && m.reject).length;
  t.ok(rejects <= 2, `${rejects} rejections for 100 divergent entries`);
  t.equal(net.node(3).status().lastIndex, net.node(1).status().lastIndex);
  t.same(net.node(3).entryAt(4), net.node(1).entryAt(4));
});

t.test('leadership transfer: catch the target up, then TimeoutNow', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  const target = [1, 2, 3].find((id) => id !== l.id)!;
  // Let the target fall behind first.
  net.isolate(target);
  l.propose([enc('a'), enc('b')]);
  net.settle();
  net.heal();
  const term = l.status().term;
  l.transferLeader(target);
  net.settle();
  t.equal(net.node(target).status().role, Role.Leader, 'the target leads without any election timeout');
  t.equal(net.node(target).status().term, term + 1);
  t.equal(l.status().role, Role.Follower);
  t.ok(net.sent.some((m) => m.type === MessageType.TimeoutNow && m.to === target));
});

t.test('a transfer in progress makes the leader refuse proposals', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  const target = [1, 2, 3].find((id) => id !== l.id)!;
  net.filter = () => false;
  l.transferLeader(target);
  t.throws(() => l.propose([enc('x')]), ProposalDroppedError);
  net.heal();
});

t.test('a forwarded proposal that is dropped is refused back to its proposer (PropDropped)', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  const [target, proposer] = [1, 2, 3].filter((id) => id !== l.id) as [number, number];
  const lastBefore = l.status().lastIndex;
  // The target never hears the TimeoutNow: the transfer stays in progress (for an election timeout).
  net.isolate(target);
  l.transferLeader(target);
  net.settle();
  net.sent.length = 0;
  net.node(proposer).propose([enc('during-transfer')]);
  net.settle();
  const back = net.sent.filter((m) => m.type === MessageType.PropDropped);
  t.equal(back.length, 1, 'the transferring leader answers the forwarded proposal');
  t.equal(back[0]!.to, proposer);
  t.equal(back[0]!.from, l.id);
  t.equal(back[0]!.term, 0, 'termless, like the proposal it answers');
  t.same(back[0]!.entries.map((e) => Buffer.from(e.data).toString()), ['during-transfer'], 'with the entries it did not append');
  t.equal(l.status().lastIndex, lastBefore, 'nothing was appended');
  const before = net.node(proposer).status();
  net.node(proposer).step(back[0]!);
  t.same(net.node(proposer).status(), before, 'the core ignores the answer: the runtime resends');
  net.heal();

  // A candidate and a follower that knows no leader answer the same way.
  const solo = new TestNet([1, 2, 3]);
  const cand = solo.node(1);
  solo.filter = () => false;
  solo.tick(30, [1]);
  t.not(cand.status().role, Role.Follower, 'node 1 campaigns');
  solo.sent.length = 0;
  cand.step({ ...emptyMessage(MessageType.Prop, 1, 2, 0), entries: [normal(0, 0, 'to-candidate')] });
  solo.node(3).step({ ...emptyMessage(MessageType.Prop, 3, 2, 0), entries: [normal(0, 0, 'to-follower')] });
  solo.settle();
  const refused = solo.sent.filter((m) => m.type === MessageType.PropDropped);
  t.same(
    refused.map((m) => [m.from, m.to, Buffer.from(m.entries[0]!.data).toString()]),
    [[1, 2, 'to-candidate'], [3, 2, 'to-follower']],
  );
  solo.sent.length = 0;
  const cc: Entry = { term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 3, context: new Uint8Array(0) }) };
  solo.node(3).step({ ...emptyMessage(MessageType.Prop, 3, 2, 0), entries: [cc] });
  solo.node(3).step({ ...emptyMessage(MessageType.Prop, 3, 3, 0), entries: [normal(0, 0, 'own')] });
  solo.settle();
  t.equal(solo.sent.filter((m) => m.type === MessageType.PropDropped).length, 0, 'membership changes and its own proposals are not answered');
});

t.test('membership: add a learner, promote it, remove the leader', async (t) => {
  const net = new TestNet([1, 2, 3]);
  let l = net.elect();
  l.propose([enc('before')]);
  net.tick(2);
  net.addEmpty(4);
  l.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4, context: new Uint8Array() });
  net.tick(3);
  t.same(net.appliedData(4), ['before'], 'the learner received the log');
  t.throws(
    () => l.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4, context: new Uint8Array() }),
    /already a learner/,
  );
  l.proposeConfChange({ type: ConfChangeType.AddVoter, nodeId: 4, context: new Uint8Array() });
  net.tick(3);
  t.same(l.status().confState.voters, [1, 2, 3, 4]);
  t.same(net.node(4).status().confState.voters, [1, 2, 3, 4], 'the promoted node knows');
  const oldId = l.id;
  l.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: oldId, context: new Uint8Array() });
  net.settle();
  t.not(l.status().role, Role.Leader, 'the removed leader stepped down once the change committed');
  let fresh: RaftCore | undefined;
  for (let i = 0; i < 3 * ELECTION && !fresh; i++) {
    fresh = [...net.nodes.values()].find((n) => n.id !== oldId && n.status().role === Role.Leader);
    if (!fresh) net.tick();
  }
  t.ok(fresh, 'a remaining voter leads');
  l = fresh!;
  l.propose([enc('after')]);
  net.tick(3);
  for (const id of [1, 2, 3, 4].filter((id) => id !== oldId)) t.same(net.appliedData(id).slice(-1), ['after']);
  // The removed node stays quiet: it never campaigns.
  const termAfter = l.status().term;
  net.tick(10 * ELECTION);
  t.equal(l.status().term, termAfter, 'no disruption from the removed node');
});

t.test('one membership change at a time', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  net.tick(2);
  net.filter = () => false;
  l.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4, context: new Uint8Array() });
  t.throws(
    () => l.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 5, context: new Uint8Array() }),
    /already in progress/,
  );
  net.heal();
});

t.test('a membership entry truncated away reverts the configuration', async (t) => {
  const boot = bootstrapEntries([1, 2, 3]);
  const cc: Entry = {
    term: 2,
    index: 4,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddVoter, nodeId: 9, context: new Uint8Array() }),
  };
  const n = new RaftCore(
    { id: 3, electionTick: ELECTION, heartbeatTick: 1, random: seeded(5) },
    { hardState: { term: 2, vote: 0, commit: 3 }, entries: [...boot, cc], applied: 3 },
  );
  t.same(n.status().confState.voters, [1, 2, 3, 9], 'an uncommitted membership entry is in force');
  const m: Message = {
    ...emptyMessage(MessageType.App, 3, 1, 3),
    index: 3,
    logTerm: 1,
    entries: [normal(3, 4)],
    commit: 3,
  };
  n.step(m);
  t.same(n.status().confState.voters, [1, 2, 3], 'reverted when the entry was replaced');
});

t.test('duplicated and reordered messages are harmless', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  const f = [1, 2, 3].find((id) => id !== l.id)!;
  const captured: Message[] = [];
  net.filter = (m) => {
    if (m.to === f && m.type === MessageType.App) captured.push(m);
    return true;
  };
  for (let i = 0; i < 5; i++) {
    l.propose([enc(`p${i}`)]);
    net.settle();
  }
  for (const m of [...captured].reverse()) net.node(f).step(m);
  net.tick(3);
  t.same(net.appliedData(f), ['p0', 'p1', 'p2', 'p3', 'p4']);
});

t.test('the core rejects inconsistent configuration', async (t) => {
  t.throws(() => new RaftCore({ id: 0, electionTick: 10, heartbeatTick: 1, random: Math.random }, { hardState: { term: 0, vote: 0, commit: 0 }, entries: [], applied: 0 }));
  t.throws(() => new RaftCore({ id: 1, electionTick: 1, heartbeatTick: 1, random: Math.random }, { hardState: { term: 0, vote: 0, commit: 0 }, entries: [], applied: 0 }));
  t.throws(
    () =>
      new RaftCore(
        { id: 1, electionTick: 10, heartbeatTick: 1, random: Math.random },
        { hardState: { term: 0, vote: 0, commit: 0 }, entries: [normal(1, 1), normal(1, 3)], applied: 0 },
      ),
    /gap/,
  );
});

void (null as unknown as NodeId);
