// The scheduler's rules, one [X-Fleet] option at a time and in combination: eligibility, ranking,
// hold-off, moves off dead machines, two-step moves off live ones, and determinism.
import t from 'tap';
import { formatMetadata, metadataMatches, schedule, shortId } from '../../../src/fleet/engine/scheduler.js';
import { fleetOptions, parseUnitFile, instantiate } from '../../../src/fleet/unit/index.js';
import type { SchedulerUnit } from '../../../src/fleet/engine/scheduler.js';
import { decisionOf, placed, reasonOf, rng, unplaced, World } from './world.js';

t.test('desired state: launched and loaded units are placed, inactive ones are not', async (t) => {
  const w = new World().machine('m1').unit('a.service').unit('b.service', { desired: 'loaded' }).unit('c.service', { desired: 'inactive' });
  const r = w.run();
  t.same(placed(r), { 'a.service': 'm1', 'b.service': 'm1' });
  t.match(decisionOf(r, 'a.service')!.reason, /desired launched: least loaded of 1 eligible machine$/);
  t.match(decisionOf(r, 'b.service')!.reason, /desired loaded/);
  t.same(r.unschedulable, []);
  t.equal(r.retryAt, undefined);
});

t.test('a placed unit whose desired state became inactive is unplaced, even within the hold-off', async (t) => {
  const w = new World().machine('m1').unit('a.service', { desired: 'inactive' }).placed('a.service', 'm1', 10);
  const r = w.run();
  t.same(r.decisions, [{ kind: 'unplace', unit: 'a.service', from: 'm1', reason: 'desired state is inactive' }]);
});

t.test('a placement whose unit no longer exists is removed', async (t) => {
  const w = new World().machine('m1').placed('gone.service', 'm1');
  t.same(unplaced(w.run()), { 'gone.service': 'm1' });
});

t.test('no live machines: nothing placed, and the reason says so', async (t) => {
  const r = new World().unit('a.service').run();
  t.same(r.decisions, []);
  t.same(r.unschedulable, [{ unit: 'a.service', reason: 'no live machines' }]);
});

t.test('templates are never placed; their instances are', async (t) => {
  const w = new World().machine('m1').machine('m2').unit('web@.service').unit('web@1.service').unit('web@2.service', { desired: 'loaded' });
  const r = w.run();
  t.same(placed(r), { 'web@1.service': 'm1', 'web@2.service': 'm2' });
  t.match(reasonOf(r, 'web@.service'), /template unit is never placed/);
  // A template that somehow has a placement loses it.
  const w2 = new World().machine('m1').unit('web@.service').placed('web@.service', 'm1');
  t.same(unplaced(w2.run()), { 'web@.service': 'm1' });
  // An inactive template is simply ignored.
  t.same(new World().machine('m1').unit('web@.service', { desired: 'inactive' }).run(), { decisions: [], unschedulable: [] });
});

t.test('template instances parsed from real unit text: Conflicts=%p@*.service keeps them apart', async (t) => {
  const text = '[Service]\nExecStart=/bin/sleep 100\n\n[X-Fleet]\nConflicts=%p@*.service\nMachineMetadata=role=web\n';
  const template = parseUnitFile('web@.service', text);
  const w = new World().machine('m1', { metadata: { role: 'web' } }).machine('m2', { metadata: { role: 'web' } }).machine('m3');
  for (const i of ['1', '2', '3']) {
    const inst = instantiate(template, i);
    w.units.set(inst.name, { name: inst.name, desired: 'launched', hash: 'h', options: fleetOptions(inst) });
  }
  w.units.set('web@.service', { name: 'web@.service', desired: 'inactive', hash: 'h', options: fleetOptions(template) });
  const r = w.run();
  t.same(placed(r), { 'web@1.service': 'm1', 'web@2.service': 'm2' });
  t.equal(
    reasonOf(r, 'web@3.service'),
    'every candidate machine has a conflict: m1: conflicts with web@1.service (Conflicts=web@*.service); m2: conflicts with web@2.service (Conflicts=web@*.service)',
  );
});

t.test('a plain unit parsed with %p in MachineOf follows its socket', async (t) => {
  const foo = parseUnitFile('foo.service', '[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineOf=%p.socket\n');
  const opts = fleetOptions(foo);
  t.same(opts.machineOf, ['foo.socket']);
  const w = new World().machine('m1').machine('m2').unit('foo.socket').placed('foo.socket', 'm2');
  w.units.set('foo.service', { name: 'foo.service', desired: 'launched', hash: 'h', options: opts });
  t.same(placed(w.run()), { 'foo.service': 'm2' });
});

