// The agent's service registrations with the runner, the reconciler and discovery's register()
// replaced by fakes: which unit is registered when (active, started, under a lease), the order of a
// deregistration and the next registration of the same unit, fencing and a new lease, rebinding,
// retries, and broken [X-Service] sections.
import t from 'tap';
import { EventEmitter } from 'node:events';
import { ClientError, GrpcCode } from '../../../src/client/index.js';
import { ValidationError, type ServiceDefinition } from '../../../src/discovery/index.js';
import { ServiceRegistrations, type HeldUnits, type ServiceRegistration } from '../../../src/fleet/agent/service-registrations.js';
import type { UnitStatus } from '../../../src/fleet/agent/runner-port.js';
import type { ActiveState, LoadState, UnitFile } from '../../../src/fleet/types.js';
import { parseUnitFile } from '../../../src/fleet/unit/index.js';
import { FakeClock } from '../../support/fake-clock.js';
import { flush } from '../agent/helpers.js';

const MACHINE = 'a1b2c3d4'.repeat(4);

class FakeRunner extends EventEmitter {
  readonly statuses = new Map<string, UnitStatus>();
  status(name: string): UnitStatus | undefined {
    return this.statuses.get(name);
  }
  set(name: string, active: ActiveState): void {
    const st: UnitStatus = { active, sub: active === 'active' ? 'running' : 'dead', result: 'success', since: 0, restarts: 0 };
    this.statuses.set(name, st);
    this.emit('status', name, st);
  }
}

interface Held {
  hash: string;
  load: LoadState;
  started: boolean;
  file: UnitFile;
}

class FakeUnits implements HeldUnits {
  readonly held = new Map<string, Held>();
  unit(name: string) {
    return this.held.get(name);
  }
  unitFile(name: string) {
    return this.held.get(name)?.file;
  }
  units() {
    return [...this.held.keys()].map((name) => ({ name }));
  }
  hold(name: string, text: string, hash = 'h1', started = true): void {
    this.held.set(name, { hash, load: 'loaded', started, file: parseUnitFile(name, text) });
  }
}

class FakeRegistration extends EventEmitter implements ServiceRegistration {
  deregistered = false;
  /** Set to hold deregister() until released. */
  gate: Promise<void> | undefined;
  failDeregister = false;
  constructor(
    readonly def: ServiceDefinition,
    public lease: bigint,
    private readonly log: string[],
  ) {
    super();
  }
  rebind(lease: bigint): void {
    this.lease = lease;
    this.log.push(`rebind ${this.def.ID} ${lease}`);
  }
  async deregister(): Promise<void> {
    this.log.push(`deregister ${this.def.ID} ${this.def.Port}`);
    await this.gate;
    this.deregistered = true;
    this.log.push(`deregistered ${this.def.ID}`);
    if (this.failDeregister) throw new Error('store unreachable');
  }
}

function world(opts: { failRegister?: () => Error | undefined } = {}) {
  const runner = new FakeRunner();
  const units = new FakeUnits();
  const clock = new FakeClock();
  const log: string[] = [];
  const warnings: string[] = [];
  const regs: FakeRegistration[] = [];
  const services = new ServiceRegistrations({
    register: async (def, lease) => {
      const err = opts.failRegister?.();
      log.push(`register ${def.ID} ${def.Port} ${lease}${err ? ' failed' : ''}`);
      if (err) throw err;
      const r = new FakeRegistration(def, lease, log);
      regs.push(r);
      return r;
    },
    runner,
    units,
    machineId: MACHINE,
    address: '10.0.0.5',
    facts: { machineId: MACHINE, bootId: 'b'.repeat(32), hostname: 'host1.example.com' },
    clock,
    retryMs: 1000,
    log: { warn: (o: object, msg: string) => void warnings.push(`${msg} ${JSON.stringify(o)}`), info: () => undefined },
  });
  return { runner, units, clock, log, warnings, regs, services };
}

const unit = (port: string, extra = '') => `[Service]\nExecStart=/bin/true\n\n[X-Service]\nName=web\nPort=${port}\nCheck=http://127.0.0.1:${port}/health\n${extra}`;

