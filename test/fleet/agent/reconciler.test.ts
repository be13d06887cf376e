// The reconciler against a real single-member kvd and a real Runner (real processes): placements
// start units and their state appears, desired states are followed, a --replace restarts with the
// new content, broken files are reported, Global units follow metadata, and state is written only
// when it changes.
import { readFile } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { Client, toText } from '../../../src/client/index.js';
import { Reconciler } from '../../../src/fleet/agent/reconciler.js';
import { Registry, RegistryView, type MachineRecord, type RegistrySnapshot, type UnitStateRecord } from '../../../src/fleet/registry/index.js';
import { Runner } from '../../../src/fleet/runner/index.js';
import type { DesiredState } from '../../../src/fleet/types.js';
import { parseUnitFile, unitHash, type MachineFacts } from '../../../src/fleet/unit/index.js';
import { KvdCluster } from '../../server/kvd-harness.js';
import { alive, sleeperUnit, tempDir, untilView } from './helpers.js';

const M1 = '1'.repeat(32);
const M2 = '2'.repeat(32);

let cluster: KvdCluster;
let client: Client;
let prefixes = 0;

t.before(async () => {
  cluster = await KvdCluster.create(1);
  client = new Client({ endpoints: [cluster.members[0]!.url], autoSyncMembers: false });
});
t.teardown(async () => {
  client.close();
  await cluster.close();
});

function record(id: string, metadata: Record<string, string>): MachineRecord {
  return { id, publicIp: '127.0.0.1', metadata, agentUrl: '', cpus: 1, memTotal: 1e9, memFree: 5e8, load: 0, version: 'test', startedAt: 0 };
}

interface Machine {
  id: string;
  runner: Runner;
  reconciler: Reconciler;
  lease: bigint;
  warnings: string[];
}