t.test('MachineID: only that machine, whatever its load; the full id, not a prefix', async (t) => {
  const w = new World()
    .machine('aaaa1111bbbb2222')
    .machine('cccc3333dddd4444')
    .unit('busy.service')
    .placed('busy.service', 'aaaa1111bbbb2222')
    .unit('pinned.service', { machineId: 'aaaa1111bbbb2222' })
    .unit('prefix.service', { machineId: 'aaaa1111' });
  const r = w.run();
  t.same(placed(r), { 'pinned.service': 'aaaa1111bbbb2222' });
  t.equal(reasonOf(r, 'prefix.service'), 'MachineID=aaaa1111 is not a live machine');
});

t.test('MachineID of a machine that is gone: the unit waits; it is placed when the machine returns', async (t) => {
  const w = new World().machine('m2').unit('a.service', { machineId: 'm1' });
  t.equal(reasonOf(w.run(), 'a.service'), 'MachineID=m1 is not a live machine');
  w.machine('m1');
  t.same(placed(w.run()), { 'a.service': 'm1' });
});

t.test('MachineMetadata: a single requirement, values compared exactly', async (t) => {
  const w = new World()
    .machine('m1', { metadata: { region: 'us-east-1' } })
    .machine('m2', { metadata: { region: 'US-EAST' } })
    .machine('m3', { metadata: { region: 'us-east' } })
    .machine('m4')
    .unit('a.service', { machineMetadata: { region: ['us-east'] } })
    .unit('b.service', { machineMetadata: { region: ['eu-west'] } });
  const r = w.run();
  t.same(placed(r), { 'a.service': 'm3' });
  t.equal(reasonOf(r, 'b.service'), 'no machine matches MachineMetadata region=eu-west');
});

t.test('MachineMetadata: the same key repeated is OR, different keys are AND', async (t) => {
  const w = new World()
    .machine('m1', { metadata: { region: 'us-east', disk: 'hdd' } })
    .machine('m2', { metadata: { region: 'us-west', disk: 'ssd' } })
    .machine('m3', { metadata: { region: 'eu', disk: 'ssd' } })
    .machine('m4', { metadata: { disk: 'ssd' } })
    .unit('or.service', { machineMetadata: { region: ['us-east', 'eu'] } })
    .unit('and.service', { machineMetadata: { region: ['us-east', 'us-west'], disk: ['ssd'] } })
    .unit('none.service', { machineMetadata: { region: ['us-east'], disk: ['ssd'] } });
  const r = w.run();
  t.same(placed(r), { 'and.service': 'm2', 'or.service': 'm1' });
  t.equal(reasonOf(r, 'none.service'), 'no machine matches MachineMetadata region=us-east disk=ssd');
  t.equal(formatMetadata({ region: ['a', 'b'], disk: ['ssd'] }), 'region=a|b disk=ssd');
  t.equal(metadataMatches({}, {}), true);
  t.equal(metadataMatches({ toString: ['x'] }, {}), false, 'inherited properties are not metadata');
});

t.test('MachineOf: on the machine of its target, whatever the load', async (t) => {
  const w = new World().machine('m1').machine('m2').unit('db.service').placed('db.service', 'm1').unit('x.service').placed('x.service', 'm1');
  w.unit('app.service', { machineOf: ['db.service'] });
  t.same(placed(w.run()), { 'app.service': 'm1' });
});

t.test('MachineOf: a target that is not placed or does not exist makes the unit wait', async (t) => {
  const w = new World()
    .machine('m1')
    .unit('db.service', { desired: 'inactive' })
    .unit('app.service', { machineOf: ['db.service'] })
    .unit('orphan.service', { machineOf: ['nothere.service'] });
  const r = w.run();
  t.same(r.decisions, []);
  t.equal(reasonOf(r, 'app.service'), 'waiting for MachineOf=db.service: db.service is not placed');
  t.equal(reasonOf(r, 'orphan.service'), 'waiting for MachineOf=nothere.service: nothere.service does not exist');
  // The target is started: both are placed in one pass, target first.
  w.unit('db.service');
  t.same(placed(w.run()), { 'app.service': 'm1', 'db.service': 'm1' });
});

t.test('MachineOf chains are placed in one pass, in dependency order (not name order)', async (t) => {
  const w = new World()
    .machine('m1')
    .machine('m2')
    .machine('m3')
    .unit('z.service')
    .placed('z.service', 'm1')
    .unit('a.service', { machineOf: ['b.service'] })
    .unit('b.service', { machineOf: ['c.service'] })
    .unit('c.service', { machineMetadata: { ssd: ['yes'] } });
  w.machines.get('m3')!.metadata = { ssd: 'yes' };
  const r = w.run();
  t.same(r.decisions.map((d) => d.unit), ['c.service', 'b.service', 'a.service']);
  t.same(placed(r), { 'a.service': 'm3', 'b.service': 'm3', 'c.service': 'm3' });
});

