// Registration against a real kvd: validation writes nothing; register, lookup, deregister; the
// own lease (re-registration after it is lost) and a given lease (rebind); http, tcp, exec and
// TTL checks moving the instance in and out of the passing set; writes only on change.
import t from 'tap';
import net from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, EventType, toText, type Watcher } from '../../src/client/index.js';
import {
  DiscoveryError,
  ValidationError,
  encodeInstance,
  instanceKey,
  listServices,
  lookup,
  register,
  reportCheck,
  watch,
  type Registration,
  type ServiceSet,
} from '../../src/discovery/index.js';
import { KvdCluster } from '../server/kvd-harness.js';
import { quiet, testHttpServer, until } from './helpers.js';

const kvd = await KvdCluster.create(1);
t.teardown(() => kvd.close());
const client = new Client({ endpoints: [kvd.members[0]!.url] });
t.teardown(() => client.close());
const PREFIX = '/flotilla/services/';

const regs: Registration[] = [];
t.teardown(async () => {
  for (const r of regs) await r.deregister().catch(() => undefined);
});
async function reg(...args: Parameters<typeof register>): Promise<Registration> {
  const r = await register(...args);
  regs.push(r);
  return r;
}

/** Counts the writes of one key from now on. */
function countWrites(key: string, fromRevision: number): { puts: () => number; watcher: Watcher } {
  let puts = 0;
  const watcher = client.watch(key, { startRevision: fromRevision });
  void (async () => {
    for await (const r of watcher) for (const ev of r.events) if (ev.type === EventType.PUT) puts++;
  })();
  return { puts: () => puts, watcher };
}

/** The first set yielded by `it` that satisfies `cond`, and when it came. */
async function firstSet(it: AsyncGenerator<ServiceSet>, cond: (s: ServiceSet) => boolean): Promise<{ set: ServiceSet; at: number }> {
  for (;;) {
    const n = await it.next();
    if (n.done) throw new Error('watch ended');
    if (cond(n.value)) return { set: n.value, at: Date.now() };
  }
}

