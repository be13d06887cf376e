// Presence and fencing, driven by a fake clock and a fake store: the deadline is the send time of the
// last successful renewal + TTL − margin, to the millisecond; past it the lease is abandoned,
// 'fenced' is emitted, and a new lease is acquired and announced.
import t from 'tap';
import { EventEmitter } from 'node:events';
import { fencingMargin, Presence, type LeaseKeepAlive, type PresenceStore } from '../../../src/fleet/agent/presence.js';
import type { MachineRecord } from '../../../src/fleet/registry/index.js';
import { FakeClock } from '../../support/fake-clock.js';
import { flush } from './helpers.js';

class FakeKeepAlive extends EventEmitter implements LeaseKeepAlive {
  closed = false;
  constructor(public expiresAt: number) {
    super();
  }
  /** A renewal sent at `sentAt` succeeded (its answer arrives now). */
  renew(sentAt: number, ttl: number): void {
    this.expiresAt = sentAt + ttl * 1000;
    this.emit('renewed', ttl);
  }
  lose(message: string): void {
    this.emit('lost', new Error(message));
  }
  close(): void {
    this.closed = true;
  }
}

class FakeStore implements PresenceStore {
  grants: bigint[] = [];
  revoked: bigint[] = [];
  announced: { lease: bigint; id: string }[] = [];
  keepAlives = new Map<bigint, FakeKeepAlive>();
  failGrants = 0;
  failAnnounces = 0;
  failRevokes = false;
  /** When set, announcements wait for the test to resolve them. */
  holdAnnounce: { resolve: (rev: number) => void }[] | undefined;
  grantedTtl: number | undefined;
  private nextId = 1n;
  private rev = 10;

  constructor(private readonly clock: FakeClock) {}

  async grant(ttlSec: number): Promise<{ id: bigint; ttl: number }> {
    if (this.failGrants > 0) {
      this.failGrants--;
      throw new Error('etcdserver: no leader');
    }
    const id = this.nextId++;
    this.grants.push(id);
    return { id, ttl: this.grantedTtl ?? ttlSec };
  }

  keepAlive(id: bigint, ttlSec: number): FakeKeepAlive {
    const ka = new FakeKeepAlive(this.clock.now() + ttlSec * 1000);
    this.keepAlives.set(id, ka);
    return ka;
  }

  async revoke(id: bigint): Promise<void> {
    if (this.failRevokes) throw new Error('unreachable');
    this.revoked.push(id);
  }

  async announce(machine: MachineRecord, lease: bigint): Promise<number> {
    if (this.failAnnounces > 0) {
      this.failAnnounces--;
      throw new Error('write outcome unknown');
    }
    if (this.holdAnnounce) {
      const held = this.holdAnnounce;
      return new Promise((resolve) => held.push({ resolve }));
    }
    this.announced.push({ lease, id: machine.id });
    return ++this.rev;
  }
}

const record = (): MachineRecord => ({ id: 'm1', publicIp: '127.0.0.1', metadata: {}, agentUrl: '', cpus: 1, memTotal: 1, memFree: 1, load: 0, version: 't', startedAt: 0 });

interface Log {
  present: [bigint, number, number][];
  fenced: [string, number][];
  warnings: string[];
}

function setup(ttlSec = 5): { clock: FakeClock; store: FakeStore; presence: Presence; log: Log } {
  const clock = new FakeClock();
  const store = new FakeStore(clock);
  const presence = new Presence({ store, machine: record, ttlSec, clock });
  const log: Log = { present: [], fenced: [], warnings: [] };
  presence.on('present', (lease, rev) => log.present.push([lease, rev, clock.now()]));
  presence.on('fenced', (reason) => log.fenced.push([reason, clock.now()]));
  presence.on('warning', (e) => log.warnings.push(e.message));
  return { clock, store, presence, log };
}

t.test('margin: max(500 ms, TTL/5)', async (t) => {
  t.equal(fencingMargin(5), 1000);
  t.equal(fencingMargin(1), 500);
  t.equal(fencingMargin(2), 500);
  t.equal(fencingMargin(30), 6000);
});

t.test('present: grant, keep alive, announce', async (t) => {
  const { clock, store, presence, log } = setup();
  t.equal(presence.state, 'idle');
  const t0 = clock.now();
  presence.start();
  presence.start();
  await flush();
  t.same(store.grants, [1n], 'one lease, even when started twice');
  t.same(store.announced, [{ lease: 1n, id: 'm1' }]);
  t.same(log.present, [[1n, 11, t0]]);
  t.equal(presence.lease, 1n);
  t.equal(presence.announcedRevision, 11);
  t.equal(presence.deadline, t0 + 5000 - 1000, 'deadline: grant sent + TTL − margin');
  t.equal(presence.state, 'present');
});

