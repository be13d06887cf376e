// The node's tick pacing (src/raft/node/tick-clock.ts): ticks follow the clock when a follower's
// timer runs late, but never make a leader check its quorum early or a follower forget a
// heartbeat it read late. The last tests drive real Raft cores on the deterministic test network.
import t from 'tap';
import { TickClock, runOwedTicks, type Tickable } from '../../src/raft/node/tick-clock.js';
import { MessageType, Role, type Message, type NodeId } from '../../src/raft/types.js';
import type { RaftCore } from '../../src/raft/raft.js';
import { TestNet } from './net.js';

t.test('ticks follow the clock: a late callback gets every tick it missed, early ones none', async (t) => {
  const c = new TickClock(10, 100, 0);
  t.equal(c.due(9.9), 0, 'less than a tick: none');
  t.equal(c.due(10), 1, 'one period: one tick');
  t.equal(c.due(45), 3, 'a callback 35 ms late owes 3 ticks, not 1');
  t.equal(c.due(50), 1, 'the remainder (5 ms) is kept: the next tick falls due at 50');
  // 100 callbacks 25 ms apart, as a starved process sees them: the tick count keeps pace with the
  // clock (250 periods) instead of the callbacks (100).
  let ticks = 0;
  for (let now = 75; now <= 2550; now += 25) ticks += c.due(now);
  t.equal(ticks, 250, '2.5 s of late callbacks: 250 ticks');
});

t.test('a stall longer than the catch-up limit replays only the limit and starts afresh', async (t) => {
  const c = new TickClock(10, 100, 0);
  t.equal(c.due(3000), 100, 'stopped for 3 s: at most an election timeout of ticks at once');
  t.equal(c.due(3005), 0, "counting resumes from the stall's end");
  t.equal(c.due(3010), 1);
});

t.test('a clock that goes nowhere owes nothing', async (t) => {
  const c = new TickClock(10, 100, 1000);
  t.equal(c.due(1000), 0);
  t.equal(c.due(999), 0, 'an earlier reading (never from performance.now) is not a negative count');
});

/** A target that counts its ticks; `reads` stands for messages arriving. */
function counter(leader: boolean): Tickable & { ticks: number; reads: number } {
  const c = { ticks: 0, reads: 0, tick: () => void c.ticks++, leading: () => leader, messagesRead: () => c.reads };
  return c;
}

t.test('owed ticks: one at once, the rest after the deferral', async (t) => {
  const deferred: (() => void)[] = [];
  let after = 0;
  const f = counter(false);
  runOwedTicks(0, f, (fn) => deferred.push(fn), () => after++);
  t.equal(f.ticks, 0, 'nothing owed: no tick');
  runOwedTicks(1, f, (fn) => deferred.push(fn), () => after++);
  t.same([f.ticks, deferred.length], [1, 0], 'one owed: given at once, nothing deferred');
  runOwedTicks(5, f, (fn) => deferred.push(fn), () => after++);
  t.same([f.ticks, deferred.length], [2, 1], 'five owed: one at once, the rest deferred');
  deferred.shift()!();
  t.same([f.ticks, after], [6, 1], 'the deferred four given, then the node kicked');
});

t.test('a leader never catches up: one tick per callback however late', async (t) => {
  const deferred: (() => void)[] = [];
  const l = counter(true);
  runOwedTicks(50, l, (fn) => deferred.push(fn), () => undefined);
  t.same([l.ticks, deferred.length], [1, 0]);
});

t.test('a message read before the deferred ticks voids them', async (t) => {
  const deferred: (() => void)[] = [];
  let after = 0;
  const f = counter(false);
  runOwedTicks(50, f, (fn) => deferred.push(fn), () => after++);
  f.reads++;
  deferred.shift()!();
  t.same([f.ticks, after], [1, 0], 'only the first tick');
});

/** Drives `core` as the node's timer would, with the deferral run after `poll` (the poll phase). */
function lateCallback(core: RaftCore, owed: number, reads: () => number, poll: () => void): void {
  const deferred: (() => void)[] = [];
  runOwedTicks(owed, { tick: () => core.tick(), leading: () => core.status().role === Role.Leader, messagesRead: reads }, (fn) => deferred.push(fn), () => undefined);
  poll();
  for (const fn of deferred) fn();
}

t.test('real cores: a follower whose leader went silent campaigns after an election timeout of clock, however few callbacks', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const leader = net.elect();
  const lid = leader.status().id;
  const follower = [...net.nodes.values()].find((n) => n !== leader)!;
  const fid = follower.status().id;
  let reads = 0;
  // The leader is stopped: nothing from it arrives, and the follower reads nothing else.
  net.filter = (m) => m.from !== lid && m.to !== lid && (m.to !== fid || ++reads > 0);
  // Each test core has an election timeout of 10 ticks, randomized to 10-19: two late callbacks
  // owing 10 ticks each cover it. Counting callbacks, they would have been 2 ticks.
  lateCallback(follower, 10, () => reads, () => net.settle());
  lateCallback(follower, 10, () => reads, () => net.settle());
  t.equal(follower.status().role, Role.PreCandidate, 'the follower campaigns after 2 callbacks');
  net.settle();
  t.ok(net.sent.some((m) => m.from === fid && m.type === MessageType.PreVote), 'its pre-votes are sent');
});

t.test('real cores: a follower that reads a heartbeat late does not replay the time before it', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const leader = net.elect();
  const term = leader.status().term;
  const lid = leader.status().id;
  const follower = [...net.nodes.values()].find((n) => n !== leader)!;
  const fid: NodeId = follower.status().id;
  const other = [...net.nodes.keys()].find((id) => id !== lid && id !== fid)!;
  // The follower was starved for 19 ticks (the most its randomized timeout can be) while the
  // leader kept sending heartbeats; they wait in its socket when its timer finally runs.
  const held: Message[] = [];
  net.filter = (m) => m.to !== fid || (held.push(m), false);
  net.tick(19, [lid, other]);
  t.ok(held.some((m) => m.type === MessageType.Heartbeat), 'heartbeats wait to be read');
  let reads = 0;
  const sentBefore = net.sent.length;
  lateCallback(follower, 19, () => reads, () => {
    for (const m of held.splice(0)) {
      follower.step(m);
      reads++;
    }
    net.filter = () => true;
    net.settle();
  });
  net.settle();
  t.equal(follower.status().role, Role.Follower, 'still a follower');
  t.equal(follower.status().term, term, 'no new term');
  t.notOk(net.sent.slice(sentBefore).some((m) => m.from === fid && (m.type === MessageType.PreVote || m.type === MessageType.Vote)), 'no pre-vote or vote sent');
  // Replaying those ticks after the heartbeat, as a catch-up without the rule would, campaigns.
  const control = new TestNet([1, 2, 3]);
  const cl = control.elect();
  const cf = [...control.nodes.values()].find((n) => n !== cl)!;
  control.settle();
  for (let i = 0; i < 19; i++) cf.tick();
  control.settle();
  t.ok(control.sent.some((m) => m.from === cf.status().id && m.type === MessageType.PreVote), 'the control campaigns');
});
