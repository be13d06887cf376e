// The concurrency recipes against real kvd processes: a mutex contended by separate processes
// guarding a read-modify-write counter, lock order and hand-over, tryLock, lost sessions, and an
// election (campaign, proclaim, observe, resign).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Client, ConcurrencyError, Election, Mutex, Session, type KeyValue } from '../../src/client/index.js';
import { KvdCluster } from '../server/kvd-harness.js';
import { once, text, until } from './helpers.js';

const c = await KvdCluster.create(3);
t.teardown(() => c.close());
const endpoints = c.members.map((m) => m.url);
const client = new Client({ endpoints });
t.teardown(() => client.close());
const worker = fileURLToPath(new URL('./fixtures/mutex-worker.mjs', import.meta.url));

function runWorker(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [worker, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

t.test('mutex: 4 processes increment one counter under the lock; no update is lost', async (t) => {
  const procs = 4;
  const each = 25;
  const results = await Promise.all(Array.from({ length: procs }, () => runWorker([endpoints.join(','), 'counter-lock', 'counter', String(each)])));
  for (const r of results) t.equal(r.code, 0, r.err);
  const leases = results.map((r) => JSON.parse(r.out).lease as string);
  t.equal(new Set(leases).size, procs, 'one session each');
  const v = await client.get('counter');
  t.equal(text(v.kvs[0]?.value), String(procs * each), 'final value == number of increments');
  t.equal(v.kvs[0]!.version, procs * each, 'one write per increment');
  t.equal((await client.get('counter-lock/', { prefix: true })).count, 0, 'every lock key released');
});

t.test('mutex: the lock goes to the waiters in order; each waits for its predecessor only', async (t) => {
  const sessions = await Promise.all([1, 2, 3].map(() => Session.create(client, { ttl: 10 })));
  t.teardown(() => Promise.all(sessions.map((s) => s.close())));
  const [a, b, cc] = sessions.map((s) => new Mutex(s, 'order-lock'));
  await a!.lock();
  t.match(a!.key, /^order-lock\/[0-9a-f]+$/);
  t.equal(a!.key, `order-lock/${sessions[0]!.lease.toString(16)}`, "etcd's key: <name>/<lease hex>");
  const order: string[] = [];
  const pb = b!.lock().then(() => order.push('b'));
  await until(async () => (await client.get('order-lock/', { prefix: true })).count === 2);
  const pc = cc!.lock().then(() => order.push('c'));
  await until(async () => (await client.get('order-lock/', { prefix: true })).count === 3);
  t.same(order, []);
  // A write guarded by ownership: only the holder's compare holds.
  const aOwns = a!.isOwner();
  t.equal((await client.txn().if(aOwns).then().commit()).succeeded, true);
  await a!.unlock();
  t.equal((await client.txn().if(aOwns).commit()).succeeded, false, 'a write guarded by isOwner() fails once the lock is released');
  await pb;
  t.same(order, ['b'], 'b (the next create revision) got it; c still waits');
  await b!.unlock();
  await pc;
  t.same(order, ['b', 'c']);
  t.ok(b!.revision < cc!.revision);
  await cc!.unlock();
  await cc!.unlock();
  t.pass('unlock twice is harmless');
});

t.test('mutex: tryLock, a holder whose session dies, a waiter whose session is lost', async (t) => {
  const s1 = await Session.create(client, { ttl: 10 });
  const s2 = await Session.create(client, { ttl: 10 });
  const m1 = new Mutex(s1, 'try-lock');
  const m2 = new Mutex(s2, 'try-lock/');
  await m1.tryLock();
  await t.rejects(m2.tryLock(), new ConcurrencyError('Locked', 'mutex: Locked by another session'));
  t.equal((await client.get('try-lock/', { prefix: true })).count, 1, "the failed try removed its key");
  await m1.lock();
  t.pass('locking again with the same session reuses the key');
  const waiting = m2.lock();
  await until(async () => (await client.get('try-lock/', { prefix: true })).count === 2);
  // The holder's process "dies": its lease is revoked, its key goes, the waiter gets the lock.
  s1.orphan();
  await client.leaseRevoke(s1.lease);
  await waiting;
  t.ok(m2.header, 'the waiter holds the lock');

  const s3 = await Session.create(client, { ttl: 10 });
  const m3 = new Mutex(s3, 'try-lock');
  const lost = once(s3, 'lost');
  const waiting3 = m3.lock();
  await until(async () => (await client.get('try-lock/', { prefix: true })).count === 2);
  await client.leaseRevoke(s3.lease);
  // The keep-alive notices at its next renewal; force it now.
  (s3 as unknown as { ka: { renew(): Promise<void> } }).ka.renew();
  await lost;
  await t.rejects(waiting3, { message: 'mutex: session is expired' });
  t.equal(s3.done, true);
  await m2.unlock();
  await s2.close();
  await s3.close();
  await t.rejects(new Mutex(s2, 'x').lock(), { message: 'session: closed' });
});

t.test('election: campaign, proclaim, observe, resign', async (t) => {
  const s1 = await Session.create(client, { ttl: 10 });
  const s2 = await Session.create(client, { ttl: 10 });
  const e1 = new Election(s1, 'elect');
  const e2 = new Election(s2, 'elect');
  const watcher = new Election(s1, 'elect');
  await t.rejects(watcher.leader(), new ConcurrencyError('NoLeader', 'election: no leader'));
  await t.rejects(e2.proclaim('x'), { message: 'election: not leader' });

  const ac = new AbortController();
  const seen: string[] = [];
  const observer = (async () => {
    for await (const kv of watcher.observe({ signal: ac.signal })) seen.push(text(kv.value));
  })();
  await e1.campaign('one');
  t.equal(text((await e1.leader()).value), 'one');
  let e2Leads = false;
  const p2 = e2.campaign('two').then(() => (e2Leads = true));
  await until(async () => (await client.get('elect/', { prefix: true })).count === 2);
  t.equal(e2Leads, false, 'the second candidate waits');
  await e1.proclaim('one-bis');
  await until(() => seen.includes('one-bis'));
  await e1.campaign('one-ter');
  t.equal(text((await e1.leader()).value), 'one-ter', 'campaigning again while leading proclaims the new value');
  await e1.resign();
  await p2;
  t.equal(e2Leads, true);
  const leader: KeyValue = await e2.leader();
  t.equal(text(leader.value), 'two');
  t.equal(text(leader.key), `elect/${s2.lease.toString(16)}`);
  await until(() => seen.includes('two'));
  t.same(seen, ['one', 'one-bis', 'one-ter', 'two'], 'every leader and proclamation, in order');
  await e2.resign();
  await e2.resign();
  await t.rejects(e2.leader(), { message: 'election: no leader' });
  ac.abort();
  await observer;
  await t.rejects(e1.proclaim('late'), { message: 'election: not leader' });

  // A campaign canceled while waiting withdraws its candidacy.
  const e3 = new Election(s1, 'elect2');
  const e4 = new Election(s2, 'elect2');
  await e3.campaign('three');
  const ac4 = new AbortController();
  const p4 = e4.campaign('four', { signal: ac4.signal });
  await until(async () => (await client.get('elect2/', { prefix: true })).count === 2);
  ac4.abort();
  await t.rejects(p4);
  await until(async () => (await client.get('elect2/', { prefix: true })).count === 1);
  await s1.close();
  await s2.close();
});

t.test('election: observe ends quietly when its signal fires while it reads the leader', async (t) => {
  const s1 = await Session.create(client, { ttl: 10 });
  t.teardown(() => s1.close());
  const ac = new AbortController();
  const it = new Election(s1, 'quiet').observe({ signal: ac.signal });
  // The first step reads the current leader: abort while that read is in flight (it used to
  // reject with Canceled, and an observer aborted between two leaders threw).
  const first = it.next();
  ac.abort();
  t.same(await first, { done: true, value: undefined });
});

t.test('a session keeps its lease alive and revokes it on close', async (t) => {
  const s = new Session(client, { ttl: 5 });
  t.throws(() => s.lease, /not ready/);
  await s.ready();
  const ttl = await client.leaseTimeToLive(s.lease);
  t.ok(ttl.TTL > 0);
  await s.close();
  t.equal((await client.leaseTimeToLive(s.lease)).TTL, -1);
  await s.close();
  const g = await client.leaseGrant(5);
  const mine = new Session(client, { lease: g.ID });
  await mine.ready();
  t.equal(mine.lease, g.ID, 'an existing lease');
  mine.orphan();
  t.equal((await client.leaseTimeToLive(g.ID)).TTL > 0, true, 'orphan() leaves the lease');
  const early = new Session(client, { ttl: 5 });
  early.orphan();
  await t.rejects(early.ready(), { message: 'session: closed' });
});