t.test('the deadline follows the send time of the last successful renewal', async (t) => {
  const { clock, store, presence, log } = setup();
  const t0 = clock.now();
  presence.start();
  await flush();
  const ka = store.keepAlives.get(1n)!;

  // A renewal sent at t0+1667 whose answer came at t0+1700.
  clock.advance(1700);
  ka.renew(t0 + 1667, 5);
  t.equal(presence.deadline, t0 + 1667 + 4000);

  // The store is away for a while (renewals fail, none succeeds) but comes back in time: nothing happens.
  clock.advance(5667 - 1700 - 1);
  t.same(log.fenced, [], 'not fenced 1 ms before the deadline');
  ka.renew(t0 + 5600, 5);
  t.equal(presence.deadline, t0 + 5600 + 4000);
  clock.advance(3900);
  t.same(log.fenced, [], 'an outage shorter than TTL − margin fences nothing');
  t.equal(presence.lease, 1n);

  // Then no renewal succeeds any more.
  clock.advance(9600 - (clock.now() - t0) - 1);
  t.same(log.fenced, []);
  clock.advance(1);
  t.equal(log.fenced.length, 1, 'fenced exactly at the deadline');
  t.equal(log.fenced[0]![1], t0 + 9600);
  t.match(log.fenced[0]![0], /no lease renewal succeeded within 5 s − 1000 ms/);
  t.equal(presence.lease, undefined, 'the old lease is not used any more');
  t.ok(ka.closed, 'its keep-alive stopped');

  await flush();
  t.same(store.revoked, [1n], 'the old lease is revoked (best effort), so its keys go at once');
  t.same(store.grants, [1n, 2n], 'a new lease');
  t.same(store.announced.map((a) => a.lease), [1n, 2n], 'announced again under it');
  t.same(log.present.map((p) => p[0]), [1n, 2n]);
  t.equal(presence.lease, 2n);
  t.equal(presence.announcedRevision, 12);

  // A late event from the old keep-alive changes nothing.
  ka.renew(clock.now(), 5);
  ka.lose('gone');
  t.equal(log.fenced.length, 1);
});

t.test('a renewal answered after the deadline does not count', async (t) => {
  const { clock, store, presence, log } = setup();
  const t0 = clock.now();
  presence.start();
  await flush();
  const ka = store.keepAlives.get(1n)!;
  // The event loop was blocked: time is past the deadline but the timer has not run yet.
  clock.t = t0 + 4500;
  ka.renew(t0 + 3000, 5);
  t.equal(log.fenced.length, 1);
  t.match(log.fenced[0]![0], /came back after the fencing deadline/);
  await flush();
  t.equal(presence.lease, 2n);
});

t.test('a lease the store says is gone is fenced at once', async (t) => {
  const { clock, store, presence, log } = setup();
  presence.start();
  await flush();
  clock.advance(100);
  store.keepAlives.get(1n)!.lose('etcdserver: requested lease not found');
  t.same(log.fenced.map((f) => f[0]), ['the lease is lost: etcdserver: requested lease not found']);
  await flush();
  t.equal(presence.lease, 2n);
});

t.test('a granted TTL other than the one asked is the one used', async (t) => {
  const { clock, store, presence } = setup(1);
  store.grantedTtl = 3;
  const t0 = clock.now();
  presence.start();
  await flush();
  t.equal(presence.deadline, t0 + 3000 - 500);
});

t.test('failed grants are retried with backoff until the store answers', async (t) => {
  const { clock, store, presence, log } = setup();
  store.failGrants = 3;
  presence.start();
  await flush();
  t.equal(log.warnings.length, 1);
  t.equal(presence.state, 'acquiring');
  clock.advance(249);
  await flush();
  t.equal(log.warnings.length, 1, 'first retry after 250 ms');
  clock.advance(1);
  await flush();
  t.equal(log.warnings.length, 2);
  clock.advance(500);
  await flush();
  t.equal(log.warnings.length, 3, 'then 500 ms');
  clock.advance(999);
  await flush();
  t.same(store.grants, []);
  clock.advance(1);
  await flush();
  t.same(store.grants, [1n], 'then 1000 ms');
  t.equal(presence.lease, 1n);
  t.same(log.warnings, ['etcdserver: no leader', 'etcdserver: no leader', 'etcdserver: no leader']);
});

t.test('a failed announcement is retried under the same lease', async (t) => {
  const { clock, store, presence, log } = setup();
  store.failAnnounces = 1;
  presence.start();
  await flush();
  t.same(log.warnings, ['write outcome unknown']);
  t.equal(presence.lease, undefined, 'not present before the machine is announced');
  clock.advance(250);
  await flush();
  t.same(store.grants, [1n]);
  t.same(log.present.map((p) => p[0]), [1n]);
});

t.test('a lease that runs out before its announcement completes is dropped, not fenced', async (t) => {
  const { clock, store, presence, log } = setup();
  store.holdAnnounce = [];
  presence.start();
  await flush();
  t.equal(store.holdAnnounce.length, 1);
  clock.advance(4000);
  await flush();
  t.same(log.fenced, [], "nothing ran under it: no 'fenced'");
  t.same(store.revoked, [1n]);
  t.same(store.grants, [1n, 2n]);
  const [first, second] = store.holdAnnounce;
  first!.resolve(50);
  await flush();
  t.same(log.present, [], 'the old announcement completing does not make the old lease present');
  second!.resolve(51);
  await flush();
  t.same(log.present.map((p) => [p[0], p[1]]), [[2n, 51]]);
});

