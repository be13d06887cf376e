// The engine against a real single-member kvd: one engine acts at a time, a revoked session hands
// over, a dead machine's units move, a stale engine's writes are refused by the store, a broken unit
// file is reported without stopping anything, the hold-off and the two-step move, and the pass loop
// (coalescing, timer). Machines are faked by writing their records under a lease, as agents do.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { Client, Compare, toText } from '../../../src/client/index.js';
import { Engine, TXN_LIMIT, placementGuards, planChunks, type Decision, type EngineOptions } from '../../../src/fleet/engine/index.js';
import { Registry, RegistryView, encodeRecord } from '../../../src/fleet/registry/index.js';
import { KvdCluster } from '../../server/kvd-harness.js';
import { freePort } from '../../raft/cluster.js';
import { FakeClock } from '../../support/fake-clock.js';
import { untilView } from '../agent/helpers.js';
import { FakeMachine, SERVICE, once, submit, untilPass } from './helpers.js';

const cluster = await KvdCluster.create(1);
const url = cluster.members[0]!.url;
const clients: Client[] = [];
t.teardown(async () => {
  for (const c of clients) c.close();
  await cluster.close();
});

let prefixSeq = 0;
function newClient(): Client {
  const c = new Client({ endpoints: [url], autoSyncMembers: false });
  clients.push(c);
  return c;
}

/** A fresh registry prefix per test, with a view of it for the test's own waits. */
async function setup(t: Test): Promise<{ prefix: string; reg: Registry; view: RegistryView }> {
  const prefix = `/e${++prefixSeq}/fleet/`;
  const reg = new Registry(newClient(), prefix);
  const view = new RegistryView(reg);
  await view.start();
  t.teardown(() => view.stop());
  return { prefix, reg, view };
}

const quiet = pino({ level: 'silent' });

function engine(t: Test, prefix: string, machineId: string, opts: Partial<EngineOptions> = {}): Engine {
  const e = new Engine({ registry: new Registry(newClient(), prefix), machineId, holdOffMs: 0, logger: quiet, ...opts });
  t.teardown(() => e.stop());
  return e;
}

const placementOf = (view: RegistryView, name: string) => view.current.placements.get(name);

t.test('two engines: only the leader places; a revoked session hands over; the new leader acts', async (t) => {
  const { prefix, reg, view } = await setup(t);
  const a = engine(t, prefix, 'aaaaaaaa00000000aaaaaaaa00000000');
  const b = engine(t, prefix, 'bbbbbbbb00000000bbbbbbbb00000000');
  const firstLeader = Promise.race([once<unknown>(a, 'leader').then(() => a), once<unknown>(b, 'leader').then(() => b)]);
  a.start();
  b.start();
  const leader = await firstLeader;
  const other = leader === a ? b : a;
  t.equal(leader.isLeader, true);
  t.equal(other.isLeader, false);

  await FakeMachine.announce(reg, 'm1');
  await FakeMachine.announce(reg, 'm2');
  for (const n of ['u1', 'u2', 'u3']) await submit(reg, `${n}.service`, SERVICE);
  const snap = await untilView(view, (s) => s.placements.size === 3, 'three placements');
  t.same(new Set([...snap.placements.values()].map((p) => p.engine)), new Set([leader.machineId]), 'every placement written by the leader');
  t.same(new Set([...snap.placements.values()].map((p) => p.machine)), new Set(['m1', 'm2']), 'spread over both machines');
  t.equal(other.lastPass(), undefined, 'the other engine never ran a pass');

  // The leader's session is revoked (as when its lease expires): the other takes over at once.
  const candidates = await reg.client.get(`${prefix}engine/`, { prefix: true });
  const mine = candidates.kvs.find((kv) => toText(kv.value) === leader.machineId)!;
  const lease = mine.lease;
  const takeover = once<{ key: string }>(other, 'leader');
  const stepDown = once<string>(leader, 'follower');
  await reg.client.leaseRevoke(lease);
  await takeover;
  t.match(await stepDown, /election key is gone|session lost/);
  t.equal(other.isLeader, true);
  t.equal(leader.isLeader, false);

  await submit(reg, 'u4.service', SERVICE);
  const after = await untilView(view, (s) => s.placements.has('u4.service'), 'u4 placed');
  t.equal(after.placements.get('u4.service')!.engine, other.machineId, 'the new leader places');
  // The old leader campaigns again, behind the new one.
  const candidacies = (s: { modRevisions: Map<string, number> }) => [...s.modRevisions.keys()].filter((k) => k.startsWith(`${prefix}engine/`));
  await untilView(view, (s) => !candidacies(s).includes(toText(mine.key)) && candidacies(s).length === 2, 'the old leader campaigns again');
  const again = await reg.client.get(`${prefix}engine/`, { prefix: true, sortTarget: 'CREATE', sortOrder: 'ASCEND' });
  t.same(again.kvs.map((kv) => toText(kv.value)), [other.machineId, leader.machineId]);
  t.equal(leader.isLeader, false);

  // A stopped leader gives up at once (its lease is revoked), not after a TTL.
  const back = once<unknown>(leader, 'leader');
  const why = once<string>(other, 'follower');
  await other.stop();
  t.equal(await why, 'engine stopped');
  await back;
  t.equal(leader.isLeader, true);
});

