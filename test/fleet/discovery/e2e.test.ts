// Issue 7's "Must show", on real processes: a 3-member kvd and 3 fleetd (dist/bin/fleetd.js), a
// template unit web@.service whose [X-Service] registers each instance with an HTTP check, three
// instances on three machines started with fleetctl. Shown, with the times measured and printed:
//
// - all three answer lookup(), every fleetd's /v1/health/service/web?passing and its DNS (A, SRV;
//   dig too when installed);
// - an instance failing its check leaves the passing set within interval + timeout, and returns;
// - a `kill -9` of the kvd member the watcher was connected to: a change made while it is down is
//   seen through another member; the member comes back;
// - a `kill -9` of the fleetd running an instance: the instance is gone within the agent TTL;
// - one watch('web') from the start saw every change, in order, once: its sets are exactly those
//   rebuilt from the store's history, revision by revision;
// - a unit whose [X-Service] is broken (no Name, a bad Port, an unknown check) is refused by
//   fleetctl; put in the registry directly, it still runs, the problem is in its state record and
//   fleetd's log, and nothing is registered. (The same errors
//   through the library and kvctl: test/discovery/registry.test.ts "invalid registrations write
//   nothing", test/discovery/kvctl-service.test.ts "bad registrations", test/discovery/unit.test.ts.)
import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Client, EventType, toText } from '../../../src/client/index.js';
import { decodeInstance, listServices, lookup, watch, type ServiceInstance, type ServiceSet } from '../../../src/discovery/index.js';
import { Registry, RegistryView } from '../../../src/fleet/registry/index.js';
import { parseUnitFile } from '../../../src/fleet/unit/index.js';
import { plainNode } from '../../plain-node.js';
import { freePort, tempDir } from '../../raft/cluster.js';
import { KvdCluster, type KvdProc } from '../../server/kvd-harness.js';
import { untilView } from '../agent/helpers.js';

