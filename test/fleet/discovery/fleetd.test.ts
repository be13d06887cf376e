// fleetd hosting service discovery, in process against a real kvd (real units, real checks): a
// unit's [X-Service] instance is registered under the machine's lease while the unit runs and
// answers lookups, the /v1/ API on the agent's server and DNS (UDP and TCP, a chosen domain); it
// goes when the unit stops, comes back when it starts, follows a --replace, goes with a lost lease
// and comes back under the next; a broken [X-Service] leaves the unit running, is reported in the
// state record and registers nothing; a stop closes the DNS server; a DNS address in use is a start
// error naming it.
import t from 'tap';
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Client, toText } from '../../../src/client/index.js';
import { listServices, lookup, type ServiceCatalog, type ServiceInstance } from '../../../src/discovery/index.js';
import { parseFleetdArgs, type FleetdConfig } from '../../../src/fleet/config.js';
import { ListenError, startFleetd } from '../../../src/fleet/fleetd.js';
import { Registry, RegistryView } from '../../../src/fleet/registry/index.js';
import { parseUnitFile } from '../../../src/fleet/unit/index.js';
import { freePort } from '../../raft/cluster.js';
import { KvdCluster } from '../../server/kvd-harness.js';
import { tempDir, untilView } from '../agent/helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/web-server.mjs', import.meta.url));
const readFacts = async () => ({ cpus: 2, memTotal: 2e9, memFree: 1e9, load: 0 });

function config(argv: string[]): FleetdConfig {
  const r = parseFleetdArgs(argv, {});
  if (r.kind !== 'config') throw new Error('not a config');
  return r.config;
}

/** Resolves once `cond` holds on the catalog (checked now and after each of its changes). */
function untilCatalog(catalog: ServiceCatalog, cond: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!cond()) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`catalog: ${what} not reached in ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      catalog.off('change', check);
    };
    catalog.on('change', check);
    check();
  });
}

/** A unit running the fixture web server on `port`, registered as `name` with an HTTP check. */
function webUnit(name: string, port: number, flag: string, extra = ''): string {
  return [
    '[Unit]',
    `Description=${name} on ${port}`,
    '',
    '[Service]',
    `ExecStart=${process.execPath} ${fixture} ${port} ${flag}`,
    '',
    '[X-Service]',
    `Name=${name}`,
    `Port=${port}`,
    'Tags=primary',
    'Meta=machine=%m',
    `Check=http://127.0.0.1:${port}/health`,
    'CheckInterval=300ms',
    'CheckTimeout=200ms',
    extra,
  ].join('\n');
}