/** A running engine that has placed a.service on machine m1 (the only machine). */
async function unitOnM1(t: Test) {
  const { prefix, reg, view } = await setup(t);
  const m1 = await FakeMachine.announce(reg, 'm1');
  await submit(reg, 'a.service', SERVICE);
  const e = engine(t, prefix, 'e1');
  e.start();
  await untilView(view, (s) => s.placements.get('a.service')?.machine === 'm1', 'a on m1');
  return { reg, view, m1, e };
}

t.test('a machine whose lease is gone: its units are placed elsewhere', async (t) => {
  const { reg, view, m1, e } = await unitOnM1(t);
  await FakeMachine.announce(reg, 'm2');
  await m1.report('a.service', 'active');
  const moved = untilPass(e, (r) => r.decisions.some((d) => d.unit === 'a.service'));
  await m1.die();
  const report = await moved;
  t.match(report.decisions, [{ kind: 'place', unit: 'a.service', machine: 'm2', leaving: 'm1', outcome: 'applied', reason: /^machine m1 is gone/ }]);
  const snap = await untilView(view, (s) => s.placements.get('a.service')?.machine === 'm2', 'a moved to m2');
  t.equal(snap.machines.has('m1'), false);
});

t.test('the units of a gone machine move in one transaction', async (t) => {
  const { prefix, reg, view } = await setup(t);
  const m1 = await FakeMachine.announce(reg, 'm1');
  for (const n of ['a', 'b', 'c']) await submit(reg, `${n}.service`, SERVICE);
  const writes: string[][] = [];
  class Recording extends Registry {
    override async setPlacements(...args: Parameters<Registry['setPlacements']>): Promise<boolean> {
      writes.push(args[0].map((c) => `${c.name}->${c.placement?.machine ?? '-'}`));
      return super.setPlacements(...args);
    }
  }
  const e = new Engine({ registry: new Recording(newClient(), prefix), machineId: 'e1', holdOffMs: 0, logger: quiet });
  t.teardown(() => e.stop());
  e.start();
  await untilView(view, (s) => s.placements.size === 3, 'three on m1');
  t.same(writes, [['a.service->m1', 'b.service->m1', 'c.service->m1']], 'the first pass placed all three with one write');
  await FakeMachine.announce(reg, 'm2');
  const moved = untilPass(e, (r) => r.decisions.length === 3);
  await m1.die();
  const report = await moved;
  t.same(report.decisions.map((d) => [d.unit, d.outcome]), [['a.service', 'applied'], ['b.service', 'applied'], ['c.service', 'applied']]);
  t.same(writes.slice(1), [['a.service->m2', 'b.service->m2', 'c.service->m2']], 'the three moves went in one write');
  await untilView(view, (s) => [...s.placements.values()].every((p) => p.machine === 'm2'), 'all on m2');
});

