// The Raft runtime with real storage and real loopback sockets, members in this process.
import t, { type Test } from 'tap';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { anyEvent, LocalCluster, untilApplied } from './cluster.js';
import { defaultRequestTimeoutMs } from '../../src/raft/node/index.js';
import { unwrapSnapshot } from '../../src/raft/node/members.js';
import type { AppliedEntry } from '../../src/raft/node/state-machine.js';
import type { DurableListStateMachine } from '../../src/raft/testing/durable-list-state-machine.js';
import { ConfChangeType, MessageType } from '../../src/raft/types.js';

t.test('3 members elect, replicate and apply the same sequence; proposals are batched', async (t) => {
  const c = await LocalCluster.start(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const follower = [...c.members.values()].find((m) => m !== leader)!;
  const n = 300;
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => (i % 3 === 0 ? follower : leader).node.propose(Buffer.from(`v${i}`))),
  );
  t.equal(results.length, n, 'every proposal was acknowledged');
  for (const m of c.members.values()) await untilApplied(m.node, () => m.sm.items.length === n);
  const seq = leader.sm.items;
  for (const m of c.members.values()) t.same(m.sm.items, seq, `${m.info.name} applied the same sequence`);
  t.same([...seq].sort(), Array.from({ length: n }, (_, i) => `v${i}`).sort());
  const st = leader.node.status();
  t.ok(st.fsyncs < n / 2, `leader: ${st.fsyncs} fsyncs for ${n} proposals (batch sizes up to ${Math.max(...st.recentBatchSizes)})`);
});

t.test('5 members replicate and apply the same sequence', async (t) => {
  const c = await LocalCluster.start(5);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const n = 100;
  await Promise.all(Array.from({ length: n }, (_, i) => leader.node.propose(Buffer.from(`x${i}`))));
  for (const m of c.members.values()) await untilApplied(m.node, () => m.sm.items.length === n);
  for (const m of c.members.values()) t.same(m.sm.items, leader.sm.items, `${m.info.name}`);
});

t.test('restarting every member from disk keeps every acknowledged proposal', async (t) => {
  const c = await LocalCluster.start(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const acked: string[] = [];
  await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      await leader.node.propose(Buffer.from(`k${i}`));
      acked.push(`k${i}`);
    }),
  );
  for (const id of [1, 2, 3]) await c.stopMember(id);
  for (const id of [1, 2, 3]) await c.startMember(id);
  const l2 = await c.leader();
  await l2.node.propose(Buffer.from('after-restart'));
  for (const m of c.members.values()) {
    await untilApplied(m.node, () => m.sm.items.includes('after-restart'));
    t.same(acked.filter((v) => !m.sm.items.includes(v)), [], `${m.info.name} kept every acknowledged proposal`);
  }
  t.equal(acked.length, 50);
});

/**
 * Three members (snapshots every 50 entries, chunks of 512 bytes); a follower is stopped while
 * `n` proposals commit, and the leader has taken its first snapshot when this resolves.
 */
async function withMemberBehind(t: Test, durable: boolean) {
  const c = await LocalCluster.start(3, { snapshotCount: 50, snapshotCatchUpEntries: 10, snapshotChunkBytes: 512 }, durable);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const down = [...c.members.values()].find((m) => m !== leader)!;
  await c.stopMember(down.info.id);
  const n = 200;
  for (let i = 0; i < n; i += 20) {
    await Promise.all(Array.from({ length: 20 }, (_, j) => leader.node.propose(Buffer.from(`s${i + j}-${'x'.repeat(40)}`))));
  }
  // Snapshots are saved beside the loop: the first may still be on its way.
  if (leader.node.status().snapshotIndex === 0) await new Promise((r) => leader.node.once('snapshot', r));
  return { c, leader, down, n };
}

t.test('a member down while more than the snapshot interval commits catches up through a chunked snapshot', async (t) => {
  const { c, leader, down, n } = await withMemberBehind(t, false);
  t.ok(leader.node.status().snapshotIndex > 0, `the leader took a snapshot at ${leader.node.status().snapshotIndex}`);
  t.ok(leader.node.status().firstIndex > 20, 'and compacted its log');
  const back = await c.startMember(down.info.id);
  await untilApplied(back.node, () => back.sm.items.length === n);
  t.same(back.sm.items, leader.sm.items, 'the returning member has the same sequence');
  t.ok(back.node.status().snapshotIndex > 0, 'it installed a snapshot');
  const stats = leader.node['transport'].stats().get(back.info.id)!;
  t.ok(stats.framesSent > 3, `the snapshot went in chunks (frames sent to it: ${stats.framesSent})`);
});

