// Watches against a real kvd that is killed (kill -9) and restarted on its data directory: the
// service watch and the config watch see every change, in order, once, including the changes
// made while they were reconnecting.
import t from 'tap';
import { Client, Op } from '../../src/client/index.js';
import {
  encodeInstance,
  instanceKey,
  mirrorPrefix,
  validateDefinition,
  watch,
  watchConfig,
  watchJsonConfig,
  type ConfigSnapshot,
  type JsonConfigSnapshot,
  type MirrorUpdate,
  type ServiceInstance,
  type ServiceSet,
} from '../../src/discovery/index.js';
import { KvdCluster } from '../server/kvd-harness.js';
import { quiet, until } from './helpers.js';

const kvd = await KvdCluster.create(1);
t.teardown(() => kvd.close());
const member = kvd.members[0]!;
// The watchers' client, and another one for the writes (as a separate process would be).
const client = new Client({ endpoints: [member.url], logger: quiet, watchHeartbeatMs: 1000 });
t.teardown(() => client.close());
const writer = new Client({ endpoints: [member.url], logger: quiet, requestTimeoutMs: 20000 });
t.teardown(() => writer.close());

function instance(id: string, status: ServiceInstance['Status']): ServiceInstance {
  return { ...validateDefinition({ Name: 'svc', ID: id, Address: '127.0.0.1', Port: 1000 + Number(id.slice(1)) }, { node: 'm1' }), Status: status };
}

/** Collects what an async iterator yields, in the background. */
function collect<T>(it: AsyncIterable<T>): { items: T[]; done: Promise<void> } {
  const items: T[] = [];
  const done = (async () => {
    for await (const x of it) items.push(x);
  })();
  return { items, done };
}

async function restartKvd(): Promise<void> {
  await member.kill9();
  await member.start();
}

t.test('service watch and the mirror under it: every change once, in order, across kill -9 of kvd', async (t) => {
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const sets = collect<ServiceSet>(watch(client, 'svc', { signal: ac.signal }));
  const raw = collect<MirrorUpdate>(
    (async function* () {
      for await (const u of mirrorPrefix(client, instanceKey('/flotilla/services/', 'svc', ''), { signal: ac.signal })) {
        yield { ...u, entries: new Map(u.entries) };
      }
    })(),
  );
  await until(() => sets.items.length === 1 && raw.items.length === 1, 10000, 'the initial sets');
  const start = sets.items[0]!.revision;

  // [revision, expected IDs:statuses] of each write.
  const expected: [number, string[]][] = [];
  const put = async (i: ServiceInstance, state: string[]) => {
    const r = await writer.put(instanceKey('/flotilla/services/', 'svc', i.ID), encodeInstance(i));
    expected.push([r.header.revision!, state]);
  };
  const del = async (id: string, state: string[]) => {
    const r = await writer.delete(instanceKey('/flotilla/services/', 'svc', id));
    expected.push([r.header.revision!, state]);
  };
  await put(instance('i1', 'passing'), ['i1:passing']);
  await put(instance('i2', 'passing'), ['i1:passing', 'i2:passing']);
  await put(instance('i2', 'critical'), ['i1:passing', 'i2:critical']);
  await until(() => sets.items.length === 4, 10000, 'the first three changes');

  await restartKvd();
  // Written at once, while the watchers may still be reconnecting: they must resume from history.
  await put(instance('i2', 'passing'), ['i1:passing', 'i2:passing']);
  await put(instance('i3', 'warning'), ['i1:passing', 'i2:passing', 'i3:warning']);
  await del('i1', ['i2:passing', 'i3:warning']);
  await until(() => sets.items.length === 7, 15000, 'the changes after the restart');

  await restartKvd();
  await del('i2', ['i3:warning']);
  await until(() => sets.items.length === 8 && raw.items.length === 8, 15000, 'the change after the second restart');

  const seen = sets.items.slice(1).map((s) => [s.revision, s.instances.map((i) => `${i.ID}:${i.Status}`)]);
  t.same(seen, expected, 'each change, in order, once');
  t.ok(sets.items.every((s, i) => i === 0 || s.revision > sets.items[i - 1]!.revision), 'revisions only go up');
  t.ok(start < expected[0]![0]);
  t.same(
    raw.items.map((u) => u.revision),
    [raw.items[0]!.revision, ...expected.map(([rev]) => rev)],
    'the mirror yields exactly one update per revision written: no duplicate, no gap',
  );
  t.ok(raw.items.slice(1).every((u) => !u.reset && u.events.length === 1), 'resumed, not read again');
  ac.abort();
  await Promise.all([sets.done, raw.done]);
});