t.test('planChunks: a plan split only where a transaction could not hold it', async (t) => {
  const place = (unit: string, leaving?: string): Decision => ({ kind: 'place', unit, machine: 'm2', reason: 'r', ...(leaving && { leaving }) });
  const unplace = (unit: string): Decision => ({ kind: 'unplace', unit, from: 'm1', reason: 'r' });
  t.same(planChunks([]), []);
  const three = [place('a'), unplace('b'), place('c', 'm9')];
  t.same(planChunks(three), [three], 'small plans are one transaction');
  t.same(planChunks([unplace('a'), place('b'), place('a')]).map((c) => c.map((d) => d.unit)), [['a', 'b'], ['a']], 'a unit decided twice starts a new transaction, in order');
  // 1 election guard + 127 single-guard decisions = 128 compares: the limit; one more splits.
  const many = Array.from({ length: 128 }, (_, i) => place(`u${i}`));
  t.same(planChunks(many).map((c) => c.length), [127, 1], 'at most 128 compares with the election guard');
  const moves = Array.from({ length: 100 }, (_, i) => place(`u${i}`, 'm1'));
  t.same(planChunks(moves).map((c) => c.length), [63, 37], 'a move off a gone machine has two guards');
  t.same(planChunks(many, 4).map((c) => c.length).slice(0, 2), [3, 3], 'the limit is a parameter');
  for (const c of planChunks(moves)) t.ok(1 + c.reduce((n, d) => n + (d.kind === 'place' && d.leaving ? 2 : 1), 0) <= TXN_LIMIT);
});

t.test('a move off a gone machine is refused once that machine is back (it fenced and announced again before the write)', async (t) => {
  // The race, with the engine's steps taken by hand: its view shows m1 gone and it decides to move
  // a.service to m2; m1's agent (which fenced, got a new lease and announced again) is back before
  // the write lands. m1's reconciler, caught up with its announcement, still sees a.service placed
  // on m1 and may start it: the move must not be written.
  const { reg, view, m1, e } = await unitOnM1(t);
  await e.stop();
  await FakeMachine.announce(reg, 'm2');
  await m1.die();
  const snap = await untilView(view, (s) => !s.machines.has('m1') && s.machines.has('m2'), 'm1 gone, m2 there');
  const modRevision = snap.modRevisions.get(reg.keys.placement('a.service'))!;
  const hash = snap.placements.get('a.service')!.hash;
  const move: Decision = { kind: 'place', unit: 'a.service', machine: 'm2', reason: 'machine m1 is gone', leaving: 'm1' };
  const record = { machine: 'm2', hash, at: Date.now(), engine: 'e1' };
  await FakeMachine.announce(reg, 'm1'); // back, under a new lease
  t.equal(await reg.setPlacement('a.service', record, placementGuards(reg.keys, move, modRevision)), false, 'refused: m1 is back');
  t.equal((await untilView(view, (s) => s.machines.has('m1'), 'm1 back')).placements.get('a.service')?.machine, 'm1', 'a.service stays on m1');
  // The placement guard alone would have let it through: the machine's guard is what refused it.
  const placementOnly: Decision = { kind: 'place', unit: 'a.service', machine: 'm2', reason: 'machine m1 is gone' };
  t.equal(placementGuards(reg.keys, placementOnly, modRevision).length, 1, 'without leaving: the placement guard only');
  t.equal(await reg.setPlacement('a.service', record, placementGuards(reg.keys, placementOnly, modRevision)), true, 'which holds: the placement did not change');
});

t.test('the hold-off: a unit placed moments ago is not moved until it ends (engine clock)', async (t) => {
  const { prefix, reg, view } = await setup(t);
  const clock = new FakeClock();
  const m1 = await FakeMachine.announce(reg, 'm1');
  await submit(reg, 'a.service', SERVICE);
  const e = engine(t, prefix, 'e1', { clock, holdOffMs: 10_000 });
  e.start();
  await untilView(view, (s) => s.placements.get('a.service')?.machine === 'm1', 'a on m1');
  t.equal(placementOf(view, 'a.service')!.at, clock.now(), 'placed at the engine clock');
  await FakeMachine.announce(reg, 'm2');
  const held = untilPass(e, (r) => r.unschedulable.some((u) => u.unit === 'a.service'));
  await m1.die();
  const report = await held;
  t.match(report.unschedulable.find((u) => u.unit === 'a.service')!.reason, /^machine m1 is gone; held off 10\.0 s more/);
  t.equal(placementOf(view, 'a.service')!.machine, 'm1');
  clock.advance(9_999);
  await e.reconcile();
  t.equal(placementOf(view, 'a.service')!.machine, 'm1', 'still within the hold-off');
  // The pass that was due when the hold-off ends (its own timer) moves it.
  const moved = untilView(view, (s) => s.placements.get('a.service')?.machine === 'm2', 'moved after the hold-off');
  clock.advance(1);
  await moved;
});