t.test('a snapshot being read holds no write, and is saved at the index it was taken at', async (t) => {
  const c = await LocalCluster.start(1, { snapshotCount: 20, snapshotCatchUpEntries: 5 });
  let release!: () => void;
  t.teardown(async () => {
    release?.();
    await c.close();
  });
  const m = await c.leader();
  m.sm.snapshotGate = new Promise((r) => (release = r));
  const propose = (from: number, n: number) => Promise.all(Array.from({ length: n }, (_, i) => m.node.propose(Buffer.from(`v${from + i}`))));
  for (let i = 0; i < 30; i += 5) await propose(i, 5);
  // The snapshot due at 20 entries is being read (the gate holds it): writes go on meanwhile.
  await propose(30, 30);
  t.equal(m.sm.items.length, 60, 'sixty writes applied while the snapshot was held');
  t.equal(m.node.status().snapshotIndex, 0, 'not saved yet');
  const saved = new Promise<number>((r) => m.node.once('snapshot', r));
  release();
  const index = await saved;
  t.ok(index >= 20 && index < 40, `saved at ${index}, where it was taken`);
  t.equal(m.node.status().snapshotIndex, index);
  // A restart restores that snapshot and replays the log after it: had the data been of another
  // index than the one it is saved under, an item would be lost or applied twice.
  m.sm.snapshotGate = undefined;
  await c.stopMember(m.info.id);
  const back = await c.startMember(m.info.id);
  await untilApplied(back.node, () => back.sm.items.length >= 60);
  t.same(back.sm.items, Array.from({ length: 60 }, (_, i) => `v${i}`), 'the same sixty items, once each');
});

t.test('a state machine that keeps its state: snapshots hold none; a returning member gets the whole state at the leader\'s applied index', async (t) => {
  const { c, leader, down, n } = await withMemberBehind(t, true);
  const lsm = leader.sm as DurableListStateMachine;
  const snapIndex = leader.node.status().snapshotIndex;
  t.ok(snapIndex > 0 && leader.node.status().firstIndex > 20, `the leader compacted its log behind a snapshot at ${snapIndex}`);
  t.ok(lsm.persistCalls > 0, `the state machine was synced before (${lsm.persistCalls} times)`);
  t.equal(lsm.snapshotCalls, 0, 'and never serialized for it');
  const saved = unwrapSnapshot(leader.node['core']['log'].snapshot!.data);
  t.equal(saved.app.length, 0, 'the log\'s snapshot holds no state');
  t.same(saved.members.map((m) => m.id).sort(), [1, 2, 3], 'only the member table');
  // Further proposals move the leader's applied index past its snapshot: the returning member
  // must get the state at that index, then the entries after it, each once.
  for (let i = n; i < n + 20; i++) await leader.node.propose(Buffer.from(`s${i}`));
  const back = await c.startMember(down.info.id);
  await untilApplied(back.node, () => back.sm.items.length === n + 20);
  t.same(back.sm.items, leader.sm.items, 'the returning member has the same sequence, each item once');
  t.equal(lsm.snapshotCalls, 1, 'the leader serialized its state once, for the follower');
  t.ok(back.node.status().snapshotIndex > snapIndex, `it installed a snapshot at ${back.node.status().snapshotIndex}, past the leader\'s log snapshot at ${snapIndex}`);
  const stats = leader.node['transport'].stats().get(back.info.id)!;
  t.ok(stats.framesSent > 3, `the snapshot went in chunks (frames sent to it: ${stats.framesSent})`);
  // It restarts from its own file and the log after the installed snapshot.
  await c.stopMember(back.info.id);
  const again = await c.startMember(back.info.id);
  await leader.node.propose(Buffer.from('last'));
  await untilApplied(again.node, () => again.sm.items.includes('last'));
  t.same(again.sm.items, leader.sm.items, 'the same after a restart');
});

t.test('a state machine that keeps its state: a restart after a stateless snapshot; one that lost its state refuses to start', async (t) => {
  const c = await LocalCluster.start(1, { snapshotCount: 20, snapshotCatchUpEntries: 5 }, true);
  t.teardown(() => c.close());
  const m = await c.leader();
  const saved = new Promise<number>((r) => m.node.once('snapshot', r));
  for (let i = 0; i < 60; i += 5) await Promise.all(Array.from({ length: 5 }, (_, j) => m.node.propose(Buffer.from(`v${i + j}`))));
  const index = await saved;
  t.ok(index >= 20, `a snapshot at ${index}`);
  await c.stopMember(m.info.id);
  const back = await c.startMember(m.info.id);
  await untilApplied(back.node, () => back.sm.items.length >= 60);
  t.same(back.sm.items, Array.from({ length: 60 }, (_, i) => `v${i}`), 'the same sixty items, once each');
  await c.stopMember(m.info.id);
  await rm(join(m.dir, 'list.json'));
  await t.rejects(c.startMember(m.info.id), { code: 'StateBehindSnapshot', message: /state machine is at index 0 but the log was compacted up to its snapshot/ });
});