t.test('reannounce: under the current lease, only while present', async (t) => {
  const { store, presence, log } = setup();
  await presence.reannounce();
  t.same(store.announced, [], 'nothing before a lease');
  presence.start();
  await flush();
  await presence.reannounce();
  t.same(store.announced.map((a) => a.lease), [1n, 1n]);
  store.failAnnounces = 1;
  await presence.reannounce();
  t.same(log.warnings, ['write outcome unknown'], 'a failure is a warning (the next change or lease announces again)');
});

t.test('stop: revokes the lease, leaves no timer, emits nothing more', async (t) => {
  const { clock, store, presence, log } = setup();
  presence.start();
  await flush();
  await presence.stop();
  t.same(store.revoked, [1n]);
  t.equal(presence.lease, undefined);
  t.equal(presence.state, 'stopped');
  t.equal(clock.pending, 0);
  clock.advance(60_000);
  await flush();
  t.equal(log.fenced.length, 0);
  await presence.stop();
  t.same(store.revoked, [1n], 'once');
});

t.test('stop without revoking; a failed revoke is a warning', async (t) => {
  const a = setup();
  a.presence.start();
  await flush();
  await a.presence.stop({ revoke: false });
  t.same(a.store.revoked, []);

  const b = setup();
  b.presence.start();
  await flush();
  b.store.failRevokes = true;
  await b.presence.stop();
  t.same(b.log.warnings, ['unreachable']);
});

t.test('stop while waiting to retry wakes the wait and ends the attempts', async (t) => {
  const { clock, store, presence } = setup();
  store.failGrants = 100;
  presence.start();
  await flush();
  await presence.stop();
  await flush();
  t.equal(clock.pending, 0);
  store.failGrants = 0;
  clock.advance(10_000);
  await flush();
  t.same(store.grants, [], 'no lease after stop');
});

t.test("a 'fenced' listener that stops presence is obeyed", async (t) => {
  const { clock, store, presence, log } = setup();
  presence.on('fenced', () => void presence.stop());
  presence.start();
  await flush();
  clock.advance(4000);
  await flush();
  t.equal(log.fenced.length, 1);
  t.same(store.grants, [1n], 'no new lease');
  t.equal(presence.state, 'stopped');
});

t.test('a grant that completes after stop is revoked at once', async (t) => {
  const { store, presence } = setup();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const grant = store.grant.bind(store);
  store.grant = async (ttl) => {
    await gate;
    return grant(ttl);
  };
  presence.start();
  await flush();
  const stopped = presence.stop();
  release();
  await stopped;
  await flush();
  t.same(store.grants, [1n]);
  t.same(store.revoked, [1n]);
  t.same(store.announced, []);
});

t.test('a fence names the renewals that failed since the last success', async (t) => {
  const { clock, store, presence, log } = setup();
  const t0 = clock.now();
  presence.start();
  await flush();
  const ka = store.keepAlives.get(1n)!;
  clock.advance(500);
  ka.renew(t0 + 500, 5);
  clock.advance(1500);
  ka.emit('failed', Object.assign(new Error('request timed out'), { endpoint: 'http://127.0.0.1:1' }), t0 + 1000);
  clock.advance(1000);
  ka.emit('failed', new Error('etcdserver: no leader'), t0 + 2750);
  clock.advance(3000);
  t.equal(log.fenced.length, 1);
  t.equal(
    log.fenced[0]![0],
    `no lease renewal succeeded within 5 s − ${fencingMargin(5)} ms; renewals since the last success: ` +
      'sent 500 ms after the last success, failed after 1000 ms at http://127.0.0.1:1: request timed out; ' +
      'sent 2250 ms after the last success, failed after 250 ms: etcdserver: no leader',
  );
});

t.test('a renewal that succeeds after failures says how long the machine went without one', async (t) => {
  const { clock, store, presence } = setup();
  const warnings: string[] = [];
  presence.on('warning', (e) => warnings.push(e.message));
  const t0 = clock.now();
  presence.start();
  await flush();
  const ka = store.keepAlives.get(1n)!;
  clock.advance(1500);
  ka.emit('failed', new Error('request timed out'), t0 + 500);
  clock.advance(500);
  ka.renew(t0 + 1750, 5);
  t.same(warnings, [`lease renewed after 1750 ms without a successful renewal (the machine fences at ${5000 - fencingMargin(5)} ms); the last failure: sent 500 ms after the last success, failed after 1000 ms: request timed out`]);
  t.equal(presence.deadline, t0 + 1750 + 5000 - fencingMargin(5));
  clock.advance(500);
  ka.renew(t0 + 2250, 5);
  t.equal(warnings.length, 1, 'a renewal after a success is not worth a warning');
});