t.test('invalid registrations write nothing', async (t) => {
  const before = await client.get('', { prefix: true, countOnly: true });
  const bad = [
    [{ Address: '127.0.0.1', Port: 80 }, /Name: required/],
    [{ Name: 'web', Address: '127.0.0.1', Port: 0 }, /Port: 0 is not a port/],
    [{ Name: 'web', Address: '127.0.0.1', Port: 80, Checks: [{ Type: 'grpc', Target: 'x' }] }, /Checks\[0\]\.Type: "grpc" is not a check type/],
    [{ Name: 'web', Address: '127.0.0.1', Port: 80, Checks: [{ Type: 'http', Target: 'http://x/', Interval: '1s', Timeout: '2s' }] }, /longer than the interval/],
  ] as const;
  for (const [def, msg] of bad) {
    const err = await register(client, def as never, { node: 'm1' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof ValidationError, 'a ValidationError');
    t.match((err as Error).message, msg);
  }
  await t.rejects(register(client, { Name: 'web', Address: '127.0.0.1', Port: 80 }, { lease: 1n, permanent: true }), { code: 'Invalid' });
  const after = await client.get('', { prefix: true, countOnly: true });
  t.equal(after.count, before.count, 'no key written');
  t.equal(after.header.revision, before.header.revision, 'no revision made: nothing was written at all');
  t.same((await client.leaseLeases()).leases, [], 'no lease granted');
});

t.test('register, look up, deregister', async (t) => {
  const a = await reg(client, { Name: 'api', ID: 'api-1', Address: '127.0.0.1', Port: 9001, Tags: ['primary'], Meta: { v: '1' } }, { node: 'm1' });
  const b = await reg(client, { Name: 'api', ID: 'api-2', Address: '127.0.0.2', Port: 9002 }, { node: 'm2', leaseTtl: 5 });
  t.equal(a.key, instanceKey(PREFIX, 'api', 'api-1'));
  const stored = await client.get(a.key);
  t.equal(toText(stored.kvs[0]!.value), encodeInstance(a.instance), 'the record is the pretty JSON');
  t.match(toText(stored.kvs[0]!.value), /^\{\n {2}"ID": "api-1",\n {2}"Service": "api",/);
  t.equal(stored.kvs[0]!.lease, a.lease, 'bound to the registration lease');
  t.not(a.lease, 0n);
  t.equal((await client.leaseTimeToLive(b.lease)).grantedTTL, 5);
  t.same((await lookup(client, 'api')).map((i) => i.ID), ['api-1', 'api-2']);
  t.same((await lookup(client, 'api', { tag: 'primary' })).map((i) => i.ID), ['api-1']);
  t.same((await lookup(client, 'api', { passingOnly: true })).length, 2, 'no checks: passing');
  t.same(await lookup(client, 'nothing'), []);
  await client.put(`${PREFIX}api/junk`, 'not json');
  await client.put(`${PREFIX}api/api-9`, encodeInstance({ ...a.instance, ID: 'api-1' }));
  t.same((await lookup(client, 'api')).map((i) => i.ID), ['api-1', 'api-2'], 'records that are not instances of their key are left out');
  await client.delete(`${PREFIX}api/junk`);
  await client.delete(`${PREFIX}api/api-9`);
  const services = await listServices(client);
  t.same(services.find((s) => s.Name === 'api'), { Name: 'api', Tags: ['primary'], Instances: 2, Passing: 2, Warning: 0, Critical: 0 });
  t.equal(a.writes, 1);
  await a.deregister();
  await a.deregister();
  t.ok(a.deregistered);
  t.same((await lookup(client, 'api')).map((i) => i.ID), ['api-2']);
  t.equal((await client.leaseTimeToLive(a.lease)).TTL, -1, 'its own lease is revoked');
  t.throws(() => a.pass('x'), { code: 'Closed' });
  await b.deregister();
  t.same(await lookup(client, 'api'), []);
});

t.test('own lease: lost (revoked behind its back) and registered again with a new one', async (t) => {
  const r = await reg(client, { Name: 'phoenix', ID: 'p1', Address: '127.0.0.1', Port: 1 }, { leaseTtl: 3 });
  const first = r.lease;
  const again = new Promise<bigint>((resolve) => r.on('reregistered', resolve));
  await client.leaseRevoke(first);
  t.same(await lookup(client, 'phoenix'), [], 'gone with its lease');
  const second = await again;
  t.not(second, first);
  await r.flushed();
  const kv = (await client.get(r.key)).kvs[0]!;
  t.equal(kv.lease, second, 'written again under the new lease');
  t.equal(r.writes, 2);
  await r.deregister();
});

t.test('own lease: a write that finds it gone grants a new one at once', async (t) => {
  const r = await reg(client, { Name: 'phoenix', ID: 'p2', Address: '127.0.0.1', Port: 1, Checks: [{ Type: 'ttl', Interval: '1m', Status: 'passing' }] }, { leaseTtl: 30, logger: quiet });
  const first = r.lease;
  const again = new Promise<bigint>((resolve) => r.on('reregistered', resolve));
  await client.leaseRevoke(first);
  // The keep-alive renews only every 10 s: the write is the first to find the lease gone.
  r.fail('service:p2', 'down');
  const second = await again;
  await r.flushed();
  const kv = (await client.get(r.key)).kvs[0]!;
  t.same([kv.lease, JSON.parse(toText(kv.value)).Status], [second, 'critical']);
  t.not(second, first);
  await r.deregister();
});

t.test('writes are retried while the store is down', async (t) => {
  const member = kvd.members[0]!;
  const short = new Client({ endpoints: [member.url], requestTimeoutMs: 500, dialTimeoutMs: 200, logger: quiet });
  t.teardown(() => short.close());
  const r = await register(short, { Name: 'durable', ID: 'd1', Address: '127.0.0.1', Port: 1, Checks: [{ Type: 'ttl', Interval: '1m', Status: 'passing' }] }, { leaseTtl: 30, retryMs: 50, logger: quiet });
  const failures: unknown[] = [];
  r.on('writeFailed', (e) => failures.push(e));
  await member.kill9();
  r.fail('service:d1', 'down');
  await until(() => failures.length >= 2, 10000, 'failed writes');
  await member.start();
  await r.flushed();
  t.equal((await lookup(client, 'durable'))[0]!.Status, 'critical', 'written once the store is back');
  t.match(failures[0], { kind: 'Unavailable' });
  await r.deregister();
});

t.test('a registration whose client is closed stops', async (t) => {
  const own = new Client({ endpoints: [kvd.members[0]!.url], logger: quiet });
  const r = await register(own, { Name: 'orphan', ID: 'o1', Address: '127.0.0.1', Port: 1, Checks: [{ Type: 'ttl', Interval: '1m', Status: 'passing' }] }, { permanent: true, logger: quiet });
  own.close();
  r.fail('service:o1');
  await r.flushed();
  t.ok(r.deregistered, 'it ended');
  t.equal((await lookup(client, 'orphan'))[0]!.Status, 'passing', 'the last record stays (permanent)');
  await client.delete(r.key);
});

t.test('a given lease: the instance vanishes with it; rebind() writes it again', async (t) => {
  const machine = await client.leaseGrant(30);
  const r = await reg(client, { Name: 'bound', ID: 'b1', Address: '127.0.0.1', Port: 1, Checks: [{ Type: 'ttl', Interval: '1m', Status: 'passing' }] }, { lease: machine.ID });
  t.equal(r.lease, machine.ID);
  t.equal((await client.get(r.key)).kvs[0]!.lease, machine.ID);
  await client.leaseRevoke(machine.ID);
  t.same(await lookup(client, 'bound'), []);
  const lost = new Promise((resolve) => r.on('leaseLost', resolve));
  r.fail('service:b1', 'down');
  t.match(await lost, { code: 5 }, 'the next write finds the lease gone');
  const next = await client.leaseGrant(30);
  r.rebind(next.ID);
  await r.flushed();
  const [i] = await lookup(client, 'bound');
  t.same([i?.Status, (await client.get(r.key)).kvs[0]!.lease], ['critical', next.ID]);
  await r.deregister();
  t.equal((await client.leaseTimeToLive(next.ID)).TTL > 0, true, 'a given lease is not revoked by deregister');
  t.same(await lookup(client, 'bound'), []);
});

t.test('permanent: no lease', async (t) => {
  const r = await reg(client, { Name: 'perm', ID: 'x1', Address: '127.0.0.1', Port: 1 }, { permanent: true });
  t.equal(r.lease, 0n);
  t.equal((await client.get(r.key)).kvs[0]!.lease, 0n);
  await r.deregister();
  t.same(await lookup(client, 'perm'), []);
});

t.test('http check: leaves the passing set within interval + timeout, and returns', async (t) => {
  const srv = await testHttpServer(200);
  t.teardown(() => srv.close());
  const intervalMs = 600;
  const timeoutMs = 400;
  const r = await reg(client, {
    Name: 'web',
    ID: 'web-1',
    Address: '127.0.0.1',
    Port: srv.port,
    Checks: [{ Type: 'http', Target: `${srv.url}/health`, Interval: `${intervalMs}ms`, Timeout: `${timeoutMs}ms` }],
  });
  t.equal(r.instance.Status, 'passing', 'the first check ran before the first write');
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const sets = watch(client, 'web', { passingOnly: true, signal: ac.signal });
  t.same((await sets.next()).value?.instances.map((i) => i.ID), ['web-1']);

  let started = Date.now();
  srv.status = 500;
  const down = await firstSet(sets, (s) => s.instances.length === 0);
  const leftAfter = down.at - started;
  t.ok(leftAfter <= intervalMs + timeoutMs + 500, `left the passing set after ${leftAfter} ms`);
  const [critical] = await lookup(client, 'web');
  t.equal(critical!.Status, 'critical');
  t.match(critical!.Checks[0]!.Output, /500 Internal Server Error/);

  started = Date.now();
  srv.status = 200;
  const up = await firstSet(sets, (s) => s.instances.length === 1);
  const backAfter = up.at - started;
  t.ok(backAfter <= intervalMs + timeoutMs + 500, `came back after ${backAfter} ms`);

  started = Date.now();
  srv.delayMs = 5000;
  await firstSet(sets, (s) => s.instances.length === 0);
  t.ok(Date.now() - started <= intervalMs + timeoutMs + 500, 'a check that hangs past its timeout is critical in time');
  t.match((await lookup(client, 'web'))[0]!.Checks[0]!.Output, /Timeout exceeded \(400ms\)/);
  srv.delayMs = 0;
  srv.status = 429;
  const warn = await firstSet(watch(client, 'web', { healthyOnly: true, signal: ac.signal }), (s) => s.instances.length === 1);
  t.equal(warn.set.instances[0]!.Status, 'warning', '429 is a warning: healthy, not passing');
  await r.deregister();
});

t.test('the record is written only when the health changes', async (t) => {
  // A scripted probe: the runs are counted and their results chosen by the test, so that no
  // timing of a real server decides what is written.
  let status: 'passing' | 'critical' = 'passing';
  let runs = 0;
  const probe = () => async () => {
    runs++;
    return { status, output: `run ${runs}` };
  };
  const r = await reg(client, { Name: 'quiet', ID: 'q1', Address: '127.0.0.1', Port: 1, Checks: [{ Type: 'http', Target: 'http://127.0.0.1:1/', Interval: '20ms', Timeout: '20ms' }] }, { probe });
  const rev = (await client.get(r.key)).kvs[0]!.mod_revision;
  const counter = countWrites(r.key, rev + 1);
  t.teardown(() => counter.watcher.cancel());
  await counter.watcher.ready();
  const waitRuns = (n: number) => {
    const from = runs;
    return until(() => runs >= from + n, 10000, `${n} check runs`);
  };
  await waitRuns(20);
  t.equal(counter.puts(), 0, '20 passing runs: no write');
  status = 'critical';
  await waitRuns(10);
  status = 'passing';
  await waitRuns(10);
  await r.flushed();
  await until(() => counter.puts() === 2);
  t.equal(counter.puts(), 2, 'one write to critical, one back to passing');
  t.equal(r.writes, 3, 'with the registration: three writes for 40+ runs');
  t.match(JSON.parse(toText((await client.get(r.key)).kvs[0]!.value)).Checks[0].Output, /^run \d+$/, 'the output of the run that changed the status');
  await r.deregister();
});

t.test('tcp check', async (t) => {
  const server = net.createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const r = await reg(client, { Name: 'redis', ID: 'r1', Address: '127.0.0.1', Port: port, Checks: [{ Type: 'tcp', Target: `127.0.0.1:${port}`, Interval: '300ms' }] });
  t.equal(r.instance.Status, 'passing');
  await new Promise<void>((res) => server.close(() => res()));
  await until(async () => (await lookup(client, 'redis', { passingOnly: true })).length === 0);
  t.match((await lookup(client, 'redis'))[0]!.Checks[0]!.Output, /ECONNREFUSED/);
  await r.deregister();
});

t.test('exec check: exit 0, 1, 2', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-exec-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  await writeFile(state, '0');
  const r = await reg(client, {
    Name: 'job',
    ID: 'j1',
    Address: '127.0.0.1',
    Port: 1,
    Checks: [{ Type: 'exec', Target: `/bin/sh -c 's=$(cat ${state}); echo state $s; exit $s'`, Interval: '500ms' }],
  });
  t.equal(r.instance.Status, 'passing');
  for (const [code, status] of [['1', 'warning'], ['2', 'critical'], ['0', 'passing']] as const) {
    await writeFile(state, code);
    await until(async () => (await lookup(client, 'job'))[0]?.Status === status, 10000, status);
  }
  t.match((await lookup(client, 'job'))[0]!.Checks[0]!.Output, /state 0/);
  await r.deregister();
});

t.test('ttl check: reports from the library and from another process; critical past its TTL', async (t) => {
  const r = await reg(client, {
    Name: 'worker',
    ID: 'w1',
    Address: '127.0.0.1',
    Port: 1,
    Checks: [
      { Type: 'ttl', Interval: '1s', CheckID: 'heartbeat' },
      { Type: 'http', Target: 'http://127.0.0.1:1/', Interval: '1m', Status: 'passing', CheckID: 'web' },
    ],
  });
  t.equal(r.instance.Status, 'critical', 'a ttl check starts critical');
  t.throws(() => r.pass('nope'), { code: 'NotFound' });
  t.throws(() => r.pass('web'), { code: 'Invalid' });
  t.equal(r.instance.Checks[1]!.Status, 'critical', 'the unreachable http check');

  const other = new Client({ endpoints: [kvd.members[0]!.url] });
  t.teardown(() => other.close());
  await t.rejects(reportCheck(other, 'web', 'passing'), { code: 'Invalid', message: /is an http check: only ttl checks take reports/ });
  await t.rejects(reportCheck(other, 'nope', 'passing'), { code: 'NotFound' });
  const target = await reportCheck(other, 'heartbeat', 'warning', 'busy');
  t.same([target.instance.ID, target.checkId], ['w1', 'heartbeat']);
  await until(() => r.instance.Checks[0]!.Status === 'warning');
  t.equal(r.instance.Checks[0]!.Output, 'busy');
  const viaInstanceId = await reportCheck(other, 'w1', 'passing', 'ok', { service: 'worker' });
  t.equal(viaInstanceId.checkId, 'heartbeat', 'the instance ID names its only ttl check');
  await until(() => r.instance.Checks[0]!.Status === 'passing');
  // Without another report within 1 s it turns critical.
  const reportedAt = Date.now();
  await until(() => r.instance.Checks[0]!.Status === 'critical', 5000);
  t.ok(Date.now() - reportedAt >= 950, 'not before its TTL');
  t.equal(r.instance.Checks[0]!.Output, 'TTL expired (no report within 1s)');
  r.pass('heartbeat', 'back');
  await r.flushed();
  t.equal((await lookup(client, 'worker'))[0]!.Checks[0]!.Status, 'passing');
  r.warn('heartbeat');
  r.fail('heartbeat');
  await r.flushed();
  t.equal((await lookup(client, 'worker'))[0]!.Checks[0]!.Status, 'critical');

  // The same check ID on two instances: the report must name the service.
  const twin = await reg(client, { Name: 'worker2', ID: 'w2', Address: '127.0.0.1', Port: 1, Checks: [{ Type: 'ttl', Interval: '1m', CheckID: 'heartbeat' }] });
  await t.rejects(reportCheck(other, 'heartbeat', 'passing'), { code: 'Ambiguous', message: /worker\/w1, worker2\/w2/ });
  await reportCheck(other, 'heartbeat', 'passing', '', { service: 'worker2' });
  await until(() => twin.instance.Status === 'passing');
  await twin.deregister();
  await r.deregister();
  t.same((await client.get('/flotilla/services-reports/', { prefix: true })).kvs, [], 'reports are removed with their instances');
});

t.test('a report for an instance whose lease is gone', async (t) => {
  const lease = await client.leaseGrant(30);
  const def = { Name: 'gone', ID: 'g1', Address: '127.0.0.1', Port: 1, Checks: [{ Type: 'ttl' as const, Interval: '1m' }] };
  const r = await reg(client, def, { lease: lease.ID });
  // Revoked between the read of the record and the write of the report.
  const fake = new Client({ endpoints: [kvd.members[0]!.url] });
  t.teardown(() => fake.close());
  const realGet = fake.get.bind(fake);
  fake.get = (async (...args: Parameters<typeof fake.get>) => {
    const res = await realGet(...args);
    await client.leaseRevoke(lease.ID);
    return res;
  }) as typeof fake.get;
  const err = await reportCheck(fake, 'g1', 'passing').then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof DiscoveryError);
  t.match(err, { code: 'NotFound', message: /gone\/g1 is gone \(its lease expired\)/ });
  await r.deregister();
});

t.test('the first write fails: register rejects and leaves nothing running', async (t) => {
  const dead = new Client({ endpoints: ['http://127.0.0.1:1'], requestTimeoutMs: 300, dialTimeoutMs: 100, autoSyncMembers: false });
  t.teardown(() => dead.close());
  const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);
  t.match(await failure(register(dead, { Name: 'nowhere', Address: '127.0.0.1', Port: 1, Checks: [{ Type: 'ttl', Interval: '1s' }] })), { kind: 'Unavailable' });
  t.match(await failure(register(dead, { Name: 'nowhere', Address: '127.0.0.1', Port: 1 }, { permanent: true })), { kind: 'Unavailable' });
});