t.test('MachineOf several units: the machine hosting all of them, or none', async (t) => {
  const w = new World()
    .machine('m1')
    .machine('m2')
    .unit('a.service')
    .unit('b.service')
    .placed('a.service', 'm1')
    .placed('b.service', 'm2')
    .unit('both.service', { machineOf: ['a.service', 'b.service'] });
  t.equal(reasonOf(w.run(), 'both.service'), 'no machine hosts all of MachineOf=a.service,b.service');
  w.placed('b.service', 'm1');
  t.same(placed(w.run()), { 'both.service': 'm1' });
});

t.test('MachineOf a unit whose machine is gone (held off): the reason says where it is', async (t) => {
  const w = new World().machine('m2').unit('db.service').placed('db.service', 'm1', 1000).unit('app.service', { machineOf: ['db.service'] });
  const r = w.run();
  t.same(r.decisions, []);
  t.equal(reasonOf(r, 'app.service'), 'waiting for MachineOf=db.service: db.service is on machine m1, which is gone');
});

t.test('MachineOf a Global unit: any machine where the Global unit runs', async (t) => {
  const w = new World()
    .machine('m1')
    .machine('m2', { metadata: { role: 'edge' } })
    .unit('proxy.service', { global: true, machineMetadata: { role: ['edge'] } })
    .unit('app.service', { machineOf: ['proxy.service'] });
  t.same(placed(w.run()), { 'app.service': 'm2' });
});

t.test('MachineOf with a MachineMetadata the target machine lacks: unschedulable, said precisely', async (t) => {
  const w = new World()
    .machine('m1')
    .unit('db.service')
    .placed('db.service', 'm1')
    .unit('app.service', { machineOf: ['db.service'], machineMetadata: { disk: ['ssd'] } });
  t.equal(reasonOf(w.run(), 'app.service'), 'no machine matches MachineMetadata disk=ssd');
});

t.test('Conflicts: our glob matches a unit on the machine', async (t) => {
  const w = new World().machine('m1').machine('m2').unit('db1.service').placed('db1.service', 'm1').unit('x.service').placed('x.service', 'm2');
  w.unit('db2.service', { conflicts: ['db*.service'] });
  t.same(placed(w.run()), { 'db2.service': 'm2' }, 'placed on the busier machine rather than next to db1');
});

t.test('Conflicts: the other direction, a unit on the machine whose glob matches ours', async (t) => {
  const w = new World().machine('m1').machine('m2').unit('db1.service', { conflicts: ['db?.service'] }).placed('db1.service', 'm1');
  w.unit('x.service').placed('x.service', 'm2').unit('db2.service');
  const r = w.run();
  t.same(placed(r), { 'db2.service': 'm2' });
  // With no other machine, the reason names the unit and its pattern.
  w.gone('m2');
  w.placements.delete('x.service');
  t.equal(reasonOf(w.run(), 'db2.service'), 'every candidate machine has a conflict: m1: db1.service conflicts with it (its Conflicts=db?.service)');
});

t.test('Conflicts: glob classes, escapes and exact names', async (t) => {
  const w = new World()
    .machine('m1')
    .machine('m2')
    .machine('m3')
    .unit('cache-a.service')
    .placed('cache-a.service', 'm1')
    .unit('cache-b.service')
    .placed('cache-b.service', 'm2')
    .unit('cache-c.service')
    .placed('cache-c.service', 'm3')
    .unit('x.service', { conflicts: ['cache-[ab].service'] })
    .unit('y.service', { conflicts: ['cache-[^a].service'] })
    .unit('z.service', { conflicts: ['cache-c.service'] });
  const r = w.run();
  t.equal(placed(r)['x.service'], 'm3');
  t.equal(placed(r)['y.service'], 'm1');
  t.not(placed(r)['z.service'], 'm3');
});

t.test('two conflicting units placed in the same pass never share a machine', async (t) => {
  const w = new World().machine('m1').machine('m2');
  for (let i = 1; i <= 3; i++) w.unit(`web@${i}.service`, { conflicts: ['web@*.service'] });
  const r = w.run();
  t.same(placed(r), { 'web@1.service': 'm1', 'web@2.service': 'm2' });
  t.match(reasonOf(r, 'web@3.service'), /^every candidate machine has a conflict: m1: .*web@1.*; m2: .*web@2/);
  // One direction only is enough: b has no Conflicts but a's glob names it.
  const w2 = new World().machine('m1').machine('m2').unit('a.service', { conflicts: ['b.service'] }).unit('b.service');
  const r2 = w2.run();
  t.not(placed(r2)['a.service'], placed(r2)['b.service']);
});

