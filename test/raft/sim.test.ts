// The deterministic simulator: the Raft core survives hundreds of seeded fault schedules, the
// checker fails when it must (crafted violations), runs replay exactly, and the deliberate core
// bugs are caught.
import t from 'tap';
import { Checker, runOne, runSeeds, summaryLines, type BugName } from '../../src/raft/sim/index.js';
import { ascii } from '../../src/raft/sim/payload.js';
import { encodeConfChange } from '../../src/raft/confchange.js';
import { ConfChangeType, EntryType, MessageType, emptyMessage, type Entry } from '../../src/raft/types.js';

const SEEDS = 1000;
/** Seeds allowed for the simulator to find each read bug (measured: see the test). */
const LATER_READS_SEEDS = 2000;

function entry(index: number, term: number, payload: string): Entry {
  return { index, term, type: EntryType.Normal, data: ascii(payload) };
}

function logOf(entries: Entry[]) {
  return {
    firstIndex: 1,
    lastIndex: entries.length,
    termAt: (i: number) => entries[i - 1]?.term,
  };
}

t.test('the checker accepts a correct history', async (t) => {
  const c = new Checker();
  const log = [entry(1, 1, 'p1'), entry(2, 2, ''), entry(3, 2, 'p2')];
  c.persisted(1, 0, log);
  c.persisted(2, 0, log.slice(0, 2));
  c.hardStatePersisted(1, { term: 2, vote: 1, commit: 3 }, 3, 2);
  c.becameLeader(1, 2, logOf(log));
  c.commitKnown(1, 0, 3, (i) => log[i - 1]);
  c.started(1, 0);
  c.started(2, 0);
  for (const e of log) c.applied(1, e);
  for (const e of log) c.applied(2, e);
  c.readRequested(2, 7);
  c.readState(2, { index: 3, context: 7 });
  c.becameLeader(2, 3, logOf(log));
  t.same(c.violations, []);
});

t.test('leader completeness binds the leaders of later terms only', async (t) => {
  // Entries 2-3 are committed in term 3. A candidate of term 2 whose votes were held up by a slow
  // link may still win term 2 afterwards without them (Raft allows it: it can commit nothing, the
  // majority being in term 3); a leader of term 4 without them loses committed entries.
  const committed = [entry(1, 1, 'p1'), entry(2, 3, ''), entry(3, 3, 'p2')];
  const stale = logOf([entry(1, 1, 'p1'), entry(2, 2, '')]);
  const c = new Checker();
  c.commitKnown(2, 0, 3, (i) => committed[i - 1], 3);
  c.becameLeader(1, 2, stale);
  t.same(c.violations, [], 'the late leader of term 2');
  c.becameLeader(1, 4, stale);
  t.match(c.violations[0], /leader completeness: node 1 became leader of term 4 with an entry of term 2 at index 2/);
  // A member that reports the decision in a later term does not move it: the lowest term counts.
  const d = new Checker();
  d.commitKnown(2, 0, 3, (i) => committed[i - 1], 3);
  d.commitKnown(3, 0, 3, (i) => committed[i - 1], 5);
  d.becameLeader(1, 4, stale);
  t.match(d.violations[0], /leader completeness/);
});

t.test('the checker catches two leaders in one term', async (t) => {
  const c = new Checker();
  c.becameLeader(1, 4, logOf([]));
  c.becameLeader(2, 4, logOf([]));
  t.match(c.violations[0], /election safety: nodes 1 and 2 were both leader of term 4/);

  // Leaders also betray themselves by what they send, even between two Readies.
  const d = new Checker();
  const disk = { hardState: { term: 5, vote: 0, commit: 0 }, lastIndex: 0 };
  d.messageSent(1, emptyMessage(MessageType.Heartbeat, 2, 1, 5), disk);
  d.messageSent(3, emptyMessage(MessageType.App, 2, 3, 5), disk);
  t.match(d.violations[0], /election safety: nodes 1 and 3 both acted as leader of term 5/);
});

