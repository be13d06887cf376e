// The registry against a real kvd: guarded writes, submit/replace rules, and the live view.
import t from 'tap';
import { Client, Compare } from '../../../src/client/index.js';
import { Registry, RegistryError, RegistryKeys, RegistryView, decodeMachine, decodeState, decodeUnit, RecordError } from '../../../src/fleet/registry/index.js';
import type { UnitFile } from '../../../src/fleet/types.js';
import { KvdCluster } from '../../server/kvd-harness.js';

const unit = (name: string, text: string): UnitFile => ({ name, text, sections: [] });

t.test('keys: layout and parse', async (t) => {
  const k = new RegistryKeys('/p');
  t.equal(k.prefix, '/p/');
  t.equal(k.unit('a.service'), '/p/unit/a.service');
  t.equal(k.state('web@1.service', 'abc'), '/p/state/web@1.service/abc');
  t.same(k.parse('/p/state/web@1.service/abc'), { kind: 'state', name: 'web@1.service', machine: 'abc' });
  t.same(k.parse('/p/content/ff'), { kind: 'content', hash: 'ff' });
  t.same(k.parse('/p/machine/m1'), { kind: 'machine', id: 'm1' });
  t.same(k.parse('/p/placement/a.service'), { kind: 'placement', name: 'a.service' });
  t.same(k.parse('/p/engine/1234'), { kind: 'engine' });
  t.equal(k.parse('/q/unit/a'), undefined);
  t.equal(k.parse('/p/nothing'), undefined);
  t.equal(k.parse('/p/other/x'), undefined);
  t.equal(k.parse('/p/state/only'), undefined);
});

t.test('records: bad records are named, not trusted', async (t) => {
  t.throws(() => decodeUnit('k', 'nope'), RecordError);
  t.throws(() => decodeUnit('k', '[]'), /not a JSON object/);
  t.throws(() => decodeUnit('k', '{"name":"a","hash":"h","desired":"running"}'), /field "desired" is "running", not one of inactive, loaded, launched/);
  t.throws(() => decodeMachine('k', '{"id":"m","publicIp":"1","metadata":{"a":1}}'), /metadata/);
  t.throws(() => decodeState('k', '{"name":"a","machine":"m","hash":"h","load":"loaded","active":"active","sub":"running","since":"x"}'), /field "since" must be a number/);
  const s = decodeState('k', '{"name":"a","machine":"m","hash":"h","load":"loaded","active":"failed","sub":"failed","since":1,"exitCode":3,"result":"exit-code","mainPid":9,"exitSignal":"SIGKILL","restarts":2}');
  t.same(s, { name: 'a', machine: 'm', hash: 'h', load: 'loaded', active: 'failed', sub: 'failed', since: 1, exitCode: 3, result: 'exit-code', mainPid: 9, exitSignal: 'SIGKILL', restarts: 2 });
});

t.test('registry against kvd', async (t) => {
  const cluster = await KvdCluster.create(1);
  const client = new Client({ endpoints: [cluster.members[0]!.url], autoSyncMembers: false });
  t.teardown(async () => {
    client.close();
    await cluster.close();
  });
  const reg = new Registry(client, '/t/fleet/');

  t.test('submit, resubmit, conflict, replace', async (t) => {
    t.equal(await reg.submit(unit('a.service', 'v1')), 'created');
    t.equal(await reg.submit(unit('a.service', 'v1')), 'unchanged');
    await t.rejects(reg.submit(unit('a.service', 'v2')), { code: 'UnitExists', message: /already exists with different content \(use --replace/ });
    await reg.setDesired('a.service', 'launched');
    t.equal(await reg.submit(unit('a.service', 'v2'), { replace: true }), 'replaced');
    const got = await reg.getUnit('a.service');
    t.equal(got?.unit.desired, 'launched', 'a replaced unit keeps its desired state');
    t.equal(await reg.getContent(got!.unit.hash), 'v2');
    await t.rejects(reg.getContent('00'), RegistryError);
  });

  t.test('desired state', async (t) => {
    await reg.submit(unit('b.service', 'b'), { desired: 'loaded' });
    t.equal((await reg.getUnit('b.service'))?.unit.desired, 'loaded');
    await reg.submit(unit('b.service', 'b'), { desired: 'launched' });
    t.equal((await reg.getUnit('b.service'))?.unit.desired, 'launched', 'resubmitting with a higher state raises it');
    await reg.submit(unit('b.service', 'b'), { desired: 'inactive' });
    t.equal((await reg.getUnit('b.service'))?.unit.desired, 'launched', 'and never lowers it');
    await reg.setDesired('b.service', 'inactive');
    t.equal((await reg.getUnit('b.service'))?.unit.desired, 'inactive');
    await t.rejects(reg.setDesired('nope.service', 'loaded'), { code: 'UnitNotFound', message: 'unit nope.service does not exist' });
  });

  t.test('guarded placement, announce, states, destroy, and the live view', async (t) => {
    const view = new RegistryView(reg);
    await view.start();
    t.teardown(() => view.stop());
    const lease = (await client.leaseGrant(30)).ID;
    const changed = new Promise<void>((resolve) => {
      const on = () => {
        if (view.current.machines.has('m1') && view.current.states.get('a.service')?.has('m1') && view.current.placements.has('a.service')) {
          view.off('change', on);
          resolve();
        }
      };
      view.on('change', on);
    });
    await reg.announce({ id: 'm1', publicIp: '127.0.0.1', metadata: { region: 'x' }, agentUrl: '', cpus: 2, memTotal: 1, memFree: 1, load: 0, version: 't', startedAt: 1 }, BigInt(lease));
    const pkey = reg.keys.placement('a.service');
    t.ok(await reg.setPlacement('a.service', { machine: 'm1', hash: 'h', at: 1, engine: 'e' }, [Compare.createRevision(pkey, '=', 0)]));
    t.notOk(await reg.setPlacement('a.service', { machine: 'm2', hash: 'h', at: 2, engine: 'e' }, [Compare.createRevision(pkey, '=', 0)]), 'a stale guard is refused');
    await reg.reportState({ name: 'a.service', machine: 'm1', hash: 'h', load: 'loaded', active: 'active', sub: 'running', since: 5 }, BigInt(lease));
    await changed;
    t.equal(view.current.placements.get('a.service')?.machine, 'm1');
    t.equal(view.current.machines.get('m1')?.metadata.region, 'x');
    t.ok(view.current.modRevisions.get(pkey)! > 0);

    const gone = new Promise<void>((resolve) => {
      const on = () => {
        if (!view.current.machines.has('m1') && !view.current.states.has('a.service')) {
          view.off('change', on);
          resolve();
        }
      };
      view.on('change', on);
    });
    await client.leaseRevoke(lease);
    await gone;
    t.pass('revoking the lease removes the machine and its states from the view');

    await client.put(reg.keys.unit('bad.service'), 'not json');
    const snap = await reg.snapshot();
    t.match(snap.errors.map((e) => e.message), [/registry record \/t\/fleet\/unit\/bad.service: not JSON/]);
    t.equal(snap.units.has('bad.service'), false);

    t.ok(await reg.destroy('a.service'));
    t.notOk(await reg.destroy('a.service'), 'destroying a missing unit says so');
    const after = await reg.snapshot();
    t.equal(after.units.has('a.service'), false);
    t.equal(after.placements.has('a.service'), false);
    await reg.clearState('a.service', 'm1');
  });
});