t.test('Conflicts: a unit still running on a machine (being stopped) keeps conflicting units off it', async (t) => {
  const w = new World().machine('m1').machine('m2').unit('old.service', { desired: 'inactive' }).reports('old.service', 'm1', 'deactivating');
  w.unit('x.service').placed('x.service', 'm2').unit('new.service', { conflicts: ['old.service'] });
  t.same(placed(w.run()), { 'new.service': 'm2' });
  // Once it is inactive there, the machine is free again (and less loaded).
  w.reports('old.service', 'm1', 'inactive');
  w.placements.delete('new.service');
  t.same(placed(w.run()), { 'new.service': 'm1' });
});

t.test('Conflicts between two units already together (after a --replace): only one moves', async (t) => {
  const w = new World()
    .machine('m1')
    .machine('m2')
    .unit('a.service', { conflicts: ['b.service'] })
    .unit('b.service')
    .placed('a.service', 'm1')
    .placed('b.service', 'm1')
    .reports('a.service', 'm1')
    .reports('b.service', 'm1');
  const r = w.run();
  t.same(unplaced(r), { 'a.service': 'm1' });
  t.same(placed(r), {});
  t.match(r.decisions[0]!.reason, /^no longer eligible on m1: conflicts with b.service \(Conflicts=b.service\); moving it off/);
  t.equal(reasonOf(r, 'a.service'), 'moving off m1: placed again once it stopped there');
  w.apply(r);
  // Still running on m1: it waits; m1 is not eligible, so it is not placed back there.
  t.equal(reasonOf(w.run(), 'a.service'), 'waiting for m1 to stop it before it runs elsewhere');
  w.reports('a.service', 'm1', 'inactive');
  t.same(placed(w.run()), { 'a.service': 'm2' });
});

t.test('combinations: MachineID with MachineMetadata, Conflicts with MachineMetadata, Global with MachineOf and Conflicts', async (t) => {
  const w = new World()
    .machine('m1', { metadata: { region: 'east' } })
    .machine('m2', { metadata: { region: 'east' } })
    .machine('m3', { metadata: { region: 'west' } })
    .unit('pin-ok.service', { machineId: 'm3', machineMetadata: { region: ['west'] } })
    .unit('pin-bad.service', { machineId: 'm1', machineMetadata: { region: ['west'] } })
    .unit('web1.service', { machineMetadata: { region: ['east'] }, conflicts: ['web*'] })
    .unit('web2.service', { machineMetadata: { region: ['east'] }, conflicts: ['web*'] })
    .unit('web3.service', { machineMetadata: { region: ['east'] }, conflicts: ['web*'] })
    .unit('agent.service', { global: true, machineMetadata: { region: ['east'] } })
    .unit('sidecar.service', { machineOf: ['web2.service'], conflicts: ['agent.service'] });
  const r = w.run();
  t.same(placed(r), { 'pin-ok.service': 'm3', 'web1.service': 'm1', 'web2.service': 'm2' });
  t.equal(reasonOf(r, 'pin-bad.service'), 'no machine matches MachineMetadata region=west');
  t.match(reasonOf(r, 'web3.service'), /^every candidate machine has a conflict: m1: conflicts with web1.service .*; m2: conflicts with web2.service/);
  t.equal(reasonOf(r, 'sidecar.service'), 'every candidate machine has a conflict: m2: conflicts with agent.service (Conflicts=agent.service)');
});

t.test('Global units: never placed, counted in the load and in conflicts of the machines they run on', async (t) => {
  const w = new World()
    .machine('m1', { metadata: { role: 'mon' } })
    .machine('m2')
    .unit('monitor.service', { global: true, machineMetadata: { role: ['mon'] } })
    .unit('a.service')
    .unit('nomon.service', { conflicts: ['monitor*'] });
  const r = w.run();
  t.equal(decisionOf(r, 'monitor.service'), undefined);
  t.equal(placed(r)['a.service'], 'm2', 'the global unit makes m1 busier');
  t.equal(placed(r)['nomon.service'], 'm2', 'cannot go where monitor.service runs');
  // A Global unit everywhere with a conflicting unit: nowhere to go.
  const w2 = new World().machine('m1').machine('m2').unit('mon.service', { global: true }).unit('x.service', { conflicts: ['mon.service'] });
  t.equal(
    reasonOf(w2.run(), 'x.service'),
    'every candidate machine has a conflict: m1: conflicts with mon.service (Conflicts=mon.service); m2: conflicts with mon.service (Conflicts=mon.service)',
  );
  // The other direction: a Global unit's own Conflicts glob.
  const w3 = new World().machine('m1').machine('m2', { metadata: { g: 'y' } }).unit('g.service', { global: true, machineMetadata: { g: ['y'] }, conflicts: ['x*'] }).unit('x.service');
  t.same(placed(w3.run()), { 'x.service': 'm1' });
  // An inactive Global unit counts nowhere.
  const w4 = new World().machine('m1').machine('m2').unit('mon.service', { global: true, desired: 'inactive' }).unit('x.service', { conflicts: ['mon.service'] });
  t.same(placed(w4.run()), { 'x.service': 'm1' });
  // A Global unit still running after it was stopped counts on its machine (it is reported there).
  const w5 = new World().machine('m1').machine('m2').unit('mon.service', { global: true, desired: 'inactive' }).reports('mon.service', 'm1');
  w5.unit('x.service', { conflicts: ['mon.service'] });
  t.same(placed(w5.run()), { 'x.service': 'm2' });
});