t.test('an active unit started under the lease is registered; stopping deregisters it', async (t) => {
  const w = world();
  w.services.start();
  w.units.hold('web@8080.service', unit('%i'));
  w.runner.set('web@8080.service', 'active');
  await w.services.settled();
  t.same(w.log, [], 'no lease yet: nothing registered');

  w.services.setLease(7n);
  await w.services.settled();
  t.same(w.log, [`register a1b2c3d4-web@8080.service 8080 7`]);
  t.match(w.regs[0]!.def, { Name: 'web', ID: 'a1b2c3d4-web@8080.service', Address: '10.0.0.5', Port: 8080, Node: MACHINE, Checks: [{ Type: 'http', Target: 'http://127.0.0.1:8080/health' }] });
  t.same(w.services.registered(), ['web@8080.service']);

  w.runner.set('web@8080.service', 'activating');
  w.runner.set('web@8080.service', 'active');
  await w.services.settled();
  t.same(w.log.slice(1), [], 'status events that end where they began change nothing once settled');

  for (const [active, what] of [['deactivating', 'stopping'], ['failed', 'failed'], ['inactive', 'stopped']] as [ActiveState, string][]) {
    w.runner.set('web@8080.service', 'active');
    await w.services.settled();
    w.log.length = 0;
    w.runner.set('web@8080.service', active);
    await w.services.settled();
    t.same(w.log, ['deregister a1b2c3d4-web@8080.service 8080', 'deregistered a1b2c3d4-web@8080.service'], `${what}: deregistered`);
    t.same(w.services.registered(), []);
  }
  t.same(w.services.counts, { registered: 3, deregistered: 3, rebound: 0, failed: 0 });
});

t.test('a unit not started by the agent, not loaded, without [X-Service], or no longer held is not registered', async (t) => {
  const w = world();
  w.services.start();
  w.services.setLease(1n);
  w.units.hold('a.service', unit('81'), 'h', false);
  w.units.hold('b.service', '[Service]\nExecStart=/bin/true\n');
  w.units.hold('c.service', unit('82'));
  w.units.held.get('c.service')!.load = 'error';
  for (const n of ['a.service', 'b.service', 'c.service', 'gone.service']) w.runner.set(n, 'active');
  await w.services.settled();
  t.same(w.log, []);
  t.equal(w.services.problem('b.service', 'h1', w.units.unitFile('b.service')!), undefined, 'no section, no problem');
});

t.test('a replaced unit: the old instance is deregistered before the new one is registered', async (t) => {
  const w = world();
  w.services.start();
  w.services.setLease(3n);
  w.units.hold('api.service', unit('9000'), 'h1');
  w.runner.set('api.service', 'active');
  await w.services.settled();
  let release!: () => void;
  w.regs[0]!.gate = new Promise((r) => (release = r));
  // --replace: the reconciler holds the new content, and the runner restarts it.
  w.units.hold('api.service', unit('9001'), 'h2');
  w.runner.set('api.service', 'inactive');
  w.runner.set('api.service', 'active');
  await flush();
  t.same(w.log.slice(1), ['deregister a1b2c3d4-api.service 9000'], 'the new one waits for the delete');
  release();
  await w.services.settled();
  t.same(w.log.slice(1), ['deregister a1b2c3d4-api.service 9000', 'deregistered a1b2c3d4-api.service', 'register a1b2c3d4-api.service 9001 3']);
});

t.test('fencing ends the registrations; a new lease registers the units active again under it', async (t) => {
  const w = world();
  w.services.start();
  w.services.setLease(10n);
  w.units.hold('a.service', unit('81'));
  w.units.hold('b.service', unit('82'));
  w.runner.set('a.service', 'active');
  w.runner.set('b.service', 'active');
  await w.services.settled();
  t.equal(w.regs.length, 2);

  w.services.fence();
  await w.services.settled();
  t.ok(w.regs.every((r) => r.deregistered), 'every registration ended at the fence (its checks stop)');
  // The reconciler kills every unit and marks them not started.
  for (const n of ['a.service', 'b.service']) {
    w.units.held.get(n)!.started = false;
    w.runner.set(n, 'failed');
  }
  w.services.setLease(11n);
  await w.services.settled();
  t.equal(w.regs.length, 2, 'nothing registered before the units run again');
  for (const n of ['a.service', 'b.service']) {
    w.units.held.get(n)!.started = true;
    w.runner.set(n, 'active');
  }
  await w.services.settled();
  t.same(w.regs.slice(2).map((r) => [r.def.Port, r.lease]), [[81, 11n], [82, 11n]]);
});

