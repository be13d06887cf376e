// The whole agent (presence + reconciler + runner) against a real kvd: fencing when the store cannot
// be reached (units killed before the lease can expire, nothing started while fenced, state keys gone
// with the lease, units back under a new lease), and the graceful stop.
import t from 'tap';
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { Client } from '../../../src/client/index.js';
import { Agent } from '../../../src/fleet/agent/agent.js';
import { MachineInfo } from '../../../src/fleet/agent/machine-info.js';
import { clientPresenceStore, type LeaseKeepAlive, type PresenceStore } from '../../../src/fleet/agent/presence.js';
import { Registry, RegistryView, type RegistrySnapshot } from '../../../src/fleet/registry/index.js';
import { Runner } from '../../../src/fleet/runner/index.js';
import { parseUnitFile } from '../../../src/fleet/unit/index.js';
import { KvdCluster } from '../../server/kvd-harness.js';
import { alive, nextEvent, sleeperUnit, tempDir, until, untilView } from './helpers.js';

const ME = 'c'.repeat(32);
const silent = pino({ level: 'silent' });

/**
 * The presence store with a switch: while `down`, grants, renewals, revokes and announcements fail
 * as they would with the store unreachable (the reconciler's state writes still go through, which
 * is the harder case: it must not write while fenced).
 */
class SwitchedStore implements PresenceStore {
  down = false;
  private readonly inner: PresenceStore;

  constructor(
    registry: Registry,
    private readonly client: Client,
  ) {
    this.inner = clientPresenceStore(registry);
  }

  grant(ttl: number) {
    return this.down ? Promise.reject(new Error('store unreachable')) : this.inner.grant(ttl);
  }
  revoke(id: bigint) {
    return this.down ? Promise.reject(new Error('store unreachable')) : this.inner.revoke(id);
  }
  announce(...args: Parameters<PresenceStore['announce']>) {
    return this.down ? Promise.reject(new Error('store unreachable')) : this.inner.announce(...args);
  }
  keepAlive(id: bigint, ttl: number): LeaseKeepAlive {
    return new SwitchedKeepAlive(this.client, id, ttl, () => this.down);
  }
}

/** Renews every TTL/3 like the client's KeepAlive, except while the switch is down. */
class SwitchedKeepAlive extends EventEmitter implements LeaseKeepAlive {
  expiresAt: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly client: Client,
    private readonly id: bigint,
    private readonly ttl: number,
    private readonly down: () => boolean,
  ) {
    super();
    this.expiresAt = Date.now() + ttl * 1000;
    void this.renew();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async renew(): Promise<void> {
    if (this.closed) return;
    if (!this.down()) {
      const sentAt = Date.now();
      const r = await this.client.leaseKeepAliveOnce(this.id).catch(() => undefined);
      if (this.closed) return;
      if (r && r.TTL > 0) {
        this.expiresAt = sentAt + r.TTL * 1000;
        this.emit('renewed', r.TTL);
      } else if (r) {
        this.emit('lost', new Error('etcdserver: requested lease not found'));
        return;
      }
    }
    this.timer = setTimeout(() => void this.renew(), (this.ttl * 1000) / 3);
  }
}