t.test('the checker catches a node voting twice in a term, or voting before persisting', async (t) => {
  const c = new Checker();
  c.hardStatePersisted(1, { term: 3, vote: 2, commit: 0 }, 0, 0);
  c.hardStatePersisted(1, { term: 3, vote: 3, commit: 0 }, 0, 0);
  t.match(c.violations[0], /voted for 2 and then 3 in term 3/);

  const d = new Checker();
  d.messageSent(1, emptyMessage(MessageType.VoteResp, 2, 1, 4), { hardState: { term: 3, vote: 0, commit: 0 }, lastIndex: 0 });
  t.match(d.violations[0], /granted its vote in term 4 to node 2 before persisting it/);
});

t.test('the checker catches divergent applied entries', async (t) => {
  const c = new Checker();
  c.started(1, 0);
  c.started(2, 0);
  c.applied(1, entry(1, 1, 'p1'));
  c.applied(2, entry(1, 1, 'p9'));
  t.match(c.violations[0], /state machine safety: node 2 applied 1:p9 at index 1 but node 1 applied 1:p1 there/);
});

t.test('the checker catches a lost committed entry', async (t) => {
  // Node 1 committed index 3; node 2 then leads without it.
  const c = new Checker();
  const committed = [entry(1, 1, 'p1'), entry(2, 1, 'p2'), entry(3, 2, 'p3')];
  c.commitKnown(1, 0, 3, (i) => committed[i - 1]);
  c.becameLeader(2, 3, logOf([entry(1, 1, 'p1'), entry(2, 1, 'p2'), entry(3, 3, '')]));
  t.match(c.violations[0], /leader completeness: node 2 became leader of term 3 with an entry of term 3 at index 3 .* a committed entry is lost/);

  // A node that applied index 3 later applies something else there after a restart.
  const d = new Checker();
  d.started(1, 0);
  for (const e of committed) d.applied(1, e);
  d.started(1, 2); // restarted with a state machine at 2
  d.applied(1, entry(3, 4, 'p7'));
  t.match(d.violations[0], /state machine safety: node 1 applied 4:p7 at index 3 but node 1 applied 2:p3 there/);
});

t.test('the checker catches broken log matching', async (t) => {
  const c = new Checker();
  c.persisted(1, 0, [entry(1, 1, 'p1'), entry(2, 2, 'p2')]);
  c.persisted(2, 0, [entry(1, 1, 'p1'), entry(2, 2, 'p3')]);
  t.match(c.violations[0], /log matching: node 2 persisted 2:p3 at index 2 but node 1 persisted 2:p2 there in the same term/);

  // Same (index, term), different histories before it.
  const d = new Checker();
  d.persisted(1, 0, [entry(1, 1, 'p1'), entry(2, 3, 'p2')]);
  d.persisted(2, 0, [entry(1, 2, 'p5'), entry(2, 3, 'p2')]);
  t.match(d.violations[0], /log matching: entry 3:p2 at index 2 follows an entry of term 2 on node 2 but one of term 1 on node 1/);
});

t.test('the checker catches applied indexes going backwards and stale reads', async (t) => {
  const c = new Checker();
  c.started(1, 0);
  c.applied(1, entry(1, 1, 'p1'));
  c.applied(1, entry(1, 1, 'p1'));
  t.match(c.violations[0], /applied index went backwards: node 1 applied index 1 after 1/);

  const d = new Checker();
  const log = [entry(1, 1, 'p1'), entry(2, 1, 'p2')];
  d.commitKnown(1, 0, 2, (i) => log[i - 1]);
  d.readRequested(3, 42);
  d.readState(3, { index: 1, context: 42 });
  t.match(d.violations[0], /read index: request 42 on node 3 may be served at index 1, but index 2 was already committed/);
});