t.test('the periodic pass follows the engine clock', async (t) => {
  const { prefix, reg } = await setup(t);
  const clock = new FakeClock();
  await FakeMachine.announce(reg, 'm1');
  const e = engine(t, prefix, 'e1', { clock, reconcileIntervalMs: 2000 });
  const first = untilPass(e);
  e.start();
  await first;
  let passes = 0;
  e.on('pass', () => passes++);
  await e.reconcile();
  const before = passes;
  const next = untilPass(e);
  clock.advance(2000);
  await next;
  t.equal(passes, before + 1, 'one pass per interval');
});

t.test('two-step move off a live machine that is no longer eligible', async (t) => {
  const { prefix, reg, view } = await setup(t);
  const m1 = await FakeMachine.announce(reg, 'm1', { disk: 'ssd' });
  await submit(reg, 'db.service', `${SERVICE}[X-Fleet]\nMachineMetadata=disk=ssd\n`);
  const e = engine(t, prefix, 'e1');
  e.start();
  await untilView(view, (s) => s.placements.get('db.service')?.machine === 'm1', 'db on m1');
  await m1.report('db.service', 'active');
  const m2 = await FakeMachine.announce(reg, 'm2', { disk: 'ssd' });
  // m1 loses its ssd: the placement goes first; nothing is placed while m1 still runs it.
  await m1.setMetadata({ disk: 'hdd' });
  await untilView(view, (s) => !s.placements.has('db.service'), 'unplaced');
  const waiting = await untilPass(e, (r) => r.unschedulable.some((u) => u.unit === 'db.service' && /waiting for m1 to stop it/.test(u.reason)));
  t.same(waiting.decisions, []);
  t.notOk(placementOf(view, 'db.service'));
  // m1 stopped it: now it is placed on m2.
  await m1.report('db.service', 'inactive');
  await untilView(view, (s) => s.placements.get('db.service')?.machine === m2.id, 'db on m2');
});

t.test('a placement written by an engine whose election key is gone is refused by the store', async (t) => {
  const { prefix, reg, view } = await setup(t);
  await FakeMachine.announce(reg, 'm1');
  // The engine's registry deletes the engine's own election key just before its first write, as if
  // its lease had expired while it was deciding.
  let sabotage = true;
  class Stale extends Registry {
    override async setPlacements(...args: Parameters<Registry['setPlacements']>): Promise<boolean> {
      if (sabotage) {
        sabotage = false;
        await this.client.delete(`${prefix}engine/`, { prefix: true });
      }
      return super.setPlacements(...args);
    }
  }
  const e = new Engine({ registry: new Stale(newClient(), prefix), machineId: 'stale', holdOffMs: 0, logger: quiet });
  t.teardown(() => e.stop());
  const refused = untilPass(e, (r) => r.decisions.some((d) => d.outcome === 'refused'));
  const stepDown = once<string>(e, 'follower');
  e.start();
  await submit(reg, 'a.service', SERVICE);
  const report = await refused;
  t.match(report.decisions, [{ kind: 'place', unit: 'a.service', outcome: 'refused' }]);
  t.match(await stepDown, /election key is gone/);
  // It campaigns again with a new session and, leading again, places the unit.
  const snap = await untilView(view, (s) => s.placements.has('a.service'), 'placed after re-election');
  t.equal(snap.placements.get('a.service')!.engine, 'stale');
  t.equal(e.isLeader, true);
});

t.test('the guards themselves: a stale election key or a stale mod revision refuses the write', async (t) => {
  const { prefix, reg } = await setup(t);
  const key = `${prefix}engine/1234`;
  await reg.client.put(key, 'x');
  const rev = (await reg.client.get(key)).kvs[0]!.create_revision;
  const rec = { machine: 'm1', hash: 'h', at: 1, engine: 'x' };
  const fresh = Compare.createRevision(reg.keys.placement('a.service'), '=', 0);
  t.equal(await reg.setPlacement('a.service', rec, [Compare.createRevision(key, '=', rev), fresh]), true);
  const modRev = (await reg.client.get(reg.keys.placement('a.service'))).kvs[0]!.mod_revision;
  t.equal(await reg.setPlacement('a.service', rec, [Compare.createRevision(key, '=', rev), fresh]), false, 'not new any more');
  await reg.client.delete(key);
  t.equal(await reg.setPlacement('a.service', undefined, [Compare.createRevision(key, '=', rev), Compare.modRevision(reg.keys.placement('a.service'), '=', modRev)]), false, 'key gone');
  t.equal((await reg.client.get(reg.keys.placement('a.service'))).count, 1, 'nothing changed');
});

