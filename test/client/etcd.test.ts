// The same client against a real etcd 3.4 (its JSON gateway and WebSocket watch), when an `etcd`
// binary is on the PATH: a throwaway one-member etcd on free loopback ports in a temporary
// directory (not ../shared/bench/etcd-cluster.sh, whose fixed ports another session may be using).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import t from 'tap';
import { Client, CompactedError, Compare, Election, EventType, Mutex, Op, Session } from '../../src/client/index.js';
import { freePort, tempDir } from '../raft/cluster.js';
import { once, text, until } from './helpers.js';

const version = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
if (version.error || version.status !== 0) {
  t.comment('no etcd binary on the PATH: skipping the tests against a real etcd (apt-get install -y etcd-server)');
  t.pass('skipped: etcd is not installed');
} else {
  await run();
}

async function run(): Promise<void> {
  const dir = await tempDir('flotilla-etcd-');
  const [cport, pport] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${cport}`;
  const proc: ChildProcess = spawn(
    'etcd',
    [
      '--name', 'e1',
      '--data-dir', `${dir}/data`,
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', `http://127.0.0.1:${pport}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${pport}`,
      '--initial-cluster', `e1=http://127.0.0.1:${pport}`,
      '--initial-cluster-token', `flotilla-client-${process.pid}`,
      '--logger', 'zap',
      '--log-level', 'error',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise((r) => proc.once('exit', r));
  t.teardown(async () => {
    proc.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  });
  t.comment(`etcd ${version.stdout.split('\n')[0]} at ${url}`);
  const client = new Client({ endpoints: [url] });
  t.teardown(() => client.close());
  await until(async () => (await client.health()).health, 20000, 100);

  t.test('KV, txn, errors with the same texts', async (t) => {
    const p = await client.put('foo', 'bar');
    t.ok(p.header.revision! >= 2);
    t.ok(p.header.member_id! > 0n);
    await client.put('foo2', 'baz');
    const r = await client.get('foo', { prefix: true, sortOrder: 'DESCEND' });
    t.same(r.kvs.map((kv) => text(kv.key)), ['foo2', 'foo']);
    const tx = await client.txn().if(Compare.value('foo', '=', 'bar')).then(Op.put('foo', 'qux'), Op.get('foo')).else(Op.get('foo2')).commit();
    t.equal(tx.succeeded, true);
    const rr = tx.responses[1]!;
    t.ok('response_range' in rr && text(rr.response_range.kvs[0]!.value) === 'qux');
    await t.rejects(client.put('', 'x'), { name: 'ClientError', kind: 'Server', code: 3, message: 'etcdserver: key is not provided' });
    await t.rejects(client.put('k', 'v', { lease: 1n }), { code: 5, message: 'etcdserver: requested lease not found' });
    const d = await client.delete('foo', { prefix: true, prevKv: true });
    t.equal(d.deleted, 2);
  });

  t.test('watch over the gateway: history, live, compacted start', async (t) => {
    const a = await client.put('w/a', '1');
    await client.delete('w/a');
    const w = client.watch('w/', { prefix: true, startRevision: a.header.revision!, prevKv: true });
    await w.ready();
    await client.put('w/b', '2');
    const got: [EventType, string][] = [];
    for await (const r of w) {
      for (const e of r.events) got.push([e.type, text(e.kv.key)]);
      if (got.length >= 3) break;
    }
    t.same(got, [
      [EventType.PUT, 'w/a'],
      [EventType.DELETE, 'w/a'],
      [EventType.PUT, 'w/b'],
    ]);
    const last = await client.put('w/c', '3');
    await client.compact(last.header.revision!);
    const old = client.watch('w/', { prefix: true, startRevision: a.header.revision! });
    const err = await (async () => {
      try {
        for await (const _ of old) void _;
      } catch (e) {
        return e;
      }
    })();
    t.ok(err instanceof CompactedError);
    t.equal((err as CompactedError).compactRevision, last.header.revision);
    await t.rejects(client.get('w/a', { revision: a.header.revision! }), { name: 'CompactedError', kind: 'Compacted' });
  });

  t.test('leases and keep-alive', async (t) => {
    const g = await client.leaseGrant(20);
    await client.put('l/k', 'v', { lease: g.ID });
    const ttl = await client.leaseTimeToLive(g.ID, { keys: true });
    t.same(ttl.keys.map(text), ['l/k']);
    t.equal(ttl.grantedTTL, 20);
    const ka = client.keepAlive(g.ID);
    t.same(await once(ka, 'renewed'), [20]);
    const lost = once(ka, 'lost');
    await client.leaseRevoke(g.ID);
    (ka as unknown as { renew(): Promise<void> }).renew();
    const [reason] = await lost;
    t.match(reason, { code: 5 });
    t.equal((await client.leaseTimeToLive(g.ID)).TTL, -1);
    t.equal((await client.leaseKeepAliveOnce(g.ID)).TTL, 0);
  });

  t.test('members, status, health, snapshot', async (t) => {
    const m = await client.memberList();
    t.equal(m.members.length, 1);
    t.equal(typeof m.members[0]!.ID, 'bigint', 'member IDs as bigint (etcd uses the full uint64 range)');
    const st = await client.status(url);
    t.match(st.version, /^3\.4\./);
    t.equal(st.leader, m.members[0]!.ID);
    t.equal(client.endpoints().length, 1);
    let bytes = 0;
    for await (const p of client.snapshot()) bytes += p.length;
    t.ok(bytes > 0);
  });

  t.test('mutex and election', async (t) => {
    const s1 = await Session.create(client, { ttl: 10 });
    const s2 = await Session.create(client, { ttl: 10 });
    const m1 = new Mutex(s1, 'lock');
    const m2 = new Mutex(s2, 'lock');
    await m1.lock();
    let second = false;
    const p2 = m2.lock().then(() => (second = true));
    await until(async () => (await client.get('lock/', { prefix: true })).count === 2);
    t.equal(second, false);
    await m1.unlock();
    await p2;
    await m2.unlock();
    const e1 = new Election(s1, 'el');
    const e2 = new Election(s2, 'el');
    await e1.campaign('a');
    const p = e2.campaign('b');
    await until(async () => (await client.get('el/', { prefix: true })).count === 2);
    await e1.resign();
    await p;
    t.equal(text((await e2.leader()).value), 'b');
    await s1.close();
    await s2.close();
  });
}
