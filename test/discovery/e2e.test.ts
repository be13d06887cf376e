// What issue 7 asks to show, end to end on a real kvd: three instances of an HTTP service
// registered by an agent process from their units' [X-Service] sections answer lookups, the HTTP
// API and DNS; one fails its HTTP check and leaves the passing set within interval + timeout, then
// returns; the agent is killed with kill -9 and its instances vanish within its lease's TTL; and
// one watcher sees every one of these changes, in order, once, across a kill -9 of kvd.
import t from 'tap';
import http from 'node:http';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Client } from '../../src/client/index.js';
import { DnsServer, ServiceCatalog, catalogView, createHttpHandler, lookup, watch, type ServiceSet } from '../../src/discovery/index.js';
import { KvdCluster } from '../server/kvd-harness.js';
import { quiet, testHttpServer, until, type TestHttpServer } from './helpers.js';

const INTERVAL_MS = 1000;
const TIMEOUT_MS = 800;
const LEASE_TTL_S = 10;
const MACHINE = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

const digInstalled = await new Promise<boolean>((resolve) => execFile('which', ['dig'], (err) => resolve(!err)));
const kvd = await KvdCluster.create(1);
t.teardown(() => kvd.close());
const member = kvd.members[0]!;
const client = new Client({ endpoints: [member.url], logger: quiet, watchHeartbeatMs: 1000, requestTimeoutMs: 20000 });
t.teardown(() => client.close());

// What fleetd hosts: the catalog, its HTTP API and its DNS server.
const catalog = new ServiceCatalog(client);
await catalog.start();
t.teardown(() => catalog.close());
const handler = createHttpHandler(catalog);
const api = http.createServer((req, res) => {
  if (!handler(req, res)) res.writeHead(404).end();
});
await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
t.teardown(() => new Promise<void>((r) => api.close(() => r())));
const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
const dns = new DnsServer(catalogView(catalog), { port: 0 });
const dnsPort = await dns.listen();
t.teardown(() => dns.close());
const resolver = new Resolver({ timeout: 2000, tries: 1 });
resolver.setServers([`127.0.0.1:${dnsPort}`]);

// Three instances of the service, on three loopback addresses.
const servers: TestHttpServer[] = [];
for (let i = 1; i <= 3; i++) servers.push(await testHttpServer(200, `127.0.0.${i}`));
t.teardown(() => Promise.all(servers.map((s) => s.close())));

/** The units as fleet's parser gives them: `web@N.service` with an [X-Service] section. */
const units = servers.map((s, i) => ({
  name: `web@${i + 1}.service`,
  section: {
    name: 'X-Service',
    line: 6,
    entries: [
      ['Name', 'web'],
      ['Port', String(s.port)],
      ['Address', `127.0.0.${i + 1}`],
      ['Tags', i === 0 ? 'primary' : 'replica'],
      ['Check', `http://127.0.0.${i + 1}:${s.port}/health`],
      ['CheckInterval', `${INTERVAL_MS}ms`],
      ['CheckTimeout', `${TIMEOUT_MS}ms`],
    ].map(([key, value], n) => ({ key: key!, value: value!, line: 7 + n })),
  },
}));

// The watcher: every set of web's instances, from before the registrations to the end.
const watchAbort = new AbortController();
t.teardown(() => watchAbort.abort());
const sets: ServiceSet[] = [];
const watching = (async () => {
  for await (const s of watch(client, 'web', { signal: watchAbort.signal })) sets.push(s);
})();
await until(() => sets.length === 1);

function startAgent(): { child: ChildProcess; ready: Promise<string> } {
  const tsLoader = process.execArgv.find((a) => a.includes('@tapjs/typescript'));
  const child = spawn(process.execPath, [...(tsLoader ? [tsLoader] : []), fileURLToPath(new URL('./fixtures/agent.ts', import.meta.url)), member.url, MACHINE, String(LEASE_TTL_S), JSON.stringify(units)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', FLOTILLA_LOG_LEVEL: 'silent' },
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready ([0-9a-f]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`agent exited (${code}): ${err}`)));
  });
  return { child, ready };
}

const agent = startAgent();
t.teardown(() => {
  if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGKILL');
});
await agent.ready;

const passingIds = async () => (await lookup(client, 'web', { passingOnly: true })).map((i) => i.ID);
const apiPassing = async () => ((await (await fetch(`${apiUrl}/v1/health/service/web?passing`)).json()) as { Service: { ID: string } }[]).map((e) => e.Service.ID);
const dnsA = async () => (await resolver.resolve4('web.service.flotilla').catch((e: NodeJS.ErrnoException) => [e.code!])).sort();
const ids = ['a1b2c3d4-web@1.service', 'a1b2c3d4-web@2.service', 'a1b2c3d4-web@3.service'];