t.test('a placement changed behind the engine\'s back: its write is refused, the next pass decides again', async (t) => {
  const { prefix, reg, view } = await setup(t);
  await FakeMachine.announce(reg, 'm1');
  await FakeMachine.announce(reg, 'm2');
  let interfere = true;
  class Racing extends Registry {
    override async setPlacements(...args: Parameters<Registry['setPlacements']>): Promise<boolean> {
      if (interfere) {
        interfere = false;
        // Someone (an operator with kvctl) writes the placement first.
        await this.client.put(this.keys.placement(args[0][0]!.name), encodeRecord({ machine: 'm2', hash: 'x', at: 0, engine: 'operator' }));
      }
      return super.setPlacements(...args);
    }
  }
  const e = new Engine({ registry: new Racing(newClient(), prefix), machineId: 'e1', holdOffMs: 0, logger: quiet });
  t.teardown(() => e.stop());
  await submit(reg, 'a.service', SERVICE);
  await submit(reg, 'b.service', SERVICE);
  const refused = untilPass(e, (r) => r.decisions.some((d) => d.outcome === 'refused'));
  e.start();
  const report = await refused;
  t.match(report.decisions, [
    { unit: 'a.service', outcome: 'refused' },
    { unit: 'b.service', outcome: 'refused' },
  ], 'a pass is written as one transaction: one stale guard refuses it all');
  t.notOk(placementOf(view, 'b.service'), 'b was not placed by the refused pass');
  t.equal(e.isLeader, true, 'still the leader: only the placement had changed');
  const snap = await untilView(view, (s) => s.placements.has('a.service') && s.placements.has('b.service'), 'both placed');
  t.equal(snap.placements.get('a.service')!.engine, 'operator', 'the other write is kept (it was valid)');
  t.equal(snap.placements.get('b.service')!.engine, 'e1');
});

t.test('a write that fails (store away): the rest of the pass waits; a later pass places', async (t) => {
  const { prefix, reg, view } = await setup(t);
  await FakeMachine.announce(reg, 'm1');
  await submit(reg, 'a.service', SERVICE);
  await submit(reg, 'b.service', SERVICE);
  let fail = true;
  class Flaky extends Registry {
    override async setPlacements(...args: Parameters<Registry['setPlacements']>): Promise<boolean> {
      if (fail) {
        fail = false;
        throw new Error('connection refused');
      }
      return super.setPlacements(...args);
    }
  }
  const clock = new FakeClock();
  const e = new Engine({ registry: new Flaky(newClient(), prefix), machineId: 'e1', holdOffMs: 0, logger: quiet, clock, reconcileIntervalMs: 2000 });
  t.teardown(() => e.stop());
  const failed = untilPass(e, (r) => r.decisions.some((d) => d.outcome === 'failed'));
  e.start();
  t.match((await failed).decisions, [
    { unit: 'a.service', outcome: 'failed', error: 'connection refused' },
    { unit: 'b.service', outcome: 'failed', error: 'connection refused' },
  ]);
  t.equal(view.current.placements.size, 0, 'nothing placed by the failed write');
  // The next periodic pass writes both.
  const placed = untilView(view, (s) => s.placements.size === 2, 'both placed');
  clock.advance(2000);
  await placed;
  t.equal(e.isLeader, true);
});

