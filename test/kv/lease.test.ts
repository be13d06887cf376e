import t from 'tap';
import { EventType, type Event } from '../../src/kv/api.js';
import { Lessor } from '../../src/kv/lease/lessor.js';
import { b, coldValues, Driver, errText, s } from './helpers.js';

function fakeClock(start = 1_000_000) {
  const c = { now: start, fn: () => c.now };
  return c;
}

t.test('grant: IDs, minimum TTL, limits (etcd numbers)', async (t) => {
  const d = await Driver.open(t);
  t.same(await d.grant(7n, 5), { header: { revision: 1 }, ID: 7n, TTL: 5 }, 'header: current revision, no bump');
  t.equal(errText(await d.grant(7n, 5)), 'etcdserver: lease already exists');
  t.same(await d.grant(8n, 0), { header: { revision: 1 }, ID: 8n, TTL: 2 }, 'TTL 0 is raised to the minimum and the raised TTL returned');
  t.same(((await d.grant(9n, 1)) as { TTL: number }).TTL, 2);
  t.same(((await d.grant(10n, -4)) as { TTL: number }).TTL, 2);
  t.equal(errText(await d.grant(11n, 9_000_000_001)), 'etcdserver: too large lease TTL');
  t.same(((await d.grant(12n, 9_000_000_000)) as { TTL: number }).TTL, 9_000_000_000, 'exactly the maximum is fine');
  t.same(((await d.grant(-5n, 60)) as { ID: bigint }).ID, -5n, 'negative IDs are accepted');
  t.same(((await d.grant(2n ** 63n - 1n, 60)) as { ID: bigint }).ID, 2n ** 63n - 1n);
  t.equal(errText(await d.grant(0n, 60)), 'etcdserver: requested lease not found', 'ID 0 (the proposer must choose one)');
  t.same(d.store.leases().sort((x, y) => (x < y ? -1 : 1)), [-5n, 7n, 8n, 9n, 10n, 12n, 2n ** 63n - 1n]);
  t.equal(d.store.currentRevision(), 1);
  const big = await Driver.open(t, { minLeaseTtl: 10 });
  t.same(((await big.grant(1n, 3)) as { TTL: number }).TTL, 10, 'the minimum is configurable');
});

t.test('revoke deletes the attached keys in one revision', async (t) => {
  const d = await Driver.open(t);
  await d.grant(77n, 100);
  await d.put('w/a', '1', { lease: 77n }); // 2
  await d.put('w/b', '2', { lease: 77n }); // 3
  await d.put('w/b', '3', { lease: 77n }); // 4
  await d.put('w/c', 'c', { lease: 77n }); // 5
  await d.put('w/c', 'detached'); // 6: a put without lease detaches
  await d.put('w/z', 'z'); // 7
  t.same(d.store.leaseTimeToLive({ ID: 77n, keys: true }).keys.map(s), ['w/a', 'w/b']);
  const seen: Event[][] = [];
  d.store.onApplied((evs) => seen.push(evs));
  t.same(await d.revoke(77n), { header: { revision: 8 } });
  t.same(await d.kv('w/', { range_end: b('w0') }), ['w/c=detached', 'w/z=z']);
  t.same(seen.length, 1);
  t.same(
    seen[0]!.map((e) => [e.type, s(e.kv.key), e.kv.mod_revision, s(e.prev_kv?.value)]),
    [
      [EventType.DELETE, 'w/a', 8, coldValues() ? '' : '1'],
      [EventType.DELETE, 'w/b', 8, coldValues() ? '' : '3'],
    ],
    'DELETE events, in key order, one revision (cold: without the values no one asked for)',
  );
  t.equal(errText(await d.revoke(77n)), 'etcdserver: requested lease not found', 'already revoked');
  t.equal(errText(await d.revoke(1234n)), 'etcdserver: requested lease not found');
  t.equal(errText(await d.req({ put: { key: b('x'), lease: 77n } })), 'etcdserver: requested lease not found');
  // A lease without keys: revoking it uses no revision.
  await d.grant(5n, 10);
  t.same(await d.revoke(5n), { header: { revision: 8 } });
  t.same(d.store.leaseTimeToLive({ ID: 77n }), { header: { revision: 8 }, ID: 77n, TTL: -1, grantedTTL: 0, keys: [] });
});

t.test('ignore_lease keeps the attachment; deletes detach', async (t) => {
  const d = await Driver.open(t);
  await d.grant(1n, 60);
  await d.grant(2n, 60);
  await d.put('a', 'x', { lease: 1n });
  await d.put('a', 'y', { ignore_lease: true });
  await d.put('b', 'x', { lease: 1n });
  await d.put('b', 'y', { lease: 2n }); // moved to lease 2
  await d.put('c', 'x', { lease: 1n });
  await d.del('c');
  await d.put('c', 'again'); // not attached any more
  t.same(d.store.leaseTimeToLive({ ID: 1n, keys: true }).keys.map(s), ['a']);
  t.same(d.store.leaseTimeToLive({ ID: 2n, keys: true }).keys.map(s), ['b']);
  await d.revoke(1n);
  t.same(await d.kv('\0', { range_end: new Uint8Array([0]) }), ['b=y', 'c=again']);
});