t.test('a placed unit that became Global is unplaced', async (t) => {
  const w = new World().machine('m1').unit('a.service', { global: true }).placed('a.service', 'm1', 0);
  t.same(unplaced(w.run()), { 'a.service': 'm1' });
});

t.test('Replaces: the machine of the replaced unit is eligible despite their conflict; the replaced unit moves', async (t) => {
  const w = new World()
    .machine('m1')
    .machine('m2', { metadata: { role: 'other' } })
    .unit('old.service', { conflicts: ['new.service'] })
    .placed('old.service', 'm1')
    .reports('old.service', 'm1')
    .unit('new.service', { replaces: ['old.service'], machineMetadata: { role: ['main'] } });
  w.machines.get('m1')!.metadata = { role: 'main' };
  const r = w.run();
  t.same(placed(r), { 'new.service': 'm1' });
  t.same(unplaced(r), { 'old.service': 'm1' });
  t.match(decisionOf(r, 'old.service')!.reason, /^replaced on m1 by new.service; moving it off/);
  w.apply(r);
  // Next pass: old still runs on m1 and may not go back there (new replaces it there): it waits.
  t.equal(reasonOf(w.run(), 'old.service'), 'waiting for m1 to stop it before it runs elsewhere');
  w.reports('old.service', 'm1', 'inactive');
  t.same(placed(w.run()), { 'old.service': 'm2' });
});

t.test('Replaces: the replaced unit never lands where its replacer is', async (t) => {
  const w = new World().machine('m1').machine('m2').machine('m3');
  w.unit('b.service').placed('b.service', 'm2').unit('c.service').placed('c.service', 'm3').unit('a.service', { replaces: ['b.service'] }).placed('a.service', 'm1');
  w.unit('x.service', { replaces: ['y.service'] }).placed('x.service', 'm1').unit('y.service');
  const r = w.run();
  t.not(placed(r)['y.service'], 'm1');
});

t.test('Replaces: a replaced unit placed earlier is moved off in a later pass, after its hold-off', async (t) => {
  const w = new World()
    .machine('m1')
    .machine('m2')
    .unit('a.service', { replaces: ['b.service'] })
    .unit('b.service')
    .placed('a.service', 'm1', 1000)
    .placed('b.service', 'm1', 4000);
  const r = w.run();
  t.same(r.decisions, []);
  t.match(reasonOf(r, 'b.service'), /^no longer eligible on m1: a.service replaces it there; held off 6.0 s more \(placed 4.0 s ago\)$/);
  t.equal(r.retryAt, w.now + 6000);
  w.now += 6000;
  t.same(unplaced(w.run()), { 'b.service': 'm1' });
});

t.test('Replaces: a young replaced unit stays until its hold-off ends; the replacer is placed anyway', async (t) => {
  const w = new World().machine('m1').unit('old.service').placed('old.service', 'm1', 2000).unit('new.service', { replaces: ['old.service'] });
  const r = w.run();
  t.same(placed(r), { 'new.service': 'm1' });
  t.same(unplaced(r), {});
  t.match(reasonOf(r, 'old.service'), /^replaced on m1 by new.service; held off 8.0 s more/);
});

t.test('Replaces: units that replace each other are treated as not replacing (as fleet does)', async (t) => {
  const w = new World()
    .machine('m1')
    .machine('m2')
    .unit('a.service', { replaces: ['b.service'], conflicts: ['b.service'] })
    .unit('b.service', { replaces: ['a.service'] })
    .placed('b.service', 'm1');
  const r = w.run();
  t.same(placed(r), { 'a.service': 'm2' }, 'the conflict holds');
  t.same(unplaced(r), {});
});

t.test('Replaces with a glob', async (t) => {
  const w = new World().machine('m1').unit('app-v1.service').placed('app-v1.service', 'm1').unit('app-v2.service', { replaces: ['app-v*.service'] });
  const r = w.run();
  t.same(placed(r), { 'app-v2.service': 'm1' });
  t.same(unplaced(r), { 'app-v1.service': 'm1' });
});