t.test('a registry that cannot be read on taking the lead: the engine steps down and tries again', async (t) => {
  const { prefix, reg, view } = await setup(t);
  await FakeMachine.announce(reg, 'm1');
  await submit(reg, 'a.service', SERVICE);
  let fail = true;
  class Unreadable extends Registry {
    override async snapshot(...args: Parameters<Registry['snapshot']>): ReturnType<Registry['snapshot']> {
      if (fail) {
        fail = false;
        throw new Error('range failed');
      }
      return super.snapshot(...args);
    }
  }
  const e = new Engine({ registry: new Unreadable(newClient(), prefix), machineId: 'e1', holdOffMs: 0, logger: quiet, retryMs: 10 });
  t.teardown(() => e.stop());
  const stepDown = once<string>(e, 'follower');
  e.start();
  t.equal(await stepDown, 'could not read the registry: range failed');
  await untilView(view, (s) => s.placements.has('a.service'), 'placed after trying again');
});

t.test('a broken unit file is reported and does not stop the engine', async (t) => {
  const { prefix, reg, view } = await setup(t);
  await FakeMachine.announce(reg, 'm1');
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
  const e = engine(t, prefix, 'e1', { logger });
  e.start();
  await submit(reg, 'bad.service', `${SERVICE}[X-Fleet]\nMachineOf\n`);
  await submit(reg, 'worse.service', `${SERVICE}[X-Fleet]\nConflict=x*\n`);
  // A unit record whose content is missing (written by hand).
  await reg.client.put(reg.keys.unit('ghost.service'), encodeRecord({ name: 'ghost.service', hash: 'feedfacefeedface', desired: 'launched' }));
  await submit(reg, 'good.service', SERVICE);
  await untilView(view, (s) => s.placements.has('good.service'), 'good placed');
  const reported = untilPass(e, (r) => r.unschedulable.length === 3);
  void e.reconcile();
  const report = await reported;
  const reasons = Object.fromEntries(report.unschedulable.map((u) => [u.unit, u.reason]));
  t.match(reasons['bad.service'], /^unit file is invalid: bad\.service:4: /);
  t.match(reasons['worse.service'], /^unit file is invalid: worse\.service:4: unknown \[X-Fleet\] option "Conflict"/);
  t.equal(reasons['ghost.service'], 'unit file is invalid: its content feedfacefeed is missing from the registry');
  t.notOk(placementOf(view, 'bad.service'));
  t.equal(e.isLeader, true);
  const warned = lines.filter((l) => l.includes('unit file cannot be scheduled'));
  t.equal(warned.length, 2, 'each broken file logged once, not at every pass');
  t.ok(lines.some((l) => l.includes('engine: bad.service not placed')));
  // Its content arrives: the unit is scheduled (a missing content is not cached).
  await reg.client.put(reg.keys.content('feedfacefeedface'), SERVICE);
  await untilView(view, (s) => s.placements.has('ghost.service'), 'ghost placed');
});

t.test('unit texts no unit names any more are deleted after the grace period, guarded by their mod revision', async (t) => {
  const { prefix, reg, view } = await setup(t);
  const clock = new FakeClock();
  await FakeMachine.announce(reg, 'm1');
  const kept = '[Service]\nExecStart=/bin/sleep 1001\n';
  const dropped = '[Service]\nExecStart=/bin/sleep 1002\n';
  await submit(reg, 'keep.service', kept);
  await submit(reg, 'drop.service', dropped);
  await submit(reg, 'same.service', SERVICE);
  const hashOf = (name: string) => view.current.units.get(name)?.hash ?? '';
  await untilView(view, (s) => s.units.size === 3, 'three units');
  const [keepHash, dropHash, sameHash] = [hashOf('keep.service'), hashOf('drop.service'), hashOf('same.service')];
  const e = engine(t, prefix, 'e1', { clock, contentGraceMs: 5000 });
  const collected: string[] = [];
  e.on('pass', (r) => collected.push(...r.collected));
  e.start();
  await untilView(view, (s) => s.placements.size === 3, 'all placed');
  await reg.destroy('drop.service');
  await reg.destroy('same.service');
  await untilView(view, (s) => !s.units.has('same.service') && !s.placements.has('same.service'), 'destroyed');
  await e.reconcile();
  t.same(collected, [], 'first seen unnamed: kept for the grace period');
  // The same text submitted again within the grace period is named again: it stays.
  await submit(reg, 'same2.service', SERVICE);
  await untilView(view, (s) => s.units.has('same2.service'), 'resubmitted');
  // The periodic pass (its timer fires as the clock moves) or this one collects it; once.
  clock.advance(5000);
  await e.reconcile();
  t.same(collected, [dropHash]);
  const after = await untilView(view, (s) => !s.contents.has(dropHash), 'the unused text deleted');
  t.ok(after.contents.has(keepHash), 'a named text stays');
  t.ok(after.contents.has(sameHash), 'a text named again stays');
  // The guard: a delete decided from an older picture of the text is refused.
  const key = reg.keys.content(keepHash);
  const modRevision = after.modRevisions.get(key)!;
  t.equal(await reg.deleteContent(keepHash, [Compare.modRevision(key, '=', modRevision - 1)]), false, 'a stale mod revision refuses the delete');
  t.ok((await reg.client.get(key)).kvs.length, 'still there');
});