t.test('expiry with an injected clock: only the leader, full TTL on promotion', async (t) => {
  const clock = fakeClock();
  const d = await Driver.open(t, { clock: clock.fn });
  await d.grant(1n, 10); // granted while a follower: no deadline
  await d.put('svc/a', 'up', { lease: 1n });
  await d.put('svc/b', 'up', { lease: 1n });
  await d.put('other', 'x');
  clock.now += 3_600_000;
  t.same(d.store.expired(), [], 'a follower never expires leases');
  t.equal(d.store.remainingTTL(1n), 10, 'a follower reports the granted TTL');

  d.store.promote();
  t.equal(d.store.remainingTTL(1n), 9, 'a full TTL from promotion, truncated like etcd');
  clock.now += 9_999;
  t.same(d.store.expired(), []);
  t.equal(d.store.remainingTTL(1n), 0);
  clock.now += 1;
  t.same(d.store.expired(), [1n], 'expired at the deadline');
  t.same(d.store.expired(), [], 'not reported again while its revoke is in flight');
  t.equal(d.store.renew(1n), 0, 'an expired lease cannot be renewed');
  clock.now += 3_000;
  t.same(d.store.expired(), [1n], 'reported again after the retry interval');

  // The leader proposes the revoke; applying it deletes the keys in one revision.
  const rev = d.store.currentRevision();
  await d.revoke(1n);
  t.equal(d.store.currentRevision(), rev + 1);
  t.same(await d.kv('\0', { range_end: new Uint8Array([0]) }), ['other=x']);
  t.same(d.store.expired(), []);
  t.equal(d.store.remainingTTL(1n), -1);

  // Keepalive.
  await d.grant(2n, 600); // granted on the leader: deadline now + 600 s
  t.equal(d.store.remainingTTL(2n), 599, 'a 600 s lease shows 599 at once');
  clock.now += 1_500;
  t.equal(d.store.remainingTTL(2n), 598);
  t.same(d.store.leaseKeepAlive({ ID: 2n }), { header: { revision: rev + 1 }, ID: 2n, TTL: 600 });
  t.equal(d.store.remainingTTL(2n), 599);
  t.same(d.store.leaseKeepAlive({ ID: 99n }), { header: { revision: rev + 1 }, ID: 99n, TTL: 0 }, 'unknown: TTL 0');
  const ttl = d.store.leaseTimeToLive({ ID: 2n, keys: true });
  t.same(ttl, { header: { revision: rev + 1 }, ID: 2n, TTL: 599, grantedTTL: 600, keys: [] });

  // A new leader: promote(extend) restarts every deadline; demote stops expiry.
  clock.now += 599_000;
  d.store.demote();
  clock.now += 10_000;
  t.same(d.store.expired(), []);
  d.store.promote(1_000);
  clock.now += 600_000;
  t.same(d.store.expired(), [], 'the extension counts');
  clock.now += 1_000;
  t.same(d.store.expired(), [2n]);
});

t.test('Lessor: expired() limit, timeToLive keys sorted', async (t) => {
  const clock = fakeClock();
  const l = new Lessor({ clock: clock.fn });
  l.promote();
  for (let i = 1n; i <= 5n; i++) l.grant(i, 2);
  l.attach(3n, 'zeta');
  l.attach(3n, 'alpha');
  l.attach(3n, 'mid');
  clock.now += 2_000;
  t.same(l.expired(2), [1n, 2n]);
  t.same(l.expired(), [3n, 4n, 5n]);
  t.same(l.timeToLive(3n, true).keys.map(s), ['alpha', 'mid', 'zeta']);
  t.same(l.timeToLive(3n, false).keys, []);
  t.equal(l.isPrimary(), true);
  t.equal(l.renew(42n), 0);
});

t.test('leases persist with the data and keep their keys across a restart', async (t) => {
  const clock = fakeClock();
  const d = await Driver.open(t, { clock: clock.fn });
  await d.grant(-9n, 30);
  await d.grant(2n ** 62n, 40);
  await d.put('a', '1', { lease: -9n });
  await d.put('b', '1', { lease: 2n ** 62n });
  await d.revoke(2n ** 62n);
  await d.reopen();
  t.same(d.store.leases(), [-9n]);
  t.same(d.store.leaseTimeToLive({ ID: -9n, keys: true }).keys.map(s), ['a']);
  t.equal(d.store.leaseTimeToLive({ ID: -9n }).grantedTTL, 30);
  t.equal(errText(await d.grant(-9n, 5)), 'etcdserver: lease already exists');
  await d.revoke(-9n);
  t.same(await d.kv('\0', { range_end: new Uint8Array([0]) }), []);
});

t.test('Lessor: nextDeadline() is the earliest moment expired() can report a lease', async (t) => {
  const clock = fakeClock();
  const l = new Lessor({ clock: clock.fn, expiredRetryMs: 3000 });
  l.grant(1n, 5);
  t.equal(l.nextDeadline(), Infinity, 'a follower expires nothing');
  l.promote();
  const start = clock.now;
  t.equal(l.nextDeadline(), start + 5000);
  l.grant(2n, 3);
  t.equal(l.nextDeadline(), start + 3000, 'a shorter lease granted later comes first');
  clock.now += 1000;
  l.renew(2n);
  t.equal(l.nextDeadline(), start + 4000, 'a renewal moves its deadline');
  clock.now = start + 4000;
  t.same(l.expired(), [2n], 'reported exactly at its deadline');
  t.equal(l.nextDeadline(), start + 5000, 'a reported lease waits for its retry time');
  clock.now = start + 5000;
  t.same(l.expired(), [1n]);
  t.equal(l.nextDeadline(), start + 7000, 'the revoke of lease 2 is retried 3 s after it was reported');
  l.remove(1n);
  l.remove(2n);
  t.equal(l.nextDeadline(), Infinity);
  l.demote();
  t.equal(l.nextDeadline(), Infinity);
});