t.test('a filtered watch yields only when the filtered set changes', async (t) => {
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  await writer.put(instanceKey('/flotilla/services/', 'flt', 'a1'), encodeInstance({ ...instance('i1', 'passing'), Service: 'flt', ID: 'a1' }));
  const sets = collect<ServiceSet>(watch(client, 'flt', { passingOnly: true, signal: ac.signal }));
  await until(() => sets.items.length === 1);
  await writer.put(instanceKey('/flotilla/services/', 'flt', 'a2'), encodeInstance({ ...instance('i2', 'critical'), Service: 'flt', ID: 'a2' }));
  await writer.put(instanceKey('/flotilla/services/', 'flt', 'junk'), 'not a record');
  const last = await writer.put(instanceKey('/flotilla/services/', 'flt', 'a2'), encodeInstance({ ...instance('i2', 'passing'), Service: 'flt', ID: 'a2' }));
  await until(() => sets.items.length === 2);
  t.same(
    sets.items.map((s) => s.instances.map((i) => i.ID)),
    [['a1'], ['a1', 'a2']],
  );
  t.equal(sets.items[1]!.revision, last.header.revision, 'the critical instance and the junk key changed nothing visible');
  ac.abort();
  await sets.done;
});

t.test('config watch: the values, then every change, across kill -9 of kvd', async (t) => {
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  await writer.put('/app/config/db/url', 'postgres://a');
  await writer.put('/app/config/pool', '10');
  const snaps = collect<ConfigSnapshot>(watchConfig(client, '/app/config/', { signal: ac.signal }));
  await until(() => snaps.items.length === 1);
  const first = snaps.items[0]!;
  t.ok(first.initial);
  t.same([...first.values], [['db/url', 'postgres://a'], ['pool', '10']], 'keys relative to the prefix');
  t.same(first.changes, []);

  const r1 = await writer.put('/app/config/pool', '20');
  await until(() => snaps.items.length === 2);
  await restartKvd();
  const r2 = await writer.delete('/app/config/db/url');
  // One revision with two changes.
  const r3 = await writer.txn().then(Op.put('/app/config/a', '1'), Op.put('/app/config/b', '2')).commit();
  const r4 = await writer.put('/app/config/feature', 'on');
  await writer.put('/app/other', 'not mine');
  await until(() => snaps.items.length === 5, 15000, 'the changes after the restart');
  t.same(
    snaps.items.slice(1).map((s) => [s.revision, s.initial, s.changes, [...s.values]]),
    [
      [r1.header.revision, false, [{ key: 'pool', type: 'put', value: '20' }], [['db/url', 'postgres://a'], ['pool', '20']]],
      [r2.header.revision, false, [{ key: 'db/url', type: 'delete' }], [['pool', '20']]],
      [
        r3.header.revision,
        false,
        [
          { key: 'a', type: 'put', value: '1' },
          { key: 'b', type: 'put', value: '2' },
        ],
        [['pool', '20'], ['a', '1'], ['b', '2']],
      ],
      [r4.header.revision, false, [{ key: 'feature', type: 'put', value: 'on' }], [['pool', '20'], ['a', '1'], ['b', '2'], ['feature', 'on']]],
    ],
  );
  t.not(snaps.items[1]!.values, snaps.items[2]!.values, 'each snapshot has its own Map');
  ac.abort();
  await snaps.done;
});

t.test('JSON config: parsed values, and errors for values that are not JSON or not valid', async (t) => {
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  await writer.put('/json/limits', '{"rps": 100}');
  await writer.put('/json/broken', '{nope');
  await writer.put('/json/negative', '{"rps": -1}');
  const parse = (v: unknown, key: string) => {
    const o = v as { rps?: unknown };
    if (typeof o.rps !== 'number' || o.rps < 0) throw new Error(`rps must be a number >= 0 in ${key}`);
    return { rps: o.rps };
  };
  const snaps = collect<JsonConfigSnapshot<{ rps: number }>>(watchJsonConfig(client, '/json/', parse, { signal: ac.signal }));
  await until(() => snaps.items.length === 1);
  const s = snaps.items[0]!;
  t.same([...s.values], [['limits', { rps: 100 }]]);
  t.same([...s.errors.keys()].sort(), ['broken', 'negative']);
  t.match(s.errors.get('broken')!.message, /^broken: not JSON \(/);
  t.equal(s.errors.get('negative')!.message, 'negative: rps must be a number >= 0 in negative');
  await writer.put('/json/broken', '{"rps": 5}');
  await until(() => snaps.items.length === 2);
  t.same([...snaps.items[1]!.values].sort(), [['broken', { rps: 5 }], ['limits', { rps: 100 }]]);
  t.same([...snaps.items[1]!.errors.keys()], ['negative']);
  const plain = collect(watchJsonConfig(client, '/json/', undefined, { signal: ac.signal }));
  await until(() => plain.items.length === 1);
  t.same(plain.items[0]!.values.get('negative'), { rps: -1 }, 'without parse, any JSON');
  ac.abort();
  await Promise.all([snaps.done, plain.done]);
});