t.test('membership: add a learner, promote it, remove a member', async (t) => {
  const c = await LocalCluster.start(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  await leader.node.propose(Buffer.from('one'));
  const spec4 = (await (await import('./cluster.js')).clusterSpec(1))[0]!;
  const info4 = { ...spec4, id: 4, name: 'm4' };
  c.spec.push(info4);
  await leader.node.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4, member: info4 });
  const m4 = await c.startMember(4);
  await untilApplied(m4.node, () => m4.sm.items.includes('one'));
  await leader.node.proposeConfChange({ type: ConfChangeType.AddVoter, nodeId: 4 });
  t.same(leader.node.status().confState.voters, [1, 2, 3, 4]);
  t.same(
    leader.node.members().map((m) => m.name).sort(),
    ['m1', 'm2', 'm3', 'm4'],
    'the member table names every member',
  );
  const victim = [...c.members.values()].find((m) => m !== leader && m !== m4)!;
  await leader.node.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: victim.info.id });
  await leader.node.propose(Buffer.from('two'));
  await untilApplied(m4.node, () => m4.sm.items.includes('two'));
  t.notOk(leader.node.status().confState.voters.includes(victim.info.id));
});

t.test('graceful stop of the leader hands leadership over first', async (t) => {
  const c = await LocalCluster.start(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const term = leader.node.status().term;
  await leader.node.stop({ transfer: true });
  const others = c.running();
  const next = others.find((m) => m.node.isLeader());
  t.ok(next, 'a new leader was in place when stop() returned');
  t.equal(next!.node.status().term, term + 1, 'by transfer, in the next term');
});

t.test('proposals made while the leader transfers leadership are sent again, not left to time out', async (t) => {
  // Before: a follower's forwarded proposal that the transferring leader dropped waited for its
  // deadline (the client saw a timeout, outcome unknown), and the leader's own failed at once.
  const c = await LocalCluster.start(3, { requestTimeoutMs: 4000 });
  t.teardown(() => c.close());
  const leader = await c.leader();
  await leader.node.propose(Buffer.from('before'));
  const [target, proposer] = [...c.members.values()].filter((m) => m !== leader);
  await untilApplied(target!.node, () => target!.sm.items.includes('before'));
  // The target is down: the transfer stays in progress until it is abandoned after an election
  // timeout (500 ms here), and every proposal meanwhile is dropped by the leader.
  await c.stopMember(target!.info.id);
  const transfer = leader.node.transferLeadership(target!.info.id).catch((err: Error) => err);
  t.equal(leader.node.status().leadTransferee, target!.info.id, 'the transfer is in progress');
  const started = performance.now();
  const results = await Promise.allSettled([proposer!.node.propose(Buffer.from('via-follower')), leader.node.propose(Buffer.from('on-leader'))]);
  const ms = performance.now() - started;
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled'], 'both proposals were applied');
  t.ok(ms < 4000, `within the transfer's time, not the request deadline (${ms.toFixed(0)} ms)`);
  t.match(await transfer, { message: /not met/ }, 'the transfer to the stopped member was abandoned');
  for (const m of [leader, proposer!]) {
    await untilApplied(m.node, () => m.sm.items.includes('via-follower') && m.sm.items.includes('on-leader'));
    t.same(
      m.sm.items.filter((v) => v === 'via-follower' || v === 'on-leader').sort(),
      ['on-leader', 'via-follower'],
      `${m.info.name} applied each once`,
    );
  }
  t.equal(leader.node.status().pendingProposals, 0);
});

t.test('without a leader a proposal waits for one, then fails with "no leader"; a stopped node rejects', async (t) => {
  const c = await LocalCluster.start(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const f = [...c.members.values()].find((m) => m !== leader)!;
  for (const m of c.members.values()) if (m !== f) await c.stopMember(m.info.id);
  // The follower loses its leader (connection drop) and finds no quorum.
  await untilLeaderless(f);
  await t.rejects(f.node.propose(Buffer.from('x'), { timeoutMs: 300 }), { code: 'ProposalDropped', message: /no leader/ });
  await c.stopMember(f.info.id);
  await t.rejects(f.node.propose(Buffer.from('x')), { code: 'Stopped' });
});

/** Resolves once `ok` holds, re-checked on every leader change of `ms`. */
async function untilLeaders(ms: { node: import('../../src/raft/node/index.js').RaftNode }[], ok: () => boolean): Promise<void> {
  if (ok()) return;
  await new Promise<void>((resolve) => {
    const on = () => {
      if (!ok()) return;
      for (const m of ms) m.node.off('leader-change', on);
      resolve();
    };
    for (const m of ms) m.node.on('leader-change', on);
  });
}

function untilLeaderless(m: { node: import('../../src/raft/node/index.js').RaftNode }): Promise<void> {
  return untilLeaders([m], () => m.node.leaderId() === 0);
}

t.test('reads share one round at a time; a round lost on the way is retried, not left to time out', async (t) => {
  const c = await LocalCluster.start(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const follower = [...c.members.values()].find((m) => m !== leader)!;
  await leader.node.propose(Buffer.from('w1'));
  // The leader loses the follower's first ReadIndex request (as if it went to a leader that died).
  const core = (leader.node as unknown as { core: { step(m: { type: number; from: number }): void } }).core;
  const step = core.step.bind(core);
  let dropped = 0;
  core.step = (m) => {
    if (m.type === MessageType.ReadIndex && m.from === follower.info.id && dropped === 0) {
      dropped++;
      return;
    }
    step(m);
  };
  const started = performance.now();
  // Ten reads at once: the first starts a round, the others wait for it and then share one.
  const reads = Array.from({ length: 10 }, () => follower.node.readIndex({ timeoutMs: 4000 }));
  const indexes = await Promise.all(reads);
  const ms = performance.now() - started;
  t.equal(dropped, 1, 'the first round was lost');
  t.ok(indexes.every((i) => i >= 1), `every read got an index (${indexes.join(', ')})`);
  t.ok(ms < 3000, `answered after ${Math.round(ms)} ms (a retry after five heartbeats), not at the 4 s deadline`);
  const sent = (follower.node as unknown as { readSeq: number }).readSeq;
  // One lost round, one retry that took every reader (reads that arrived while the first was in
  // flight did not start rounds of their own).
  const more = await follower.node.readIndex();
  t.ok(more >= indexes[0]!, 'a later read gets a later (or equal) index');
  t.equal((follower.node as unknown as { readSeq: number }).readSeq - sent, 1, 'the later read took one round');
});

t.test('a proposal whose log entry a newer leader replaced is sent again at once, not left to its deadline', async (t) => {
  // The old leader is cut off (as by SIGSTOP): it appends a proposal that reaches nobody, the
  // others elect a leader and commit at that index. When it hears them again its entry there is
  // replaced, so that copy can never be applied: the member proposes it again, to the new leader.
  // Before: it waited for its deadline (the client saw a timeout, outcome unknown).
  const c = await LocalCluster.start(3, { requestTimeoutMs: 20000 });
  t.teardown(() => c.close());
  const old = await c.leader();
  await old.node.propose(Buffer.from('before'));
  const others = [...c.members.values()].filter((m) => m !== old);
  let cut = true;
  const deafTo = (m: typeof old, from: (id: number) => boolean) => {
    const core = (m.node as unknown as { core: { step(msg: { from: number }): void } }).core;
    const step = core.step.bind(core);
    core.step = (msg) => {
      if (cut && from(msg.from)) return;
      step(msg);
    };
  };
  deafTo(old, (id) => id !== old.info.id);
  for (const m of others) deafTo(m, (id) => id === old.info.id);
  const lostIndex = old.node.status().lastIndex + 1;
  const started = performance.now();
  const lost = old.node.propose(Buffer.from('lost'));
  // The other two elect one of them and commit past the old leader's entry.
  await untilLeaders(others, () => others.some((m) => m.node.isLeader()) && others.every((m) => ![0, old.info.id].includes(m.node.leaderId())));
  const leader = others.find((m) => m.node.isLeader())!;
  await leader.node.propose(Buffer.from('won'));
  t.ok(leader.node.status().commit >= lostIndex, 'the new leader committed at the index of the lost entry');
  t.notOk(leader.sm.items.includes('lost'), 'the new leader never had the entry');
  cut = false;
  await lost;
  const ms = performance.now() - started;
  t.ok(ms < 10000, `applied after ${Math.round(ms)} ms, not at the 20 s deadline`);
  for (const m of c.members.values()) {
    await untilApplied(m.node, () => m.sm.items.includes('lost'));
    t.equal(m.sm.items.filter((v) => v === 'lost').length, 1, `${m.info.name} applied it once`);
    t.ok(m.sm.items.indexOf('lost') > m.sm.items.indexOf('won'), `${m.info.name} applied it after the new leader's entry`);
  }
  t.equal(old.node.status().pendingProposals, 0, 'nothing left waiting');
});

t.test('a long apply does not stop the Ready loop: heartbeats go on, no election, later proposals wait their turn', async (t) => {
  const c = await LocalCluster.start(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const term = leader.node.status().term;
  // Every member's apply of the entry "slow" takes until the gate opens (a chunked delete of many
  // keys does the same, yielding to the event loop meanwhile); the batches behind it queue up.
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  for (const m of c.members.values()) {
    const sm = m.sm as { apply: (entries: AppliedEntry[]) => unknown[] | Promise<unknown[]> };
    const apply = sm.apply.bind(sm);
    sm.apply = (entries) => (entries.some((e) => Buffer.from(e.data).toString() === 'slow') ? gate.then(() => apply(entries)) : apply(entries));
  }
  const proposals = [leader.node.propose(Buffer.from('slow'))];
  // More proposals, each in a Ready of its own: the apply backlog grows past a few batches.
  for (let i = 0; i < 10; i++) {
    proposals.push(leader.node.propose(Buffer.from(`after${i}`)));
    // Its write, or (were the loop held up) a short while.
    await anyEvent([leader.node], 'persisted', 100);
  }
  // Three election timeouts (10 ms ticks, 500 ms election timeout) of the leader's ticks, counted on its core: without heartbeats the
  // followers would campaign and the leader (check quorum) step down in that time.
  const core = leader.node['core'] as { tick: () => void };
  const tick = core.tick.bind(core);
  await new Promise<void>((resolve) => {
    let ticks = 0;
    core.tick = () => {
      tick();
      if (++ticks === 150) resolve();
    };
  });
  core.tick = tick;
  t.equal(leader.sm.items.length, 0, 'the slow apply is still under way');
  open();
  const results = await Promise.all(proposals);
  t.same(results, Array.from({ length: 11 }, (_, i) => i + 1), 'applied in order once the slow one finished');
  for (const m of c.members.values()) await untilApplied(m.node, () => m.sm.items.length === 11);
  t.same(
    [...c.members.values()].map((m) => [m.node.status().term, m.node.leaderId()]),
    [...c.members.values()].map(() => [term, leader.info.id]),
    'same term and leader on every member: no election happened',
  );
});

t.test('while applies lag the commit index by more than maxApplyGap, new proposals are refused with TooManyRequests', async (t) => {
  const c = await LocalCluster.start(3, { maxApplyGap: 3 });
  t.teardown(() => c.close());
  const leader = await c.leader();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const sm = leader.sm as { apply: (entries: AppliedEntry[]) => unknown[] | Promise<unknown[]> };
  const apply = sm.apply.bind(sm);
  sm.apply = (entries) => (entries.some((e) => Buffer.from(e.data).toString() === 'slow') ? gate.then(() => apply(entries)) : apply(entries));
  const accepted = [leader.node.propose(Buffer.from('slow'))];
  let refused: unknown;
  // Each proposal is committed while the slow apply holds the rest back, until the gap is too wide.
  for (let i = 0; i < 10 && refused === undefined; i++) {
    const p = leader.node.propose(Buffer.from(`after${i}`));
    const outcome = await Promise.race([p.then(() => 'applied', (err: unknown) => err), anyEvent([leader.node], 'persisted', 1000).then(() => 'written')]);
    if (outcome instanceof Error) refused = outcome;
    else accepted.push(p);
    // Its commit (the followers' answers) comes in a Ready of its own.
    await anyEvent([leader.node], 'persisted', 200);
  }
  t.match(refused, { code: 'TooManyRequests' }, 'refused once the gap passed 3');
  t.ok(accepted.length >= 4, `${accepted.length} accepted before`);
  open();
  await Promise.all(accepted);
  const after = await leader.node.propose(Buffer.from('later'));
  t.equal(after, accepted.length + 1, 'taken again once the applies caught up');
});

t.test("the default request timeout is etcd's: 5 s plus two election timeouts", async (t) => {
  t.equal(defaultRequestTimeoutMs(1000), 7000, 'at the default election timeout');
  t.equal(defaultRequestTimeoutMs(300), 5600);
});