t.test('a registration that lives across a lease change is rebound to the new lease', async (t) => {
  const w = world();
  w.services.start();
  w.services.setLease(20n);
  w.units.hold('a.service', unit('81'));
  w.runner.set('a.service', 'active');
  await w.services.settled();
  // Its write found lease 20 gone: it waits; nothing to do until the machine has another lease.
  w.regs[0]!.emit('leaseLost');
  await w.services.settled();
  t.same(w.log, ['register a1b2c3d4-a.service 81 20']);
  w.services.setLease(21n);
  await w.services.settled();
  t.same(w.log, ['register a1b2c3d4-a.service 81 20', 'rebind a1b2c3d4-a.service 21']);
  t.equal(w.services.counts.rebound, 1);
});

t.test('a registration that fails is tried again; a deregistration that fails is logged', async (t) => {
  let failures = 2;
  const w = world({ failRegister: () => (failures-- > 0 ? new ClientError('Unavailable', GrpcCode.Unavailable, 'no member answered') : undefined) });
  w.services.start();
  w.services.setLease(5n);
  w.units.hold('a.service', unit('81'));
  w.runner.set('a.service', 'active');
  await w.services.settled();
  t.same(w.log, ['register a1b2c3d4-a.service 81 5 failed']);
  w.clock.advance(999);
  await w.services.settled();
  t.equal(w.log.length, 1, 'not before retryMs');
  w.clock.advance(1);
  await w.services.settled();
  w.clock.advance(1000);
  await w.services.settled();
  t.same(w.log, ['register a1b2c3d4-a.service 81 5 failed', 'register a1b2c3d4-a.service 81 5 failed', 'register a1b2c3d4-a.service 81 5']);
  t.equal(w.clock.pending, 0, 'no retry left');
  t.match(w.warnings, [/registering the service instance failed; trying again.*no member answered/, /trying again/]);

  w.regs[0]!.failDeregister = true;
  w.runner.set('a.service', 'inactive');
  await w.services.settled();
  t.match(w.warnings[2], /deregistering the service instance failed.*store unreachable/);
  t.same(w.services.registered(), []);

  // A retry pending when the unit stops is dropped.
  failures = 1;
  w.runner.set('a.service', 'active');
  await w.services.settled();
  t.equal(w.clock.pending, 1);
  w.runner.set('a.service', 'inactive');
  await w.services.settled();
  t.equal(w.clock.pending, 0);
});

t.test('register() refusing the definition is not retried', async (t) => {
  const w = world({ failRegister: () => new ValidationError([{ field: 'Port', message: 'Port: 0 is not a port' }]) });
  w.services.start();
  w.services.setLease(5n);
  w.units.hold('a.service', unit('81'));
  w.runner.set('a.service', 'active');
  await w.services.settled();
  t.equal(w.clock.pending, 0);
  t.match(w.warnings, [/not valid; not registered/]);
});

t.test('a broken [X-Service]: the problem is returned (once logged), nothing is registered', async (t) => {
  const w = world();
  w.services.start();
  w.services.setLease(1n);
  const cases: [string, string, RegExp][] = [
    ['Web_1@1.service', '[Service]\nExecStart=/bin/true\n\n[X-Service]\nPort=80\n', /^Web_1@1\.service: invalid \[X-Service\]: line 4: Name= is required/],
    ['bad-port.service', unit('http'), /^bad-port\.service: invalid \[X-Service\]: line 6: Port=http: not a port \(an integer 1-65535\)/],
    ['bad-check.service', '[Service]\nExecStart=/bin/true\n[X-Service]\nName=x\nPort=80\nCheck=grpc://x\n', /line 6: Check=grpc:\/\/x: unknown check/],
  ];
  for (const [name, text, message] of cases) {
    w.units.hold(name, text);
    t.match(w.services.problem(name, 'h1', w.units.unitFile(name)!), message, name);
    t.match(w.services.problem(name, 'h1', w.units.unitFile(name)!), message, 'asked again: the same');
    w.runner.set(name, 'active');
  }
  await w.services.settled();
  t.same(w.log, [], 'nothing registered');
  t.equal(w.warnings.length, 3, 'each problem logged once');
  t.match(w.warnings[0], /the unit runs, nothing is registered/);
});

t.test('close() deregisters what is left and stops following the runner', async (t) => {
  const w = world();
  w.services.start();
  w.services.start();
  w.services.setLease(1n);
  w.units.hold('a.service', unit('81'));
  w.runner.set('a.service', 'active');
  await w.services.settled();
  await w.services.close();
  t.ok(w.regs[0]!.deregistered);
  t.equal(w.runner.listenerCount('status'), 0);
  w.runner.set('a.service', 'active');
  await w.services.settled();
  t.equal(w.regs.length, 1, 'nothing registered after close');
});