/** Resolves when the watcher has seen a set satisfying `cond`; with the time it took from `since`. */
async function watcherSees(cond: (s: ServiceSet) => boolean, since: number): Promise<number> {
  const from = sets.length;
  await until(() => sets.slice(from).some(cond), 20000, 'the watcher to see the change');
  return Date.now() - since;
}

const statusOf = (s: ServiceSet, id: string) => s.instances.find((i) => i.ID === id)?.Status;

t.test('three instances from their units answer lookups, the HTTP API and DNS', async (t) => {
  t.same(await passingIds(), ids);
  const all = await lookup(client, 'web');
  t.same(all.map((i) => [i.Address, i.Port, i.Node, i.Tags]), servers.map((s, i) => [`127.0.0.${i + 1}`, s.port, MACHINE, [i === 0 ? 'primary' : 'replica']]));
  await until(async () => (await apiPassing()).length === 3);
  t.same(await apiPassing(), ids);
  t.same(await dnsA(), ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  const srv = (await resolver.resolveSrv('_web._tcp.service.flotilla')).map((r) => r.port).sort((a, b) => a - b);
  t.same(srv, servers.map((s) => s.port).sort((a, b) => a - b));
  t.same(await resolver.resolve4('primary.web.service.flotilla'), ['127.0.0.1'], 'tag lookup');
  if (!digInstalled) t.comment('dig is not installed (Debian package dnsutils): skipped; Node\'s resolver answered the same queries');
  else {
    const out = await new Promise<string>((resolve, reject) =>
      execFile('dig', ['@127.0.0.1', '-p', String(dnsPort), '+short', 'web.service.flotilla', 'SRV'], (err, o) => (err ? reject(err) : resolve(o))),
    );
    t.equal(out.trim().split('\n').length, 3);
  }
});

t.test('a failing instance leaves the passing set within interval + timeout, and returns', async (t) => {
  let since = Date.now();
  servers[1]!.status = 500;
  const left = await watcherSees((s) => statusOf(s, ids[1]!) === 'critical', since);
  t.ok(left <= INTERVAL_MS + TIMEOUT_MS + 500, `left after ${left} ms (interval ${INTERVAL_MS} + timeout ${TIMEOUT_MS})`);
  t.same(await passingIds(), [ids[0], ids[2]]);
  await until(async () => (await apiPassing()).length === 2);
  t.same(await apiPassing(), [ids[0], ids[2]]);
  t.same(await dnsA(), ['127.0.0.1', '127.0.0.3']);

  since = Date.now();
  servers[1]!.status = 200;
  const back = await watcherSees((s) => statusOf(s, ids[1]!) === 'passing', since);
  t.ok(back <= INTERVAL_MS + TIMEOUT_MS + 500, `back after ${back} ms`);
  await until(async () => (await dnsA()).length === 3);
});

t.test('kill -9 of kvd: the watcher resumes; changes after it are seen', async (t) => {
  await member.kill9();
  await member.start();
  servers[2]!.status = 503;
  await watcherSees((s) => statusOf(s, ids[2]!) === 'critical', Date.now());
  t.pass('the watcher saw a change made after the restart');
  await until(async () => (await dnsA()).length === 2, 10000, 'the catalog resumed too');
  t.same(await dnsA(), ['127.0.0.1', '127.0.0.2']);
  servers[2]!.status = 200;
  await watcherSees((s) => statusOf(s, ids[2]!) === 'passing', Date.now());
  await until(async () => (await dnsA()).length === 3);
});

t.test('kill -9 of the agent: its instances vanish within its lease TTL', async (t) => {
  const killedAt = Date.now();
  agent.child.kill('SIGKILL');
  const gone = await watcherSees((s) => s.instances.length === 0, killedAt);
  // The TTL runs from the last renewal (before the kill); kvd then notices the expiry on its next lease check.
  t.ok(gone <= LEASE_TTL_S * 1000 + 2500, `gone ${gone} ms after the kill (lease TTL ${LEASE_TTL_S} s)`);
  t.same(await lookup(client, 'web'), []);
  await until(async () => (await dnsA())[0] === 'ENOTFOUND', 5000, 'NXDOMAIN');
  t.same(await apiPassing(), []);
});

t.test('the watcher saw every change, in order, once', async (t) => {
  watchAbort.abort();
  await watching;
  const states = sets.map((s) => s.instances.map((i) => `${i.ID.replace('a1b2c3d4-web@', '').replace('.service', '')}:${i.Status}`).join(' '));
  t.same(states, [
    '',
    '1:passing',
    '1:passing 2:passing',
    '1:passing 2:passing 3:passing',
    '1:passing 2:critical 3:passing',
    '1:passing 2:passing 3:passing',
    '1:passing 2:passing 3:critical',
    '1:passing 2:passing 3:passing',
    '',
  ]);
  t.ok(sets.every((s, i) => i === 0 || s.revision > sets[i - 1]!.revision), 'revisions only go up');
});