t.test('passes are coalesced: never two at once, and none lost', async (t) => {
  const { prefix, reg, view } = await setup(t);
  await FakeMachine.announce(reg, 'm1');
  let inFlight = 0;
  let most = 0;
  class Counting extends Registry {
    override async setPlacements(...args: Parameters<Registry['setPlacements']>): Promise<boolean> {
      inFlight++;
      most = Math.max(most, inFlight);
      try {
        return await super.setPlacements(...args);
      } finally {
        inFlight--;
      }
    }
  }
  const e = new Engine({ registry: new Counting(newClient(), prefix), machineId: 'e1', holdOffMs: 0, logger: quiet });
  t.teardown(() => e.stop());
  const lead = once<unknown>(e, 'leader');
  e.start();
  await lead;
  await Promise.all(Array.from({ length: 12 }, (_, i) => submit(reg, `u${i}.service`, SERVICE)));
  await untilView(view, (s) => s.placements.size === 12, 'all placed');
  t.equal(most, 1, 'one write at a time');
  await e.reconcile();
  t.same(e.lastPass()!.decisions, [], 'the last pass finds nothing to do');
});

t.test('an engine given a shared view uses it and leaves it running', async (t) => {
  const { prefix, reg, view } = await setup(t);
  await FakeMachine.announce(reg, 'm1');
  const shared = new RegistryView(new Registry(newClient(), prefix));
  await shared.start();
  t.teardown(() => shared.stop());
  const e = engine(t, prefix, 'e1', { view: shared });
  e.start();
  await submit(reg, 'a.service', SERVICE);
  await untilView(view, (s) => s.placements.has('a.service'), 'placed');
  await e.stop();
  t.equal(e.isLeader, false);
  await submit(reg, 'b.service', SERVICE);
  await untilView(shared, (s) => s.units.has('b.service'), 'the shared view still follows the registry');
});

t.test('a store that cannot be reached: the engine keeps trying and stops when asked', async (t) => {
  const dead = new Client({ endpoints: [`http://127.0.0.1:${await freePort()}`], autoSyncMembers: false, requestTimeoutMs: 200, dialTimeoutMs: 100 });
  clients.push(dead);
  let failures = 0;
  let twice!: () => void;
  const failedTwice = new Promise<void>((resolve) => (twice = resolve));
  const sink = new Writable({
    write: (c, _e, cb) => {
      if (String(c).includes('campaign failed') && ++failures === 2) twice();
      cb();
    },
  });
  const e = new Engine({ registry: new Registry(dead, '/nowhere/'), machineId: 'e1', retryMs: 20, logger: pino({ level: 'info' }, sink) });
  t.teardown(() => e.stop());
  e.start();
  e.start(); // a second start does nothing
  await failedTwice;
  await e.stop();
  await e.stop(); // idempotent
  t.equal(e.isLeader, false);
  t.equal(e.lastPass(), undefined);
});

t.test('stopping an engine that is waiting for its turn', async (t) => {
  const { prefix, view } = await setup(t);
  const a = engine(t, prefix, 'a');
  const lead = once<unknown>(a, 'leader');
  a.start();
  await lead;
  const b = engine(t, prefix, 'b');
  b.start();
  const reg = new Registry(newClient(), prefix);
  const candidacies = (s: { modRevisions: Map<string, number> }) => [...s.modRevisions.keys()].filter((k) => k.startsWith(`${prefix}engine/`)).length;
  await untilView(view, (s) => candidacies(s) === 2, "b's candidacy behind a's");
  await b.stop();
  t.equal((await reg.client.get(`${prefix}engine/`, { prefix: true })).count, 1, "b's candidacy is gone");
  t.equal(a.isLeader, true);
});