/** A registry under a fresh prefix, a view of it, and machines each with its lease, runner and reconciler. */
async function world(t: Test, machines: { id: string; metadata?: Record<string, string>; facts?: MachineFacts }[]) {
  const registry = new Registry(client, `/t${++prefixes}/fleet/`);
  const view = new RegistryView(registry);
  await view.start();
  const dir = await tempDir();
  const out: Machine[] = [];
  for (const m of machines) {
    const runner = new Runner({ stateDir: `${dir.path}/${m.id}`, baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    const { ID } = await client.leaseGrant(60);
    const rev = await registry.announce(record(m.id, m.metadata ?? {}), ID);
    const reconciler = new Reconciler({ view, states: registry, runner, machine: { id: m.id, metadata: m.metadata ?? {} }, ...(m.facts ? { facts: m.facts } : {}) });
    const warnings: string[] = [];
    reconciler.on('warning', (e) => warnings.push(e.message));
    reconciler.start();
    reconciler.setLease(ID, rev);
    out.push({ id: m.id, runner, reconciler, lease: ID, warnings });
  }
  t.teardown(async () => {
    for (const m of out) {
      m.reconciler.stop();
      await m.runner.killAll();
      await m.reconciler.settled();
    }
    await view.stop();
    await dir.remove();
  });
  const state = (s: RegistrySnapshot, name: string, machine: string): UnitStateRecord | undefined => s.states.get(name)?.get(machine);
  return {
    registry,
    view,
    machines: out,
    state,
    async submit(name: string, text: string, desired: DesiredState = 'launched', replace = false) {
      await registry.submit(parseUnitFile(name, text), { desired, replace });
      return unitHash(text);
    },
    async place(name: string, machine: string) {
      const u = (await registry.getUnit(name))!;
      const ok = await registry.setPlacement(name, { machine, hash: u.unit.hash, at: Date.now(), engine: 'test' }, []);
      if (!ok) throw new Error('placement refused');
    },
    until: (cond: (s: RegistrySnapshot) => boolean, what: string) => untilView(view, cond, what),
  };
}

t.test('a unit placed here is started and reported; desired states are followed; unplaced, it goes', async (t) => {
  const w = await world(t, [{ id: M1 }]);
  const [m] = w.machines;
  const hash = await w.submit('hello.service', sleeperUnit('v1'));
  await w.place('hello.service', M1);
  let s = await w.until((s) => w.state(s, 'hello.service', M1)?.sub === 'running', 'hello running');
  const running = w.state(s, 'hello.service', M1)!;
  t.match(running, { name: 'hello.service', machine: M1, hash, load: 'loaded', active: 'active', sub: 'running', restarts: 0 });
  t.ok(alive(running.mainPid), 'the reported main pid is a live process');
  t.equal(m!.runner.status('hello.service')?.mainPid, running.mainPid);
  const key = w.registry.keys.state('hello.service', M1);
  t.equal((await client.get(key)).kvs[0]!.lease, m!.lease, 'the state key is bound to the machine lease');

  // Stopped but kept loaded.
  await w.registry.setDesired('hello.service', 'loaded');
  s = await w.until((s) => w.state(s, 'hello.service', M1)?.active === 'inactive', 'hello stopped');
  t.match(w.state(s, 'hello.service', M1), { load: 'loaded', sub: 'dead' });
  t.notOk(alive(running.mainPid), 'its process is gone');

  // Started again.
  await w.registry.setDesired('hello.service', 'launched');
  s = await w.until((s) => w.state(s, 'hello.service', M1)?.sub === 'running', 'hello running again');
  const again = w.state(s, 'hello.service', M1)!;
  t.not(again.mainPid, running.mainPid);

  // Unplaced: stopped, unloaded, its state deleted.
  await w.registry.setPlacement('hello.service', undefined, []);
  await w.until((s) => w.state(s, 'hello.service', M1) === undefined, 'hello state gone');
  await m!.reconciler.settled();
  t.equal(m!.runner.status('hello.service'), undefined, 'unloaded from the runner');
  t.notOk(alive(again.mainPid));
  t.same(m!.reconciler.units(), []);
  t.same(m!.warnings, []);
});

t.test("the machine's specifiers stand for the machine that runs the unit", async (t) => {
  const facts = { machineId: M1, bootId: 'b'.repeat(32), hostname: 'host1.example.com' };
  const w = await world(t, [{ id: M1, facts }]);
  const dir = await tempDir();
  t.teardown(() => dir.remove());
  // ExecStartPre has finished when the unit is running: the file is there by then.
  const text = `[Service]\nExecStartPre=/bin/sh -c 'echo %H %l %m %b %i 100%% > ${dir.path}/%n.txt'\nExecStart=/bin/sleep 1000\nTimeoutStopSec=5\n`;
  await w.submit('who@7.service', text);
  await w.place('who@7.service', M1);
  await w.until((s) => w.state(s, 'who@7.service', M1)?.sub === 'running', 'who@7 running');
  t.equal(await readFile(`${dir.path}/who@7.service.txt`, 'utf8'), `host1.example.com host1 ${M1} ${'b'.repeat(32)} 7 100%\n`);
  t.same(w.machines[0]!.warnings, []);
});

t.test('fleetctl --replace: the old content is stopped, the new one started', async (t) => {
  const w = await world(t, [{ id: M1 }]);
  const [m] = w.machines;
  await w.submit('web.service', sleeperUnit('v1'));
  await w.place('web.service', M1);
  let s = await w.until((s) => w.state(s, 'web.service', M1)?.sub === 'running', 'v1 running');
  const v1 = w.state(s, 'web.service', M1)!;
  const h2 = await w.submit('web.service', sleeperUnit('v2'), 'launched', true);
  s = await w.until((s) => w.state(s, 'web.service', M1)?.hash === h2 && w.state(s, 'web.service', M1)?.sub === 'running', 'v2 running');
  const v2 = w.state(s, 'web.service', M1)!;
  t.not(v2.mainPid, v1.mainPid);
  t.notOk(alive(v1.mainPid), 'the old process is gone');
  t.ok(alive(v2.mainPid));
  const text = m!.runner.journal('web.service').tail().map((e) => e.text);
  t.ok(text.includes('hello v2'), 'the new content runs');
  t.equal(m!.reconciler.unit('web.service')?.hash, h2);
});

t.test('a broken unit file is reported as a load error, and nothing crashes', async (t) => {
  const w = await world(t, [{ id: M1 }]);
  const [m] = w.machines;
  const hash = await w.submit('bad.service', '[Service]\nExecStart=/bin/true\nRestart=sometimes\n');
  await w.place('bad.service', M1);
  const s = await w.until((s) => w.state(s, 'bad.service', M1) !== undefined, 'bad reported');
  t.match(w.state(s, 'bad.service', M1), {
    hash,
    load: 'error',
    active: 'inactive',
    sub: 'dead',
    loadError: 'bad.service:3: Restart=sometimes: unknown restart policy (no, on-failure or always)',
  });
  t.equal(m!.runner.status('bad.service'), undefined, 'not in the runner');
  t.match(m!.reconciler.unit('bad.service'), { load: 'error' });

  // Fixed with --replace: loaded and started.
  const fixed = await w.submit('bad.service', sleeperUnit('fixed'), 'launched', true);
  await w.until((s) => w.state(s, 'bad.service', M1)?.hash === fixed && w.state(s, 'bad.service', M1)?.sub === 'running', 'fixed unit running');
  const rec = w.state(w.view.current, 'bad.service', M1)!;
  t.equal(rec.loadError, undefined);
});

t.test('a unit that cannot start is reported failed, with the result', async (t) => {
  const w = await world(t, [{ id: M1 }]);
  await w.submit('nouser.service', '[Service]\nExecStart=/bin/true\nUser=no-such-user-here\n');
  await w.place('nouser.service', M1);
  const s = await w.until((s) => w.state(s, 'nouser.service', M1)?.active === 'failed', 'failed');
  t.match(w.state(s, 'nouser.service', M1), { load: 'loaded', sub: 'failed', result: 'exit-code' });
});

t.test('a unit the runner refuses to load is a load error', async (t) => {
  const w = await world(t, [{ id: M1 }]);
  const [m] = w.machines;
  const load = m!.runner.load.bind(m!.runner);
  m!.runner.load = (name, spec) => (name === 'refused.service' ? Promise.reject(new Error('refused.service: Service has no ExecStart= setting. Refusing.')) : load(name, spec));
  await w.submit('refused.service', sleeperUnit('r'));
  await w.place('refused.service', M1);
  const s = await w.until((s) => w.state(s, 'refused.service', M1) !== undefined, 'reported');
  t.match(w.state(s, 'refused.service', M1), { load: 'error', active: 'inactive', loadError: 'refused.service: Service has no ExecStart= setting. Refusing.' });
  // Unplaced: its state goes although it never reached the runner.
  await w.registry.setPlacement('refused.service', undefined, []);
  await w.until((s) => w.state(s, 'refused.service', M1) === undefined, 'gone');
});

t.test('state is written only when a reported field changes', async (t) => {
  const w = await world(t, [{ id: M1 }]);
  const [m] = w.machines;
  await w.submit('quiet.service', sleeperUnit('q'));
  await w.place('quiet.service', M1);
  await w.until((s) => w.state(s, 'quiet.service', M1)?.sub === 'running', 'running');
  await m!.reconciler.settled();
  const before = { ...m!.reconciler.writes };
  t.ok(before.puts >= 2 && before.puts <= 4, `a start is a few writes (loaded, start-pre/start, running): ${before.puts}`);

  // Many registry changes that do not concern this unit's state.
  for (let i = 0; i < 5; i++) await w.submit(`other${i}.service`, sleeperUnit(`o${i}`), 'inactive');
  await w.registry.announce(record(M1, { changed: 'yes' }), m!.lease);
  const last = await w.submit('elsewhere.service', sleeperUnit('e'));
  await w.place('elsewhere.service', M2);
  await w.until((s) => s.placements.get('elsewhere.service')?.hash === last, 'all changes seen');
  await m!.reconciler.settled();
  t.same(m!.reconciler.writes, before, 'no state write for changes that do not change the state');

  // A new lease: every state is written again, once.
  const { ID } = await client.leaseGrant(60);
  const rev = await w.registry.announce(record(M1, {}), ID);
  m!.reconciler.setLease(ID, rev);
  await m!.reconciler.settled();
  t.equal(m!.reconciler.writes.puts, before.puts + 1, 'the state is re-reported under the new lease');
  const key = w.registry.keys.state('quiet.service', M1);
  t.equal((await client.get(key)).kvs[0]!.lease, ID);
  m!.reconciler.setLease(ID, rev);
  await m!.reconciler.settled();
  t.equal(m!.reconciler.writes.puts, before.puts + 2, 'setLease always rewrites (a new lease has none of the keys)');
});

t.test('Global units run on every machine whose metadata matches', async (t) => {
  const w = await world(t, [
    { id: M1, metadata: { region: 'east' } },
    { id: M2, metadata: { region: 'west' } },
  ]);
  const [m1, m2] = w.machines;
  await w.submit('east.service', sleeperUnit('east', '\n[X-Fleet]\nGlobal=true\nMachineMetadata=region=east\n'));
  await w.submit('all.service', sleeperUnit('all', '\n[X-Fleet]\nGlobal=true\n'));
  const s = await w.until(
    (s) => w.state(s, 'east.service', M1)?.sub === 'running' && w.state(s, 'all.service', M1)?.sub === 'running' && w.state(s, 'all.service', M2)?.sub === 'running',
    'globals running',
  );
  t.equal(w.state(s, 'east.service', M2), undefined, 'not on the machine in the west');
  await m2!.reconciler.settled();
  t.equal(m2!.runner.status('east.service'), undefined);
  t.equal(m1!.reconciler.unit('east.service')?.global, true);

  // Desired inactive: gone everywhere.
  await w.registry.setDesired('all.service', 'inactive');
  await w.until((s) => s.states.get('all.service') === undefined, 'all.service gone');
});

t.test('a stale state of this machine (from an older lease) is deleted', async (t) => {
  const w = await world(t, [{ id: M1 }]);
  const [m] = w.machines;
  const { ID } = await client.leaseGrant(60);
  await w.registry.reportState({ name: 'ghost.service', machine: M1, hash: 'x', load: 'loaded', active: 'active', sub: 'running', since: 0 }, ID);
  await w.registry.reportState({ name: 'ghost.service', machine: M2, hash: 'x', load: 'loaded', active: 'active', sub: 'running', since: 0 }, ID);
  const s = await w.until((s) => w.state(s, 'ghost.service', M1) === undefined && w.state(s, 'ghost.service', M2) !== undefined, 'ghost cleared');
  t.ok(w.state(s, 'ghost.service', M2), "another machine's state is not touched");
  await m!.reconciler.settled();
  t.equal(m!.reconciler.writes.deletes, 1);
});

t.test('units run only after the view has seen the announcement; content missing is reported', async (t) => {
  const w = await world(t, [{ id: M1 }]);
  const [m] = w.machines;
  // Pretend this machine was announced at a revision far ahead: nothing may start before the view gets there.
  m!.reconciler.setLease(m!.lease, Number.MAX_SAFE_INTEGER);
  await w.submit('wait.service', sleeperUnit('w'));
  await w.place('wait.service', M1);
  await w.until((s) => s.placements.has('wait.service'), 'placement seen');
  await m!.reconciler.settled();
  t.equal(m!.runner.status('wait.service'), undefined, 'not loaded');
  const rev = await w.registry.announce(record(M1, {}), m!.lease);
  m!.reconciler.setLease(m!.lease, rev);
  await w.until((s) => w.state(s, 'wait.service', M1)?.sub === 'running', 'runs once caught up');

  // A unit whose content is missing (a record written by hand): not-found, with the reason.
  await client.put(w.registry.keys.unit('lost.service'), JSON.stringify({ name: 'lost.service', hash: 'f'.repeat(64), desired: 'launched' }));
  await w.registry.setPlacement('lost.service', { machine: M1, hash: 'f'.repeat(64), at: 0, engine: 'test' }, []);
  const s = await w.until((s) => w.state(s, 'lost.service', M1) !== undefined, 'lost reported');
  t.match(w.state(s, 'lost.service', M1), { load: 'not-found', loadError: `unit content ${'f'.repeat(64)} is missing from the registry` });
  // The content arrives: loaded and started.
  await client.put(w.registry.keys.content('f'.repeat(64)), sleeperUnit('found'));
  await w.until((s) => w.state(s, 'lost.service', M1)?.sub === 'running', 'found and running');
  t.equal(toText((await client.get(w.registry.keys.content('f'.repeat(64)))).kvs[0]!.value), sleeperUnit('found'));
});

t.test('a start in flight is interrupted when the unit is no longer wanted', async (t) => {
  const w = await world(t, [{ id: M1 }]);
  const [m] = w.machines;
  // ExecStartPre keeps the unit activating until stopped.
  await w.submit('slow.service', '[Service]\nExecStartPre=/bin/sleep 1000\nExecStart=/bin/sleep 1000\nTimeoutStartSec=0\n');
  await w.place('slow.service', M1);
  await w.until((s) => w.state(s, 'slow.service', M1)?.active === 'activating', 'activating');
  const started = Date.now();
  await w.registry.setPlacement('slow.service', undefined, []);
  await w.until((s) => w.state(s, 'slow.service', M1) === undefined, 'gone');
  t.ok(Date.now() - started < 10_000, 'stopped without waiting for the start to finish');
  await m!.reconciler.settled();
  t.equal(m!.runner.status('slow.service'), undefined);
});

t.test('failed state writes are retried', async (t) => {
  const w = await world(t, []);
  const dir = await tempDir();
  const runner = new Runner({ stateDir: dir.path, baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  let failures = 2;
  const states = {
    reportState: (st: UnitStateRecord, lease: bigint) => (failures-- > 0 ? Promise.reject(new Error('etcdserver: request timed out')) : w.registry.reportState(st, lease)),
    clearState: (name: string, machine: string) => w.registry.clearState(name, machine),
  };
  const reconciler = new Reconciler({ view: w.view, states, runner, machine: { id: M1, metadata: {} }, retryMs: 50 });
  const warnings: string[] = [];
  reconciler.on('warning', (e) => warnings.push(e.message));
  t.teardown(async () => {
    reconciler.stop();
    await runner.killAll();
    await reconciler.settled();
    await dir.remove();
  });
  const { ID } = await client.leaseGrant(60);
  const rev = await w.registry.announce(record(M1, {}), ID);
  reconciler.start();
  reconciler.setLease(ID, rev);
  await w.submit('retry.service', sleeperUnit('r'));
  await w.place('retry.service', M1);
  await w.until((s) => w.state(s, 'retry.service', M1)?.sub === 'running', 'reported after the failures');
  t.ok(warnings.length >= 1 && warnings.every((m) => m === 'etcdserver: request timed out'), `failed writes are warnings (${warnings.length})`);
});