t.test('ranking: fewest units, then most free memory, then lowest load per CPU, then id', async (t) => {
  const base = () => new World().unit('x.service');
  t.same(placed(base().machine('m1').machine('m2').unit('y.service').placed('y.service', 'm1').run()), { 'x.service': 'm2' }, 'fewest units');
  t.same(placed(base().machine('m1', { memFree: 1e9 }).machine('m2', { memFree: 2e9 }).run()), { 'x.service': 'm2' }, 'most free memory');
  t.same(
    placed(base().machine('m1', { load: 1, cpus: 1 }).machine('m2', { load: 1.5, cpus: 2 }).run()),
    { 'x.service': 'm2' },
    'lowest load per CPU',
  );
  t.same(placed(base().machine('m1', { load: 1, cpus: 0 }).machine('m2', { load: 0.5, cpus: 0 }).run()), { 'x.service': 'm2' }, 'no cpus counts as one');
  t.same(placed(base().machine('mb').machine('ma').run()), { 'x.service': 'ma' }, 'machine id');
  // Units count whether placed, Global or still running there.
  const w = base().machine('m1').machine('m2').machine('m3').unit('g.service', { global: true, machineMetadata: { g: ['1'] } });
  w.machines.get('m1')!.metadata = { g: '1' };
  w.unit('old.service', { desired: 'inactive' }).reports('old.service', 'm2', 'active');
  w.machines.get('m3')!.memFree = 1;
  t.same(placed(w.run()), { 'x.service': 'm3' });
});

t.test('ranking counts the units placed earlier in the same pass: units spread evenly', async (t) => {
  const w = new World().machine('m1').machine('m2').machine('m3');
  for (let i = 0; i < 9; i++) w.unit(`u${i}.service`);
  const r = w.run();
  const counts: Record<string, number> = {};
  for (const m of Object.values(placed(r))) counts[m] = (counts[m] ?? 0) + 1;
  t.same(counts, { m1: 3, m2: 3, m3: 3 });
});

t.test('a machine that is gone: its units are placed elsewhere at once when their placement is old', async (t) => {
  const w = new World().machine('m2').machine('m3').unit('a.service').placed('a.service', 'm1').unit('b.service').placed('b.service', 'm1');
  const r = w.run();
  t.same(placed(r), { 'a.service': 'm2', 'b.service': 'm3' });
  t.match(decisionOf(r, 'a.service')!.reason, /^machine m1 is gone; desired launched: least loaded/);
  t.same(unplaced(r), {}, 'the placement is overwritten, not deleted first');
  t.same(
    r.decisions.map((d) => (d.kind === 'place' ? d.leaving : undefined)),
    ['m1', 'm1'],
    'each move names the gone machine it leaves (the engine guards its write on that machine staying gone)',
  );
  const fresh = new World().machine('m2').unit('c.service').run();
  t.same(fresh.decisions.map((d) => Object.hasOwn(d, 'leaving')), [false], 'a first placement leaves no machine');
});

t.test('a machine that is gone, within the hold-off: nothing moves until it ends', async (t) => {
  const w = new World().machine('m2').unit('a.service').placed('a.service', 'm1', 3000);
  const r = w.run();
  t.same(r.decisions, []);
  t.equal(reasonOf(r, 'a.service'), 'machine m1 is gone; held off 7.0 s more (placed 3.0 s ago)');
  t.equal(r.retryAt, w.now + 7000);
  w.now += 6999;
  t.same(w.run().decisions, []);
  w.now += 1;
  t.same(placed(w.run()), { 'a.service': 'm2' });
});

t.test('hold-off 0: moves at once; a first placement is never delayed', async (t) => {
  const w = new World().machine('m2').unit('a.service').placed('a.service', 'm1', 0).unit('new.service');
  w.holdOffMs = 0;
  t.same(placed(w.run()), { 'a.service': 'm2', 'new.service': 'm2' });
  const w2 = new World().machine('m1').unit('new.service');
  w2.holdOffMs = 3_600_000;
  t.same(placed(w2.run()), { 'new.service': 'm1' });
});

t.test('a machine that is gone with a MachineOf pair: both move together in one pass', async (t) => {
  const w = new World().machine('m2').machine('m3').unit('x.service').placed('x.service', 'm2');
  w.unit('db.service').placed('db.service', 'm1').unit('app.service', { machineOf: ['db.service'] }).placed('app.service', 'm1');
  t.same(placed(w.run()), { 'app.service': 'm3', 'db.service': 'm3' });
});

