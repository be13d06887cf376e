// The Consul-style HTTP API on a real kvd: the shapes of /v1/health/service, /v1/catalog/services
// and /v1/catalog/service, filters, X-Consul-Index, blocking queries, and errors.
import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '../../src/client/index.js';
import { ServiceCatalog, createHttpHandler, register, type Registration } from '../../src/discovery/index.js';
import { KvdCluster } from '../server/kvd-harness.js';
import { until } from './helpers.js';

const kvd = await KvdCluster.create(1);
t.teardown(() => kvd.close());
const client = new Client({ endpoints: [kvd.members[0]!.url] });
t.teardown(() => client.close());

const catalog = new ServiceCatalog(client);
await catalog.start();
t.teardown(() => catalog.close());
const handler = createHttpHandler(catalog, { datacenter: 'dc1' });
// fleetd's server: the handler takes /v1/, fleetd the rest.
const server = http.createServer((req, res) => {
  if (handler(req, res)) return;
  res.writeHead(418);
  res.end('fleetd');
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
t.teardown(() => new Promise<void>((r) => server.close(() => r())));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const regs: Registration[] = [];
t.teardown(async () => {
  for (const r of regs) await r.deregister().catch(() => undefined);
});

const web1 = await register(
  client,
  { Name: 'web', ID: 'web-1', Address: '10.0.0.1', Port: 8001, Tags: ['primary', 'v2'], Meta: { version: '2' }, Node: 'm1', Checks: [{ Type: 'ttl', Interval: '1m', Status: 'passing', CheckID: 'hb', Name: 'Heartbeat' }] },
  {},
);
const web2 = await register(client, { Name: 'web', ID: 'web-2', Address: '10.0.0.2', Port: 8002, Tags: ['v2'], Node: 'm2', Checks: [{ Type: 'ttl', Interval: '1m', Status: 'warning' }] }, {});
const db = await register(client, { Name: 'db', ID: 'db-1', Address: '10.0.0.3', Port: 5432, Node: 'm1', Checks: [{ Type: 'tcp', Target: '127.0.0.1:1', Interval: '1m', Timeout: '10ms' }] }, {});
regs.push(web1, web2, db);
await until(() => catalog.instances('web').length === 2 && catalog.instances('db').length === 1);

async function get(path: string, init: RequestInit = {}): Promise<{ status: number; index: string | null; body: unknown; text: string }> {
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* text answers */
  }
  return { status: res.status, index: res.headers.get('x-consul-index'), body, text };
}

t.test('GET /v1/health/service/NAME: Consul shape', async (t) => {
  const kv = (await client.get(web1.key)).kvs[0]!;
  const r = await get('/v1/health/service/web');
  t.equal(r.status, 200);
  t.equal(r.index, String(catalog.index('web')));
  const list = r.body as Record<string, unknown>[];
  t.equal(list.length, 2);
  t.same(list[0], {
    Node: { ID: '', Node: 'm1', Address: '10.0.0.1', Datacenter: 'dc1', TaggedAddresses: {}, Meta: {}, CreateIndex: kv.create_revision, ModifyIndex: kv.mod_revision },
    Service: {
      ID: 'web-1',
      Service: 'web',
      Tags: ['primary', 'v2'],
      Address: '10.0.0.1',
      Meta: { version: '2' },
      Port: 8001,
      Weights: { Passing: 1, Warning: 1 },
      EnableTagOverride: false,
      CreateIndex: kv.create_revision,
      ModifyIndex: kv.mod_revision,
    },
    Checks: [
      {
        Node: 'm1',
        CheckID: 'hb',
        Name: 'Heartbeat',
        Status: 'passing',
        Notes: '',
        Output: '',
        ServiceID: 'web-1',
        ServiceName: 'web',
        ServiceTags: ['primary', 'v2'],
        Type: 'ttl',
        Definition: { TTL: '1m' },
        CreateIndex: kv.create_revision,
        ModifyIndex: kv.mod_revision,
      },
    ],
  });
  const dbr = (await get('/v1/health/service/db')).body as { Checks: { Definition: unknown; Status: string }[] }[];
  t.same(dbr[0]!.Checks[0]!.Definition, { Interval: '1m', Timeout: '10ms', TCP: '127.0.0.1:1' });
  t.equal(dbr[0]!.Checks[0]!.Status, 'critical');
});

t.test('filters: ?passing, ?tag (repeatable)', async (t) => {
  const ids = async (path: string) => ((await get(path)).body as { Service: { ID: string } }[]).map((e) => e.Service.ID);
  t.same(await ids('/v1/health/service/web?passing'), ['web-1']);
  t.same(await ids('/v1/health/service/web?passing=true'), ['web-1']);
  t.same(await ids('/v1/health/service/web?passing=false'), ['web-1', 'web-2']);
  t.same(await ids('/v1/health/service/web?tag=v2'), ['web-1', 'web-2']);
  t.same(await ids('/v1/health/service/web?tag=v2&tag=primary'), ['web-1']);
  t.same(await ids('/v1/health/service/web?tag=none'), []);
  t.same(await ids('/v1/health/service/nothing'), []);
  t.same(await ids('/v1/health/service/Not_A_Name'), []);
  t.same(await ids('/v1/health/service/db?passing'), []);
});

t.test('GET /v1/catalog/services and /v1/catalog/service/NAME', async (t) => {
  const services = await get('/v1/catalog/services');
  t.same(services.body, { db: [], web: ['primary', 'v2'] });
  t.equal(services.index, String(catalog.index()));
  const kv = (await client.get(db.key)).kvs[0]!;
  const r = await get('/v1/catalog/service/db');
  t.same(r.body, [
    {
      ID: '',
      Node: 'm1',
      Address: '10.0.0.3',
      Datacenter: 'dc1',
      TaggedAddresses: {},
      NodeMeta: {},
      ServiceID: 'db-1',
      ServiceName: 'db',
      ServiceTags: [],
      ServiceAddress: '10.0.0.3',
      ServicePort: 5432,
      ServiceMeta: {},
      ServiceWeights: { Passing: 1, Warning: 1 },
      ServiceEnableTagOverride: false,
      CreateIndex: kv.create_revision,
      ModifyIndex: kv.mod_revision,
    },
  ], 'the catalog lists critical instances too');
  t.same(((await get('/v1/catalog/service/web?tag=primary')).body as { ServiceID: string }[]).map((e) => e.ServiceID), ['web-1']);
  t.same((await get('/v1/catalog/service/nothing')).body, []);
});

t.test('errors and paths that are not ours', async (t) => {
  const other = await get('/v2/whatever');
  t.same([other.status, other.text], [418, 'fleetd'], 'not under /v1/: left to fleetd');
  const unknown = await get('/v1/agent/services');
  t.equal(unknown.status, 404);
  t.match(unknown.text, /^Unsupported path: \/v1\/agent\/services/);
  t.equal((await get('/v1')).status, 404);
  const post = await get('/v1/catalog/services', { method: 'PUT', body: '{}' });
  t.equal(post.status, 405);
  t.match(post.text, /read-only/);
  t.equal((await get('/v1/health/service/')).status, 400);
  t.equal((await get('/v1/health/service/%E0%A4%A')).status, 400);
  const badIndex = await get('/v1/health/service/web?index=abc');
  t.same([badIndex.status, badIndex.text], [400, 'Invalid index: "abc" is not a number\n']);
  const badWait = await get('/v1/health/service/web?index=1&wait=forever');
  t.equal(badWait.status, 400);
  t.match(badWait.text, /^Invalid wait time: "forever" is not a duration/);
});

t.test('blocking queries: wait for a change of the service, or for the wait', async (t) => {
  const index = catalog.index('web');
  const started = Date.now();
  const timedOut = await get(`/v1/health/service/web?index=${index}&wait=150ms`);
  t.ok(Date.now() - started >= 140, 'waited');
  t.equal(timedOut.index, String(index), 'nothing changed: same index');
  t.same(((await get(`/v1/health/service/web?index=${index - 1}`)).body as unknown[]).length, 2, 'an index already passed answers at once');

  const blocked = get(`/v1/health/service/web?index=${index}&wait=10s&passing`);
  const otherChange = await client.put('/flotilla/services/db/db-2', (await client.get(db.key)).kvs[0]!.value);
  web2.pass('service:web-2');
  const r = await blocked;
  t.ok(Number(r.index) > index, 'a new index');
  t.ok(Number(r.index) > otherChange.header.revision!, 'a change of another service did not answer it');
  t.same((r.body as { Service: { ID: string } }[]).map((e) => e.Service.ID), ['web-1', 'web-2']);
  await client.delete('/flotilla/services/db/db-2');

  const all = catalog.index();
  const catalogWait = get(`/v1/catalog/services?index=${all}&wait=10s`);
  const reg = await register(client, { Name: 'late', ID: 'l1', Address: '10.0.0.9', Port: 1 }, {});
  regs.push(reg);
  t.same(Object.keys((await catalogWait).body as object), ['db', 'late', 'web']);
});

t.test('a blocking query whose client goes away stops waiting', async (t) => {
  const ac = new AbortController();
  const waiters = (catalog as unknown as { waiters: Set<unknown> }).waiters;
  const pending = fetch(`${base}/v1/health/service/web?index=${catalog.index('web')}&wait=10m`, { signal: ac.signal }).catch(() => 'aborted');
  await until(() => waiters.size === 1);
  ac.abort();
  t.equal(await pending, 'aborted');
  await until(() => waiters.size === 0, 5000, 'the waiter removed');
});

t.test('the catalog: keys that are not instances, change events, close', async (t) => {
  await client.put('/flotilla/services/web/bad', 'not json');
  await client.put('/flotilla/services/oddkey', '{}');
  await until(() => catalog.invalid.size === 2);
  t.match(catalog.invalid.get('/flotilla/services/web/bad'), /not JSON/);
  t.match(catalog.invalid.get('/flotilla/services/oddkey'), /not a key of the form/);
  // A valid record overwritten with junk leaves the catalog.
  const changed = new Promise<string[]>((resolve) => catalog.once('change', (_rev, names) => resolve(names)));
  await client.put(web2.key, 'junk');
  t.same(await changed, ['web']);
  t.same(catalog.instances('web').map((i) => i.ID), ['web-1']);
  await client.put(web2.key, JSON.stringify({ ...web2.instance, ID: 'someone-else' }));
  await until(() => catalog.invalid.get(web2.key) === 'the record says web/someone-else');
  await client.delete('/flotilla/services/web/bad');
  await client.delete('/flotilla/services/oddkey');
  await until(() => catalog.invalid.size === 1);
  t.same([...catalog.all()].map((e) => e.instance.ID).sort(), ['db-1', 'l1', 'web-1']);
  t.same(catalog.serviceNames(), ['db', 'late', 'web']);

  const other = new ServiceCatalog(client, { prefix: '/elsewhere' });
  await other.start();
  t.equal(other.prefix, '/elsewhere/');
  t.same(other.serviceNames(), []);
  t.equal(await other.waitForChange('x', 0, 10), other.index('x'), 'an index already passed: at once');
  const waiting = other.waitForChange('x', other.index('x'), 60000);
  await other.close();
  t.equal(await waiting, other.index('x'), 'closing ends the waits');
  await t.rejects(other.start(), { code: 'Closed' });
});