const dist = (name: string) => fileURLToPath(new URL(`../../../dist/bin/${name}.js`, import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/web-server.mjs', import.meta.url));
const TTL_S = 5;
const INTERVAL_MS = 1000;
const TIMEOUT_MS = 800;
const PREFIX = '/flotilla/services/web/';
/** Child processes run dist/: their coverage would not merge with the tests' (see test/fleet/agent/fleetd.test.ts). */
const quiet = pino({ level: 'silent' });

class Fleetd {
  child: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();
  readonly log: string[] = [];
  constructor(
    readonly name: string,
    readonly machineId: string,
    readonly stateDir: string,
    readonly httpPort: number,
    readonly dnsPort: number,
    readonly endpoints: string,
  ) {}

  start(): Promise<void> {
    const args = ['--endpoints', this.endpoints, '--machine-id', this.machineId, '--state-dir', this.stateDir, '--agent-ttl', String(TTL_S),
      '--http-addr', `127.0.0.1:${this.httpPort}`, '--dns-addr', `127.0.0.1:${this.dnsPort}`, '--engine-hold-off', '0', '--log-level', 'warn'];
    const child = spawn(...plainNode([dist('fleetd'), ...args]), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => this.log.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => this.log.push(d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    return new Promise((resolve, reject) => {
      const onData = (d: Buffer) => {
        if (!d.toString().includes('fleetd: machine')) return;
        child.stderr!.off('data', onData);
        resolve();
      };
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`fleetd ${this.name} exited with ${code}: ${this.log.join('')}`)));
    });
  }

  kill9(): Promise<void> {
    this.child?.kill('SIGKILL');
    return this.exited;
  }

  /** The healthy instances of web its /v1/ API gives, once its catalog is at `revision` or later (a blocking query). */
  async passing(revision: number): Promise<{ ID: string; Port: number }[]> {
    const res = await fetch(`http://127.0.0.1:${this.httpPort}/v1/health/service/web?passing&index=${revision - 1}&wait=10s`);
    t.ok(Number(res.headers.get('x-consul-index')) >= revision, `${this.name}: its catalog reached revision ${revision}`);
    const body = (await res.json()) as { Service: { ID: string; Port: number } }[];
    return body.map((e) => ({ ID: e.Service.ID, Port: e.Service.Port }));
  }

  resolver(): Resolver {
    const r = new Resolver({ timeout: 2000, tries: 1 });
    r.setServers([`127.0.0.1:${this.dnsPort}`]);
    return r;
  }
}

function run(script: string, args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(...plainNode([script, ...args]), { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The number of watchers a member serves (its Prometheus gauge). */
async function watchersOn(m: KvdProc): Promise<number> {
  const text = await (await fetch(`${m.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('etcd_debugging_mvcc_watcher_total '));
  return Number(line?.split(' ')[1]);
}

const digInstalled = await new Promise<boolean>((resolve) => execFile('which', ['dig'], (err) => resolve(!err)));
const testStart = Date.now();

const kvd = await KvdCluster.create(3);
t.teardown(() => kvd.close());
// The member the watcher connects to: the leader, so that its kill -9 also costs an election.
const watched = await kvd.leader();
// fleetd's clients (and the test's other one) start on the other members (the first endpoint is
// pinned), so that the only watcher on `watched` is the test's watcher.
const endpoints = [...kvd.members.filter((m) => m !== watched), watched].map((m) => m.url).join(',');
const work = await tempDir('flotilla-discovery-e2e-');
t.teardown(() => rm(work, { recursive: true, force: true }));

const machines: Fleetd[] = [];
for (const [i, id] of ['a1', 'b2', 'c3'].map((p) => p.repeat(16)).entries()) {
  machines.push(new Fleetd(`f${i + 1}`, id, await tempDir(`flotilla-e2e-fleetd-${i + 1}-`), await freePort(), await freePort(), endpoints));
}
t.teardown(async () => {
  await Promise.all(machines.map((m) => m.kill9()));
  for (const m of machines) await rm(m.stateDir, { recursive: true, force: true });
});
await Promise.all(machines.map((m) => m.start()));

const client = new Client({ endpoints: endpoints.split(','), logger: quiet, requestTimeoutMs: 20000 });
t.teardown(() => client.close());
const registry = new Registry(client);
const view = new RegistryView(registry);
await view.start();
t.teardown(() => view.stop());
await untilView(view, (s) => machines.every((m) => s.machines.has(m.machineId)), 'three machines announced');

// The watcher, on one member only at first; it learns the others from `member list`.
const watchClient = new Client({ endpoints: [watched.url], logger: quiet, watchHeartbeatMs: 1000, requestTimeoutMs: 20000 });
t.teardown(() => watchClient.close());
await watchClient.sync();
const watchersBefore = await watchersOn(watched);
const sets: ServiceSet[] = [];
const onSet = new Set<() => void>();
const watchAbort = new AbortController();
t.teardown(() => watchAbort.abort());
const watching = (async () => {
  for await (const s of watch(watchClient, 'web', { signal: watchAbort.signal })) {
    sets.push(s);
    for (const f of [...onSet]) f();
  }
})();

/** Resolves with the first set (from index `from` on) that satisfies `cond`. */
function seen(cond: (s: ServiceSet) => boolean, from: number, timeoutMs = 20000): Promise<ServiceSet> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const s = sets.slice(from).find(cond);
      if (!s) return;
      cleanup();
      resolve(s);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`the watcher did not see the change in ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      onSet.delete(check);
    };
    onSet.add(check);
    check();
  });
}

await seen(() => true, 0);

// Three instance ports, and the units.
const ports: number[] = [];
while (ports.length < 3) {
  const p = await freePort();
  if (!ports.includes(p)) ports.push(p);
}
const [P1, P2, P3] = ports as [number, number, number];
const flagOf = (port: number) => join(work, `web-${port}.fail`);
await writeFile(
  join(work, 'web@.service'),
  [
    '[Unit]',
    'Description=Web server on port %i',
    '',
    '[Service]',
    `ExecStart=${process.execPath} ${fixture} %i ${work}/web-%i.fail`,
    '',
    '[X-Fleet]',
    'Conflicts=web@*.service',
    '',
    '[X-Service]',
    'Name=web',
    'Port=%i',
    'Check=http://127.0.0.1:%i/health',
    `CheckInterval=${INTERVAL_MS / 1000}s`,
    `CheckTimeout=${TIMEOUT_MS}ms`,
    '',
  ].join('\n'),
);
await writeFile(join(work, 'Bad_Unit.service'), '[Service]\nExecStart=/bin/sleep 1000\n\n[X-Service]\nPort=http\nCheck=grpc://127.0.0.1:1\n');

const statusOf = (s: ServiceSet, port: number) => s.instances.find((i) => i.Port === port)?.Status;
const allPassing = (s: ServiceSet) => s.instances.length === 3 && ports.every((p) => statusOf(s, p) === 'passing');
const measured: string[] = [];

t.test('three instances from one template, on three machines, answer lookup, HTTP and DNS', async (t) => {
  const fleetctl = ['--endpoint', endpoints];
  // fleetctl refuses a broken [X-Service]; put in the registry by other means, the agent reports it.
  const refused = await run(dist('fleetctl'), [...fleetctl, 'submit', 'web@.service', 'Bad_Unit.service'], work);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /^Error creating units: Bad_Unit\.service: invalid \[X-Service\]: line 5: Port=http: not a port/);
  await registry.submit(parseUnitFile('Bad_Unit.service', await readFile(join(work, 'Bad_Unit.service'), 'utf8')), { desired: 'launched' });
  const submitted = await run(dist('fleetctl'), [...fleetctl, 'submit', 'web@.service'], work);
  t.equal(submitted.code, 0, `fleetctl submit: ${submitted.stderr}`);
  const startedAt = Date.now();
  const started = await run(dist('fleetctl'), [...fleetctl, 'start', ...ports.map((p) => `web@${p}.service`)], work);
  t.equal(started.code, 0, `fleetctl start: ${started.stderr}`);
  t.comment(`fleetctl start printed:\n${started.stdout.trimEnd()}`);
  for (const p of ports) t.match(started.stdout, new RegExp(`Unit web@${p}\\.service launched on [0-9a-f]{8}\\.\\.\\./127\\.0\\.0\\.1`));

  const ready = await seen(allPassing, 0);
  measured.push(`three instances passing ${Date.now() - startedAt} ms after fleetctl start began`);
  const found = await lookup(client, 'web', { passingOnly: true });
  t.same(found.map((i) => i.Port).sort(), [...ports].sort(), 'lookup: all three passing');
  t.equal(new Set(found.map((i) => i.Node)).size, 3, 'on three distinct machines');
  t.ok(found.every((i) => i.ID === `${i.Node.slice(0, 8)}-web@${i.Port}.service` && i.Address === '127.0.0.1'));

  for (const m of machines) {
    t.same((await m.passing(ready.revision)).map((e) => e.Port).sort(), [...ports].sort(), `${m.name}: /v1/health/service/web?passing`);
    const r = m.resolver();
    t.same((await r.resolveSrv('web.service.flotilla')).map((x) => x.port).sort(), [...ports].sort(), `${m.name}: DNS SRV`);
    t.same(await r.resolve4('web.service.flotilla'), ['127.0.0.1', '127.0.0.1', '127.0.0.1'], `${m.name}: DNS A`);
    t.same((await r.resolveSrv('_web._tcp.service.flotilla')).length, 3, `${m.name}: RFC 2782 name`);
  }
  if (!digInstalled) t.comment("dig is not installed (Debian's dnsutils): skipped; Node's resolver asked the same");
  else {
    const out = await new Promise<string>((resolve, reject) =>
      execFile('dig', ['@127.0.0.1', '-p', String(machines[0]!.dnsPort), 'web.service.flotilla', 'SRV', '+noall', '+answer', '+additional'], (err, o) => (err ? reject(err) : resolve(o))),
    );
    t.comment(`dig printed:\n${out.trimEnd()}`);
    t.equal(out.trim().split('\n').filter((l) => /\tSRV\t/.test(l)).length, 3, 'dig: three SRV records');
  }

  // The broken unit runs, says why it registers nothing, and registers nothing.
  const s = await untilView(view, (s) => [...(s.states.get('Bad_Unit.service')?.values() ?? [])].some((st) => st.sub === 'running'), 'Bad_Unit.service running');
  const where = [...s.states.get('Bad_Unit.service')!.keys()][0]!;
  const raw = JSON.parse(toText((await client.get(registry.keys.state('Bad_Unit.service', where))).kvs[0]!.value)) as { serviceError?: string; load: string };
  t.equal(raw.load, 'loaded');
  t.equal(
    raw.serviceError,
    'Bad_Unit.service: invalid [X-Service]: line 5: Port=http: not a port (an integer 1-65535); ' +
      'line 6: Check=grpc://127.0.0.1:1: unknown check (use http://…, https://…, tcp://host:port, tcp:PORT, exec:/path args or ttl:30s); ' +
      'line 4: Name= is required (the unit\'s name "Bad_Unit" is not a valid service name)',
  );
  t.match(machines.find((m) => m.machineId === where)!.log.join(''), /the unit runs, nothing is registered/, "in that fleetd's log too");
  t.same((await listServices(client)).map((x) => x.Name), ['web'], 'nothing registered for it');
});

/** The output of the instance's check as the store has it. */
const outputOf = (s: ServiceSet, port: number) => s.instances.find((i) => i.Port === port)?.Checks[0]?.Output ?? '';

// Within interval + timeout, shown without a clock: the status changes on the first check after
// the change (the one the next interval runs, bounded by the timeout), as the check's output says
// which of the instance's answers it was. The times are measured and printed, not asserted: on a
// loaded machine the store's write and the watch add to them.
t.test('a failing check leaves the passing set on the first failing answer; recovering brings it back on the first good one', async (t) => {
  let from = sets.length;
  let since = Date.now();
  await writeFile(flagOf(P2), '');
  const failed = await seen((s) => statusOf(s, P2) === 'critical', from);
  const left = Date.now() - since;
  measured.push(`web@${P2} left the passing set ${left} ms after its check started failing (interval ${INTERVAL_MS} + timeout ${TIMEOUT_MS} ms)`);
  t.match(outputOf(failed, P2), /: 500 .*Output: failing #1\n/, 'made critical by its first failing answer');
  t.same((await lookup(client, 'web', { passingOnly: true })).map((i) => i.Port).sort(), [P1, P3].sort());
  const other = machines[2]!;
  t.same((await other.passing(failed.revision)).map((e) => e.Port).sort(), [P1, P3].sort(), 'HTTP: two passing');
  t.same((await other.resolver().resolveSrv('web.service.flotilla')).map((x) => x.port).sort(), [P1, P3].sort(), 'DNS: two');

  from = sets.length;
  since = Date.now();
  await rm(flagOf(P2));
  const back = await seen(allPassing, from);
  const returned = Date.now() - since;
  measured.push(`web@${P2} back in the passing set ${returned} ms after its check recovered`);
  t.match(outputOf(back, P2), /: 200 .*Output: ok #1\n/, 'passing again from its first good answer');
  t.same((await other.passing(back.revision)).length, 3);
});

t.test("kill -9 of the watcher's kvd member: a change made while it is down is seen through another", async (t) => {
  // The watch has delivered changes by now, so it is connected: the only watcher added there is ours.
  const watchers = await watchersOn(watched);
  t.ok(watchers > watchersBefore, `the watcher is on ${watched.spec.name} (its watchers: ${watchersBefore} before the watch, ${watchers} now)`);
  await watched.kill9();
  const leader = await kvd.leader();
  t.not(leader, watched, `${leader.spec.name} leads`);
  let from = sets.length;
  let since = Date.now();
  await writeFile(flagOf(P3), '');
  await seen((s) => statusOf(s, P3) === 'critical', from);
  measured.push(`web@${P3} failing seen ${Date.now() - since} ms after its check failed, with ${watched.spec.name} (the watcher's member) killed`);

  await watched.start();
  from = sets.length;
  since = Date.now();
  await rm(flagOf(P3));
  await seen(allPassing, from);
  measured.push(`web@${P3} back ${Date.now() - since} ms after recovering, ${watched.spec.name} restarted`);
  t.pass('the watcher followed both changes');
});

// Within the agent TTL, shown without a clock: the record is bound to the machine's lease, granted
// for the agent TTL, and goes when that lease expires (kvd's lease tests drive its deadline with an
// injected clock). The time is measured and printed, not asserted.
t.test('kill -9 of the fleetd running an instance: the instance goes with its machine lease, granted for the agent TTL', async (t) => {
  const inst = (await lookup(client, 'web')).find((i) => i.Port === P1)!;
  const victim = machines.find((m) => m.machineId === inst.Node)!;
  const lease = (await client.get(`${PREFIX}${inst.ID}`)).kvs[0]!.lease;
  t.ok(lease > 0n, 'the record is bound to a lease');
  t.equal((await client.leaseTimeToLive(lease)).grantedTTL, TTL_S, 'granted for the agent TTL');
  const from = sets.length;
  const killedAt = Date.now();
  await victim.kill9();
  const gone = await seen((s) => !s.instances.some((i) => i.Port === P1), from);
  const ms = Date.now() - killedAt;
  measured.push(`web@${P1} gone ${ms} ms after kill -9 of ${victim.name} (agent TTL ${TTL_S} s)`);
  t.equal((await client.leaseTimeToLive(lease)).TTL, -1, 'gone because that lease expired (nobody renews it)');
  t.same(gone.instances.map((i) => i.Port).sort(), [P2, P3].sort());
  const other = machines.find((m) => m !== victim)!;
  t.same((await other.passing(gone.revision)).map((e) => e.Port).sort(), [P2, P3].sort(), 'HTTP of a live fleetd');
  t.same((await other.resolver().resolveSrv('web.service.flotilla')).map((x) => x.port).sort(), [P2, P3].sort(), 'its DNS');
  t.notOk(machines.some((m) => m !== victim && /fencing/.test(m.log.join(''))), 'no live fleetd fenced during any of this (the kvd kill was ridden out)');
});

t.test('the watcher saw every change, in order, once', async (t) => {
  watchAbort.abort();
  await watching;
  // The store's history of web's instances, from the watcher's first revision on, one set per
  // revision that changed it: what the watcher must have seen.
  const first = sets[0]!.revision;
  const last = sets[sets.length - 1]!.revision;
  const current = new Map<string, ServiceInstance>();
  for (const kv of (await client.get(PREFIX, { prefix: true, revision: first })).kvs) current.set(toText(kv.key), decodeInstance(toText(kv.value)));
  const fingerprint = () => JSON.stringify([...current.values()].sort((a, b) => (a.ID < b.ID ? -1 : 1)));
  const history: { revision: number; set: string }[] = [{ revision: first, set: fingerprint() }];
  const w = client.watch(PREFIX, { prefix: true, startRevision: first + 1 });
  outer: for await (const resp of w) {
    const byRevision = new Map<number, typeof resp.events>();
    for (const ev of resp.events) byRevision.set(ev.kv.mod_revision, [...(byRevision.get(ev.kv.mod_revision) ?? []), ev]);
    for (const [revision, events] of byRevision) {
      if (revision > last) break outer;
      for (const ev of events) {
        if (ev.type === EventType.DELETE) current.delete(toText(ev.kv.key));
        else current.set(toText(ev.kv.key), decodeInstance(toText(ev.kv.value)));
      }
      const set = fingerprint();
      if (set !== history[history.length - 1]!.set) history.push({ revision, set });
      if (revision === last) break outer;
    }
  }
  w.cancel();
  const label = (s: ServiceInstance[]) => s.map((i) => `${i.Port === P1 ? 'P1' : i.Port === P2 ? 'P2' : 'P3'}:${i.Status}`).join(' ') || '(none)';
  t.comment(`the watcher's sets (P1=${P1} P2=${P2} P3=${P3}):\n${sets.map((s) => `rev ${s.revision}: ${label(s.instances)}`).join('\n')}`);
  t.same(sets.map((s) => ({ revision: s.revision, set: JSON.stringify(s.instances) })), history, 'exactly the changes in the store, in order, none twice');
  t.ok(sets.every((s, i) => i === 0 || s.revision > sets[i - 1]!.revision), 'revisions only go up');

  // The changes the test made, in this order among them.
  const milestones: [string, (s: ServiceSet) => boolean][] = [
    ['all three passing', allPassing],
    ['P2 critical', (s) => statusOf(s, P2) === 'critical'],
    ['all three passing again', allPassing],
    ['P3 critical (kvd member killed)', (s) => statusOf(s, P3) === 'critical'],
    ['all three passing again', allPassing],
    ['P1 gone (its fleetd killed)', (s) => s.instances.length === 2 && statusOf(s, P1) === undefined],
  ];
  let at = 0;
  for (const [what, cond] of milestones) {
    const i = sets.findIndex((s, j) => j >= at && cond(s));
    t.ok(i >= 0, `${what}: seen (set ${i})`);
    at = i + 1;
  }
  t.comment(`measured:\n${measured.join('\n')}\nwhole test ${Date.now() - testStart} ms`);
});