t.test('a machine that is gone and no machine can take the unit: the dead placement is removed', async (t) => {
  const w = new World().machine('m2').unit('a.service', { machineMetadata: { disk: ['ssd'] } }).placed('a.service', 'm1');
  const r = w.run();
  t.same(r.decisions, [
    {
      kind: 'unplace',
      unit: 'a.service',
      from: 'm1',
      reason: 'machine m1 is gone and no machine can take the unit: no machine matches MachineMetadata disk=ssd',
    },
  ]);
  t.equal(reasonOf(r, 'a.service'), 'machine m1 is gone; no machine matches MachineMetadata disk=ssd');
});

t.test('two-step move off a live machine that is no longer eligible (metadata changed)', async (t) => {
  const w = new World()
    .machine('m1', { metadata: { region: 'east' } })
    .machine('m2', { metadata: { region: 'west' } })
    .unit('a.service', { machineMetadata: { region: ['west'] } })
    .placed('a.service', 'm1', 3000)
    .reports('a.service', 'm1');
  // Within the hold-off: stays.
  let r = w.run();
  t.same(r.decisions, []);
  t.match(reasonOf(r, 'a.service'), /^no longer eligible on m1: does not match MachineMetadata region=west; held off 7.0 s more/);
  w.now += 7000;
  // Step one: the placement goes, nothing is placed.
  r = w.run();
  t.same(r.decisions.map((d) => d.kind), ['unplace']);
  w.apply(r);
  // While m1 still runs it, it is not placed anywhere.
  r = w.run();
  t.same(r.decisions, []);
  w.reports('a.service', 'm1', 'deactivating');
  t.same(w.run().decisions, []);
  // Step two: m1 stopped it (its state went inactive, or away).
  w.reports('a.service', 'm1', 'failed');
  t.same(placed(w.run()), { 'a.service': 'm2' });
  w.states.clear();
  t.same(placed(w.run()), { 'a.service': 'm2' });
});

t.test('an unplaced unit still running on an eligible machine is placed back there', async (t) => {
  const w = new World().machine('m1').machine('m2').unit('x.service').placed('x.service', 'm1').unit('a.service').reports('a.service', 'm1', 'active');
  const r = w.run();
  t.same(placed(r), { 'a.service': 'm1' });
  t.match(decisionOf(r, 'a.service')!.reason, /still running on m1, which is eligible: placed back there/);
});

t.test('an unplaced unit reported running on two machines waits for both', async (t) => {
  const w = new World().machine('m1').machine('m2').unit('a.service').reports('a.service', 'm1').reports('a.service', 'm2', 'activating');
  t.equal(reasonOf(w.run(), 'a.service'), 'waiting for m1, m2 to stop it before it runs elsewhere');
});

t.test('a unit whose file is invalid: not placed, reported; a placed one is left where it is', async (t) => {
  const w = new World().machine('m1').unit('bad.service', { invalid: 'bad.service:3: nope' }).unit('old.service', { invalid: 'x' }).placed('old.service', 'm1');
  const r = w.run();
  t.same(r.decisions, []);
  t.equal(reasonOf(r, 'bad.service'), 'unit file is invalid: bad.service:3: nope');
  t.equal(reasonOf(r, 'old.service'), 'unit file is invalid (x); left on m1');
  // Without a reason given.
  const w2 = new World().machine('m1');
  w2.units.set('q.service', { name: 'q.service', desired: 'launched', hash: 'h' });
  w2.units.set('p.service', { name: 'p.service', desired: 'launched', hash: 'h' });
  w2.placed('p.service', 'm1');
  const r2 = w2.run();
  t.equal(reasonOf(r2, 'q.service'), 'unit file is invalid: unknown error');
  t.equal(reasonOf(r2, 'p.service'), 'unit file is invalid (unknown error); left on m1');
  // Invalid and its machine gone: the dead placement is removed.
  const w3 = new World().machine('m2').unit('bad.service', { invalid: 'e' }).placed('bad.service', 'm1');
  t.same(unplaced(w3.run()), { 'bad.service': 'm1' });
});

t.test('a MachineOf follower moves with its target (two-step), then lands next to it', async (t) => {
  const w = new World()
    .machine('m1')
    .machine('m2', { metadata: { disk: 'ssd' } })
    .unit('db.service', { machineMetadata: { disk: ['ssd'] } })
    .unit('app.service', { machineOf: ['db.service'] })
    .placed('db.service', 'm1')
    .placed('app.service', 'm1')
    .settle();
  let r = w.run();
  t.same(unplaced(r), { 'app.service': 'm1', 'db.service': 'm1' });
  t.match(decisionOf(r, 'app.service')!.reason, /MachineOf=db.service is not placed there/);
  w.apply(r);
  // Both wait until m1 has stopped them.
  t.equal(reasonOf(w.run(), 'db.service'), 'waiting for m1 to stop it before it runs elsewhere');
  w.settle();
  r = w.converge();
  t.same(w.where(), { 'app.service': 'm2', 'db.service': 'm2' });
  t.same(r.unschedulable, []);
});