t.test('the checker catches a snapshot whose membership disagrees with the log', async (t) => {
  const c = new Checker();
  const boot: Entry[] = [1, 2, 3].map((id, i) => ({
    index: i + 1,
    term: 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddVoter, nodeId: id, context: new Uint8Array(0) }),
  }));
  c.commitKnown(1, 0, 3, (i) => boot[i - 1]);
  c.snapshotConf(1, { meta: { index: 3, term: 1, confState: { voters: [1, 2], learners: [] } }, data: new Uint8Array(0) });
  t.match(c.violations[0], /voters \[1,2\] learners \[\] but the log gives voters \[1,2,3\]/);
});

t.test(`${SEEDS} seeds of 3- and 5-node clusters under faults: no violation`, async (t) => {
  const lines: string[] = [];
  const summary = await runSeeds({ seeds: SEEDS, first: 1, out: (l) => lines.push(l) });
  t.equal(summary.violations, 0, lines.join('\n'));
  const s = summary.stats;
  // The faults the issue asks for did happen, and the features under test were exercised.
  for (const k of ['elections', 'crashes', 'readyCrashes', 'partitions', 'stalls', 'snapshotsSent', 'compactions', 'readsServed', 'leaderRemovals', 'transfers', 'retired'] as const) {
    t.ok(s[k] > 0, `${k}: ${s[k]}`);
  }
  t.equal(summaryLines(summary, false).at(-1), `seeds: ${SEEDS}, violations: 0`);
});

t.test('a seed replays exactly', async (t) => {
  const a = runOne(12345, { steps: 1500, trace: 50 });
  const b = runOne(12345, { steps: 1500, trace: 50 });
  t.same(a, b);
  const c = runOne(12346, { steps: 1500 });
  t.not(c.stats.delivered, a.stats.delivered);
});

t.test('worker threads give the same results', async (t) => {
  const one = await runSeeds({ seeds: 6, first: 100, out: () => {} });
  const two = await runSeeds({ seeds: 6, first: 100, jobs: 2, out: () => {} });
  t.same(two.stats, one.stats);
});

/** Runs seeds from 1 until one fails (at most `limit`); returns the failing seed's outcome. */
async function firstFailure(bug: BugName, limit: number, nodes?: number) {
  for (let seed = 1; seed <= limit; seed++) {
    const o = runOne(seed, { bugs: [bug], nodes });
    if (o.violation) return o;
  }
  return undefined;
}

t.test('the simulator catches deliberately broken cores', async (t) => {
  const shorter = await firstFailure('grantVoteToShorterLog', 50);
  t.match(shorter?.violation, /leader completeness|state machine safety|log matching/, 'a vote for a shorter log loses a committed entry');
  const lease = await firstFailure('skipPreVoteLeaseCheck', 50);
  t.match(lease?.violation, /stability/, 'ignoring the leader lease lets a cut-off member depose a healthy leader');
  // Figure 8 needs a rare interleaving: allow a few thousand 3-node seeds.
  const fig8 = await firstFailure('commitOldTermByCounting', 4000, 3);
  t.match(fig8?.violation, /leader completeness|state machine safety/, `committing an old-term entry by counting replicas loses it (seed ${fig8?.seed})`);
  // Needs answers of an old term to reach a deposed leader after a new one committed: a stalled
  // link. Each read bug is found first at seed 128 of the first 2,000 (a read storm), and again later.
  const reads = await firstFailure('confirmLaterReads', LATER_READS_SEEDS);
  t.match(reads?.violation, /a stale read/, `a heartbeat round that confirms reads arriving after it serves a stale read (seed ${reads?.seed})`);
  // A follower's read request vouches only for reads that began before it was sent.
  const vouch = await firstFailure('vouchForEarlierReads', LATER_READS_SEEDS);
  t.match(vouch?.violation, /a stale read/, `a follower's request that confirms reads queued before it serves a stale read (seed ${vouch?.seed})`);
  // A follower's echo of the leader's read stamp confirms only the leader's reads queued before the
  // stamp was sent.
  const echo = await firstFailure('echoConfirmsLaterReads', LATER_READS_SEEDS);
  t.match(echo?.violation, /a stale read/, `an echoed stamp that confirms reads queued after it serves a stale read (seed ${echo?.seed})`);
});