/** Whether both a TCP listener and a UDP socket can be bound on the port (nothing holds it). */
async function portFree(port: number): Promise<boolean> {
  const tcp = await new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  const udp = await new Promise<boolean>((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  return tcp && udp;
}

t.test('fleetd hosts service discovery', async (t) => {
  const cluster = await KvdCluster.create(1);
  const url = cluster.members[0]!.url;
  const client = new Client({ endpoints: [url], autoSyncMembers: false });
  const registry = new Registry(client);
  const view = new RegistryView(registry);
  await view.start();
  const dir = await tempDir('flotilla-fleetd-discovery-');
  t.teardown(async () => {
    await view.stop();
    client.close();
    await cluster.close();
    await dir.remove();
  });

  const fleetd = await startFleetd(
    config(['--endpoints', url, '--state-dir', dir.path, '--http-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--dns-domain', 'Cluster.Test.', '--agent-ttl', '2', '--engine-hold-off', '0', '--log-level', 'silent']),
    { readFacts },
  );
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await fleetd.stop();
  });
  await fleetd.ready();
  const id = fleetd.machineId;
  const catalog = fleetd.catalog;
  t.ok(fleetd.dnsAddress && fleetd.dnsAddress.port > 0, `DNS on 127.0.0.1:${fleetd.dnsAddress?.port}`);
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${fleetd.dnsAddress!.port}`]);

  const apiPort = await freePort();
  const flag = `${dir.path}/api.fail`;
  const api = (): ServiceInstance[] => catalog.instances('api');
  const recordLease = async () => (await client.get(`/flotilla/services/api/${id.slice(0, 8)}-api.service`)).kvs[0]?.lease;
  await registry.submit(parseUnitFile('api.service', webUnit('api', apiPort, flag)), { desired: 'launched' });

  t.test('a running unit is registered under the machine lease and answers every front end', async (t) => {
    await untilCatalog(catalog, () => api()[0]?.Status === 'passing', 'api passing');
    const [inst] = await lookup(client, 'api', { passingOnly: true });
    t.match(inst, { ID: `${id.slice(0, 8)}-api.service`, Service: 'api', Address: '127.0.0.1', Port: apiPort, Tags: ['primary'], Meta: { machine: id }, Node: id });
    t.equal(await recordLease(), fleetd.agent.presence.lease, "bound to the machine's lease");

    const res = await fetch(`${fleetd.agentUrl}/v1/health/service/api?passing`);
    t.equal(res.status, 200);
    t.ok(Number(res.headers.get('x-consul-index')) > 0, 'X-Consul-Index');
    const body = (await res.json()) as { Service: { ID: string; Port: number }; Checks: { Status: string }[] }[];
    t.same(body.map((e) => [e.Service.ID, e.Service.Port, e.Checks[0]!.Status]), [[inst!.ID, apiPort, 'passing']]);
    t.equal((await fetch(`${fleetd.agentUrl}/fleet/v1/machine`)).status, 200, "the agent's own API is still there");
    const nope = await fetch(`${fleetd.agentUrl}/nope`);
    t.equal(nope.status, 404);
    t.match(await nope.json(), { error: 'no such endpoint: /nope' });

    t.same(await resolver.resolve4('api.service.cluster.test'), ['127.0.0.1'], 'A, under --dns-domain');
    t.same((await resolver.resolveSrv('_api._tcp.service.cluster.test')).map((r) => r.port), [apiPort], 'SRV');
    t.same(await resolver.resolve4('primary.api.service.cluster.test'), ['127.0.0.1'], 'by tag');
    await t.rejects(resolver.resolve4('api.service.flotilla'), { code: 'EREFUSED' }, 'the default domain is not ours here');
    const tcp = net.connect(fleetd.dnsAddress!.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => tcp.once('connect', resolve).once('error', reject));
    tcp.destroy();
    t.pass('DNS over TCP on the same port');
  });

  t.test('a failing check leaves the passing set; stop deregisters, start registers again', async (t) => {
    await writeFile(flag, '');
    await untilCatalog(catalog, () => api()[0]?.Status === 'critical', 'api critical');
    t.same(await resolver.resolve4('api.service.cluster.test').catch((e: NodeJS.ErrnoException) => e.code), 'ENOTFOUND', 'no healthy instance: NXDOMAIN');
    await rm(flag);
    await untilCatalog(catalog, () => api()[0]?.Status === 'passing', 'api passing again');

    await registry.setDesired('api.service', 'loaded');
    await untilCatalog(catalog, () => api().length === 0, 'api deregistered');
    await untilView(view, (s) => s.states.get('api.service')?.get(id)?.active === 'inactive', 'api stopped');
    await registry.setDesired('api.service', 'launched');
    await untilCatalog(catalog, () => api().length === 1, 'api registered again');
  });

  t.test('--replace: the new content is registered, the old instance is gone', async (t) => {
    const port2 = await freePort();
    await registry.submit(parseUnitFile('api.service', webUnit('api', port2, flag)), { desired: 'launched', replace: true });
    await untilCatalog(catalog, () => api().length === 1 && api()[0]!.Port === port2 && api()[0]!.Status === 'passing', 'the replaced api passing');
    t.same((await lookup(client, 'api')).map((i) => i.Port), [port2]);
  });

  t.test('a lost lease takes the instance with it; it is registered again under the next lease', async (t) => {
    const lease1 = fleetd.agent.presence.lease!;
    const fenced = new Promise<void>((resolve) => fleetd.agent.presence.once('fenced', () => resolve()));
    const present = new Promise<bigint>((resolve) => fleetd.agent.presence.once('present', (lease) => resolve(lease)));
    const counts: number[] = [];
    const count = () => counts.push(api().length);
    catalog.on('change', count);
    t.teardown(() => void catalog.off('change', count));
    await client.leaseRevoke(lease1);
    await fenced;
    const lease2 = await present;
    t.not(lease2, lease1);
    await untilCatalog(catalog, () => api()[0]?.Status === 'passing' && catalog.entries('api')[0]!.lease === lease2, 'api under the new lease');
    t.equal(await recordLease(), lease2);
    t.ok(counts.includes(0), `the instance was gone in between (instances after each change: ${counts.join(' ')})`);
    t.same(fleetd.agent.services?.registered(), ['api.service']);
  });

  t.test('a broken [X-Service]: the unit runs, the problem is in its state record, nothing is registered', async (t) => {
    const text = '[Service]\nExecStart=/bin/sleep 1000\n\n[X-Service]\nName=broken\nPort=http\nCheck=grpc://127.0.0.1:1\n';
    await registry.submit(parseUnitFile('broken.service', text), { desired: 'launched' });
    await untilView(view, (s) => s.states.get('broken.service')?.get(id)?.sub === 'running', 'broken.service running');
    await fleetd.agent.reconciler.settled();
    const raw = JSON.parse(toText((await client.get(registry.keys.state('broken.service', id))).kvs[0]!.value)) as Record<string, unknown>;
    t.match(raw, { load: 'loaded', active: 'active', sub: 'running' });
    t.equal(
      raw.serviceError,
      'broken.service: invalid [X-Service]: line 6: Port=http: not a port (an integer 1-65535); line 7: Check=grpc://127.0.0.1:1: unknown check (use http://…, https://…, tcp://host:port, tcp:PORT, exec:/path args or ttl:30s)',
    );
    t.equal(raw.loadError, undefined);
    await fleetd.agent.services!.settled();
    t.same((await listServices(client)).map((s) => s.Name), ['api'], 'nothing registered for it');
    t.same(fleetd.agent.services?.registered(), ['api.service']);
    await registry.destroy('broken.service');
  });

  t.test('a graceful stop deregisters, and closes the DNS server', async (t) => {
    const port = fleetd.dnsAddress!.port;
    await fleetd.stop();
    stopped = true;
    t.same(await lookup(client, 'api'), [], 'the instance is gone');
    t.ok(await portFree(port), 'the DNS port (UDP and TCP) is free again');
    await registry.destroy('api.service');
  });
});

t.test('a DNS address in use is a start error naming it; nothing is left behind', async (t) => {
  const cluster = await KvdCluster.create(1);
  const url = cluster.members[0]!.url;
  const dir = await tempDir('flotilla-fleetd-discovery-');
  t.teardown(async () => {
    await cluster.close();
    await dir.remove();
  });
  const dnsPort = await freePort();
  const blocker = dgram.createSocket('udp4');
  await new Promise<void>((r) => blocker.bind(dnsPort, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const httpPort = await freePort();
  const err = await startFleetd(
    config(['--endpoints', url, '--state-dir', dir.path, '--http-addr', `127.0.0.1:${httpPort}`, '--dns-addr', `127.0.0.1:${dnsPort}`, '--log-level', 'silent']),
    { readFacts },
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, ListenError);
  t.match(err, { message: `--dns-addr 127.0.0.1:${dnsPort}: address in use`, code: 'EADDRINUSE' });
  t.ok(await portFree(httpPort), 'the HTTP server was closed');

  // The same for the HTTP address, with the address in the message (and the code kept).
  const http = net.createServer();
  await new Promise<void>((r) => http.listen(httpPort, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => http.close(() => r())));
  await t.rejects(
    startFleetd(config(['--endpoints', url, '--state-dir', dir.path, '--http-addr', `127.0.0.1:${httpPort}`, '--dns-addr', '', '--log-level', 'silent']), { readFacts }),
    { name: 'ListenError', message: `--http-addr 127.0.0.1:${httpPort}: address in use`, code: 'EADDRINUSE' },
  );
  // Binding an address this machine does not have sends nothing anywhere.
  await t.rejects(
    startFleetd(config(['--endpoints', url, '--state-dir', dir.path, '--http-addr', '', '--dns-addr', '192.0.2.1:8600', '--log-level', 'silent']), { readFacts }),
    { message: '--dns-addr 192.0.2.1:8600: address not available on this machine', code: 'EADDRNOTAVAIL' },
  );
});