t.test('agent against kvd', async (t) => {
  const cluster = await KvdCluster.create(1);
  const client = new Client({ endpoints: [cluster.members[0]!.url], autoSyncMembers: false });
  const dir = await tempDir();
  t.teardown(async () => {
    client.close();
    await cluster.close();
    await dir.remove();
  });

  const registry = new Registry(client, '/agent/fleet/');
  const view = new RegistryView(registry);
  const runner = new Runner({ stateDir: dir.path, baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  let facts = { cpus: 2, memTotal: 2e9, memFree: 1e9, load: 0.1 };
  const machine = new MachineInfo({
    id: ME,
    publicIp: '127.0.0.1',
    metadata: { role: 'test' },
    agentUrl: '',
    version: 'test',
    readFacts: async () => facts,
  });
  const store = new SwitchedStore(registry, client);
  const agent = new Agent({ registry, view, runner, machine, ttlSec: 2, logger: silent, presenceStore: store });
  t.teardown(async () => {
    await agent.stop();
    await view.stop();
  });
  const present = nextEvent<[bigint, number]>(agent.presence, 'present');
  await agent.start();
  const [lease1] = await present;
  await agent.ready();
  const state = (s: RegistrySnapshot, name: string) => s.states.get(name)?.get(ME);

  await registry.submit(parseUnitFile('a.service', sleeperUnit('a')), { desired: 'launched' });
  const ua = (await registry.getUnit('a.service'))!.unit;
  await registry.setPlacement('a.service', { machine: ME, hash: ua.hash, at: Date.now(), engine: 'test' }, []);
  let s = await untilView(view, (s) => state(s, 'a.service')?.sub === 'running' && s.machines.has(ME), 'a running');
  const pidA = state(s, 'a.service')!.mainPid;
  t.ok(alive(pidA));
  t.match(s.machines.get(ME), { id: ME, metadata: { role: 'test' }, cpus: 2 });

  t.test('fencing: the store is away longer than TTL − margin', async (t) => {
    const fenced = nextEvent<[string]>(agent.presence, 'fenced');
    const lostAt = Date.now();
    store.down = true;
    const [reason] = await fenced;
    const fencedAfter = Date.now() - lostAt;
    t.match(reason, /no lease renewal succeeded within 2 s − 500 ms/);
    t.ok(fencedAfter <= 2000, `fenced ${fencedAfter} ms after the last chance to renew (the lease's TTL is 2000 ms)`);
    t.equal(agent.presence.lease, undefined);
    await until(() => !alive(pidA), 'unit a killed');
    t.equal(runner.status('a.service')?.active, 'failed', 'killed, not restarted');

    // While fenced: a new placement here is not started.
    await registry.submit(parseUnitFile('b.service', sleeperUnit('b')), { desired: 'launched' });
    const ub = (await registry.getUnit('b.service'))!.unit;
    await registry.setPlacement('b.service', { machine: ME, hash: ub.hash, at: Date.now(), engine: 'test' }, []);
    await untilView(view, (s) => s.placements.has('b.service'), 'b placed');

    // The old lease expires in the store (its revoke could not get through): its keys go with it.
    s = await untilView(view, (s) => !s.machines.has(ME) && state(s, 'a.service') === undefined, 'machine and states gone with the lease');
    t.equal(state(s, 'b.service'), undefined);
    await agent.reconciler.settled();
    t.equal(runner.status('b.service'), undefined, 'nothing is loaded or started while fenced');
    t.same((await client.leaseTimeToLive(lease1)).TTL, -1, 'the old lease is gone');

    // The store is back: a new lease, the machine again, both units running under it.
    const back = nextEvent<[bigint, number]>(agent.presence, 'present');
    store.down = false;
    const [lease2] = await back;
    t.not(lease2, lease1);
    s = await untilView(view, (s) => state(s, 'a.service')?.sub === 'running' && state(s, 'b.service')?.sub === 'running' && s.machines.has(ME), 'both running');
    t.not(state(s, 'a.service')!.mainPid, pidA, 'a was started again');
    for (const name of ['a.service', 'b.service']) {
      t.equal((await client.get(registry.keys.state(name, ME))).kvs[0]!.lease, lease2, `${name}'s state is under the new lease`);
    }
    t.equal((await client.get(registry.keys.machine(ME))).kvs[0]!.lease, lease2);
  });

  t.test('machine facts that change are announced again', async (t) => {
    const changed = untilView(view, (s) => s.machines.get(ME)?.memFree === 5e8, 'announced');
    facts = { ...facts, memFree: 5e8 };
    t.equal(await machine.refresh(), true);
    await changed;
    t.pass('the new record is in the registry');
  });

  t.test('graceful stop: units stopped (even one still starting), machine gone at once', async (t) => {
    await registry.submit(parseUnitFile('slow.service', '[Service]\nExecStartPre=/bin/sleep 1000\nExecStart=/bin/sleep 1000\nTimeoutStartSec=0\n'), { desired: 'launched' });
    const us = (await registry.getUnit('slow.service'))!.unit;
    await registry.setPlacement('slow.service', { machine: ME, hash: us.hash, at: Date.now(), engine: 'test' }, []);
    await untilView(view, (s) => state(s, 'slow.service')?.active === 'activating', 'slow activating');
    const pids = ['a.service', 'b.service'].map((n) => runner.status(n)?.mainPid);
    const started = Date.now();
    await agent.stop();
    t.ok(Date.now() - started < 5000, 'within the units\' stop timeout');
    for (const pid of pids) t.notOk(alive(pid), `pid ${pid} stopped`);
    const r = await client.get(registry.keys.prefix, { prefix: true, keysOnly: true });
    const keys = r.kvs.map((kv) => Buffer.from(kv.key).toString());
    t.notOk(keys.some((k) => k.includes('/machine/') || k.includes('/state/')), 'no machine or state key left (lease revoked, not expired)');
    t.equal(runner.status('a.service')?.active, 'inactive');
    await agent.stop();
  });
});