t.test('the result is deterministic: same state, same decisions, whatever the maps\' order', async (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const a = randomWorld(seed, false);
    const b = randomWorld(seed, true);
    t.same(b.run(), a.run(), `seed ${seed}`);
  }
});

t.test('generated worlds: every placement meets its constraints and no two conflicting units share a machine', async (t) => {
  for (let seed = 1; seed <= 60; seed++) {
    const w = randomWorld(seed, false);
    const r = w.converge(30, w.holdOffMs);
    const where = w.where();
    for (const [name, machine] of Object.entries(where)) {
      const u = w.units.get(name)!;
      const o = u.options!;
      const m = w.machines.get(machine);
      t.ok(m, `seed ${seed}: ${name} is on a live machine`);
      if (!m) continue;
      if (o.machineId !== undefined) t.equal(machine, o.machineId, `seed ${seed}: ${name} MachineID`);
      t.ok(metadataMatches(o.machineMetadata, m.metadata), `seed ${seed}: ${name} metadata`);
      for (const target of o.machineOf) {
        const tu = w.units.get(target)!;
        if (tu.options!.global) t.ok(metadataMatches(tu.options!.machineMetadata, m.metadata), `seed ${seed}: ${name} MachineOf global ${target}`);
        else t.equal(where[target], machine, `seed ${seed}: ${name} MachineOf ${target}`);
      }
      for (const [other, om] of Object.entries(where)) {
        if (other === name || om !== machine) continue;
        const clash = o.conflicts.some((p) => globLike(p, other)) || (w.units.get(other)!.options!.conflicts.some((p) => globLike(p, name)));
        t.notOk(clash, `seed ${seed}: ${name} and ${other} conflict on ${machine}`);
      }
    }
    // Each unit that should run is placed or has a reason.
    for (const [name, u] of w.units) {
      if (u.desired === 'inactive' || u.options?.global) continue;
      t.ok(where[name] !== undefined || reasonOf(r, name) !== undefined, `seed ${seed}: ${name} placed or explained`);
    }
  }
});

t.test('shortId', async (t) => {
  t.equal(shortId('0123456789abcdef'), '01234567');
  t.equal(shortId('m1'), 'm1');
});

t.test('schedule() does not modify its input', async (t) => {
  const w = randomWorld(7, false);
  const before = JSON.stringify([[...w.units], [...w.placements], [...w.machines], [...w.states].map(([k, v]) => [k, [...v]])]);
  schedule({ units: w.units, machines: w.machines, placements: w.placements, states: w.states, now: w.now, holdOffMs: w.holdOffMs });
  t.equal(JSON.stringify([[...w.units], [...w.placements], [...w.machines], [...w.states].map(([k, v]) => [k, [...v]])]), before);
});

/** Our test patterns are `prefix*` or exact names. */
function globLike(pattern: string, name: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

/** A random cluster: machines with metadata, units with every option, some placed, some on dead machines. */
function randomWorld(seed: number, shuffled: boolean): World {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const w = new World();
  const machines = Array.from({ length: 2 + Math.floor(rand() * 4) }, (_, i) => `m${i}`);
  for (const id of machines) w.machine(id, { metadata: { region: pick(['east', 'west']) }, memFree: pick([1e9, 2e9]), load: pick([0, 1]) });
  const names = Array.from({ length: 4 + Math.floor(rand() * 10) }, (_, i) => `${pick(['web', 'db', 'job'])}${i}.service`);
  const units: [string, SchedulerUnit][] = [];
  for (const name of names) {
    const r = rand();
    const spec: Parameters<World['unit']>[1] = { desired: pick(['launched', 'launched', 'loaded', 'inactive'] as const) };
    if (r < 0.2) spec.conflicts = [pick(['web*', 'db*', 'job*'])];
    else if (r < 0.3) spec.machineMetadata = { region: [pick(['east', 'west'])] };
    else if (r < 0.4) spec.machineOf = [pick(names)].filter((n) => n !== name);
    else if (r < 0.45) spec.machineId = pick([...machines, 'nomachine']);
    else if (r < 0.5) spec.global = true;
    else if (r < 0.55) spec.replaces = [pick(names)].filter((n) => n !== name);
    w.unit(name, spec);
    units.push([name, w.units.get(name)!]);
    if (rand() < 0.3) w.placed(name, pick([...machines, 'dead1']), pick([0, 5000, 3_600_000]));
  }
  if (shuffled) {
    // Same content, other insertion orders.
    w.units = new Map(units.reverse());
    w.machines = new Map([...w.machines].reverse());
    w.placements = new Map([...w.placements].reverse());
  }
  return w;
}
