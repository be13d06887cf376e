// `kvctl service ...` in-process against a real kvd: register (permanent, with a lease, in the
// foreground with checks), deregister, list, get, watch, and the TTL check reports.
import t from 'tap';
import { Readable } from 'node:stream';
import { Client, leaseHex, toText } from '../../src/client/index.js';
import { lookup, register, type Registration } from '../../src/discovery/index.js';
import { run, type KvctlIo } from '../../src/kvctl/index.js';
import { inProcess } from '../kvctl/helpers.js';
import { KvdCluster } from '../server/kvd-harness.js';
import { testHttpServer, until } from './helpers.js';

const kvd = await KvdCluster.create(1);
t.teardown(() => kvd.close());
const endpoint = kvd.members[0]!.url;
const client = new Client({ endpoints: [endpoint] });
t.teardown(() => client.close());

const kvctl = (...args: string[]) => inProcess(['--endpoints', endpoint, ...args]);

/** kvctl running in the background with its output readable as it comes. */
function background(args: string[]): { out: () => string; err: () => string; interrupt: () => void; code: Promise<number> } {
  let out = '';
  let err = '';
  const ac = new AbortController();
  const io: KvctlIo = {
    stdout: (d) => {
      out += typeof d === 'string' ? d : Buffer.from(d).toString();
    },
    stderr: (d) => {
      err += d;
    },
    stdin: Readable.from([]),
    env: {},
    interrupt: ac.signal,
  };
  const code = run(['--endpoints', endpoint, ...args], io);
  return { out: () => out, err: () => err, interrupt: () => ac.abort(), code };
}

t.test('register: permanent by default, readable with kvctl get', async (t) => {
  const r = await kvctl('service', 'register', '--name', 'web', '--port', '8080', '--id', 'web-1', '--tag', 'primary', '--tag', 'v2,blue', '--meta', 'version=2', '--node', 'm1');
  t.same([r.code, r.stdout, r.stderr], [0, 'registered web/web-1 at 127.0.0.1:8080\n', '']);
  const kv = (await client.get('/flotilla/services/web/web-1')).kvs[0]!;
  t.equal(kv.lease, 0n, 'no lease: it stays until deregistered');
  const got = await kvctl('get', '/flotilla/services/web/web-1', '--print-value-only');
  t.equal(got.code, 0);
  const record = JSON.parse(got.stdout);
  t.same(record, { ID: 'web-1', Service: 'web', Address: '127.0.0.1', Port: 8080, Tags: ['primary', 'v2', 'blue'], Meta: { version: '2' }, Node: 'm1', Status: 'passing', Checks: [] });
  t.match(got.stdout, /^\{\n {2}"ID": "web-1",/, 'pretty JSON');
});

t.test('register --ttl-lease: bound to a new lease of that TTL', async (t) => {
  const r = await kvctl('service', 'register', '--name', 'tmp', '--port', '1', '--id', 't1', '--ttl-lease', '30', '-w', 'json');
  t.equal(r.code, 0);
  const out = JSON.parse(r.stdout);
  const kv = (await client.get('/flotilla/services/tmp/t1')).kvs[0]!;
  t.equal(out.Lease, leaseHex(kv.lease));
  t.equal(out.Key, '/flotilla/services/tmp/t1');
  t.equal(out.Instance.ID, 't1');
  t.equal((await client.leaseTimeToLive(kv.lease)).grantedTTL, 30);
  const simple = await kvctl('service', 'register', '--name', 'tmp', '--port', '2', '--id', 't2', '--ttl-lease', '30');
  t.match(simple.stdout, /^registered tmp\/t2 at 127\.0\.0\.1:2 \(lease [0-9a-f]+, 30s\)\n$/);
});

t.test('bad registrations: exit 128, a clear message, nothing written', async (t) => {
  const before = await client.get('', { prefix: true, countOnly: true });
  const cases: [string[], RegExp][] = [
    [['--port', '80'], /--name is required/],
    [['--name', 'web'], /--port is required/],
    [['--name', 'web', '--port', '0'], /Port: 0 is not a port/],
    [['--name', 'Web', '--port', '80'], /Name: "Web" is not a valid service name/],
    [['--name', 'web', '--port', '80', '--check', 'grpc://x', '--foreground'], /--check grpc:\/\/x: unknown check/],
    [['--name', 'web', '--port', '80', '--check', 'http://127.0.0.1:1/'], /--check needs --foreground/],
    [['--name', 'web', '--port', '80', '--meta', 'novalue'], /--meta novalue: write --meta key=value/],
    [['--name', 'web', '--port', '80', '--ttl-lease', '-1'], /--ttl-lease must be 0/],
    [['--name', 'web', '--port', '80', 'extra'], /takes flags only/],
    [['--name', 'web', '--port', '80', '--check', 'http://127.0.0.1:1/', '--interval', '1s', '--timeout', '2s', '--foreground'], /longer than the interval/],
  ];
  for (const [args, msg] of cases) {
    const r = await kvctl('service', 'register', ...args);
    t.equal(r.code, 128, args.join(' '));
    t.match(r.stderr, msg);
  }
  const fields = await kvctl('service', 'register', '--name', 'web', '--port', '80', '-w', 'fields');
  t.equal(fields.code, 4, 'an output format the service commands do not have');
  const after = await client.get('', { prefix: true, countOnly: true });
  t.same([after.count, after.header.revision], [before.count, before.header.revision], 'nothing written');
});

t.test('list, get, deregister', async (t) => {
  await kvctl('service', 'register', '--name', 'web', '--port', '8081', '--id', 'web-2', '--address', '127.0.0.2', '--node', 'm2');
  const list = await kvctl('service', 'list');
  t.equal(list.code, 0);
  t.match(list.stdout, /\|\s+NAME\s+\|\s+INSTANCES\s+\|\s+PASSING\s+\|\s+WARNING\s+\|\s+CRITICAL\s+\|\s+TAGS\s+\|/);
  t.match(list.stdout, /\|\s+web \|\s+2 \|\s+2 \|\s+0 \|\s+0 \|\s+blue,primary,v2 \|/);
  const listJson = JSON.parse((await kvctl('service', 'list', '-w', 'json')).stdout);
  t.same(listJson.find((s: { Name: string }) => s.Name === 'web'), { Name: 'web', Tags: ['blue', 'primary', 'v2'], Instances: 2, Passing: 2, Warning: 0, Critical: 0 });
  const get = await kvctl('service', 'get', 'web');
  t.equal(
    get.stdout,
    [
      '+-------+-----------+------+---------+-----------------+------+',
      '|  ID   |  ADDRESS  | PORT | STATUS  |      TAGS       | NODE |',
      '+-------+-----------+------+---------+-----------------+------+',
      '| web-1 | 127.0.0.1 | 8080 | passing | primary,v2,blue |   m1 |',
      '| web-2 | 127.0.0.2 | 8081 | passing |                 |   m2 |',
      '+-------+-----------+------+---------+-----------------+------+',
      '',
    ].join('\n'),
  );
  const tagged = JSON.parse((await kvctl('service', 'get', 'web', '--tag', 'primary', '--passing', '-w', 'json')).stdout);
  t.same(tagged.map((i: { ID: string }) => i.ID), ['web-1']);
  t.equal((await kvctl('service', 'get')).code, 128);
  t.equal((await kvctl('service', 'list', 'x')).code, 128);
  const dereg = await kvctl('service', 'deregister', 'web', 'web-2');
  t.same([dereg.code, dereg.stdout], [0, 'deregistered web/web-2\n']);
  const again = await kvctl('service', 'deregister', 'web', 'web-2');
  t.same([again.code, again.stderr], [1, 'Error: service web has no instance "web-2"\n']);
  t.equal((await kvctl('service', 'deregister', 'web')).code, 128);
  t.same(JSON.parse((await kvctl('service', 'deregister', 'web', 'web-1', '-w', 'json')).stdout), { Deregistered: 'web/web-1' });
  t.same(await lookup(client, 'web'), []);
});

t.test('watch: the set after every change, until Ctrl-C', async (t) => {
  const w = background(['service', 'watch', 'cache']);
  await until(() => w.out().includes('0 instances of cache'));
  await kvctl('service', 'register', '--name', 'cache', '--port', '6379', '--id', 'c1', '--node', 'm1');
  await until(() => w.out().includes('1 instance of cache'));
  t.match(w.out(), /revision \d+: 1 instance of cache\n\+-+/);
  t.match(w.out(), /\| c1 \| 127\.0\.0\.1 \| 6379 \| passing \|/);
  w.interrupt();
  t.equal(await w.code, 130);
  const j = background(['service', 'watch', 'cache', '-w', 'json', '--passing']);
  await until(() => j.out().includes('\n'));
  const line = JSON.parse(j.out().split('\n')[0]!);
  t.same([line.Service, line.Instances.length, typeof line.Revision], ['cache', 1, 'number']);
  j.interrupt();
  t.equal(await j.code, 130);
  t.equal((await kvctl('service', 'watch')).code, 128);
});

t.test('check-pass, check-warn, check-fail: reports to the agent that runs the TTL check', async (t) => {
  // The agent: this process, through the library.
  const agent: Registration = await register(client, { Name: 'batch', ID: 'b1', Address: '127.0.0.1', Port: 1, Checks: [{ Type: 'ttl', Interval: '1m', CheckID: 'batch-alive' }] });
  t.teardown(() => agent.deregister());
  const pass = await kvctl('service', 'check-pass', 'batch-alive', '--note', 'all good');
  t.same([pass.code, pass.stdout], [0, 'check batch-alive of batch/b1: passing\n']);
  await until(() => agent.instance.Status === 'passing');
  t.equal(agent.instance.Checks[0]!.Output, 'all good');
  // The next command starts once the agent's write is done: kvd (single member) can stall a read
  // sent while a write is being applied (see the report of this work).
  await agent.flushed();
  const warn = await kvctl('service', 'check-warn', 'b1');
  t.same([warn.code, warn.stdout, warn.stderr], [0, 'check batch-alive of batch/b1: warning\n', '']);
  await until(() => agent.instance.Status === 'warning');
  await agent.flushed();
  const fail = await kvctl('service', 'check-fail', 'batch-alive', '--service', 'batch', '-w', 'json');
  t.same([fail.code, fail.stderr], [0, '']);
  t.same(JSON.parse(fail.stdout), { CheckID: 'batch-alive', Instance: 'batch/b1', Status: 'critical' });
  await until(() => agent.instance.Status === 'critical');
  await agent.flushed();
  t.equal((await lookup(client, 'batch'))[0]!.Status, 'critical');
  const unknown = await kvctl('service', 'check-pass', 'nope');
  t.same([unknown.code, unknown.stderr], [1, 'Error: no check "nope" (give a CheckID, or the ID of an instance with one ttl check)\n']);
  t.equal((await kvctl('service', 'check-pass')).code, 128);
  const report = (await client.get('/flotilla/services-reports/batch/b1/batch-alive')).kvs[0]!;
  t.match(JSON.parse(toText(report.value)), { CheckID: 'batch-alive', Status: 'critical' });
  t.equal(report.lease, agent.lease, 'the report lives as long as the instance');
});

t.test('register --foreground: runs the checks, keeps its lease, deregisters on Ctrl-C', async (t) => {
  const srv = await testHttpServer(200);
  t.teardown(() => srv.close());
  const fg = background(['service', 'register', '--name', 'front', '--port', String(srv.port), '--id', 'f1', '--check', srv.url, '--check', 'ttl:1m', '--interval', '300ms', '--timeout', '300ms', '--foreground']);
  await until(() => fg.out().includes('running its checks until Ctrl-C'));
  t.match(fg.out(), /^registered front\/f1 at 127\.0\.0\.1:\d+ \(lease [0-9a-f]+\); running its checks until Ctrl-C\n/);
  const [inst] = await lookup(client, 'front');
  t.same(inst!.Checks.map((c) => [c.CheckID, c.Type, c.Status]), [
    ['service:f1:1', 'http', 'passing'],
    ['service:f1:2', 'ttl', 'critical'],
  ]);
  t.not((await client.get('/flotilla/services/front/f1')).kvs[0]!.lease, 0n);
  await kvctl('service', 'check-pass', 'service:f1:2');
  await until(async () => (await lookup(client, 'front', { passingOnly: true })).length === 1);
  srv.status = 500;
  await until(() => fg.out().includes('check service:f1:1: critical (HTTP GET'));
  fg.interrupt();
  t.equal(await fg.code, 0);
  t.match(fg.out(), /deregistered front\/f1\n$/);
  t.same(await lookup(client, 'front'), []);

  const json = background(['service', 'register', '--name', 'front', '--port', '1', '--id', 'f2', '--check', 'ttl:1m', '--foreground', '-w', 'json']);
  await until(() => json.out().includes('\n'));
  t.equal(JSON.parse(json.out().split('\n')[0]!).Instance.ID, 'f2');
  await kvctl('service', 'check-pass', 'f2');
  await until(() => json.out().split('\n').length >= 3);
  t.same(JSON.parse(json.out().split('\n')[1]!), { CheckID: 'service:f2', Status: 'passing', Output: '' });
  json.interrupt();
  t.equal(await json.code, 0);
  t.same(await lookup(client, 'front'), []);
});

t.test('help', async (t) => {
  const group = await kvctl('service');
  t.match(group.stdout, /^NAME:\n\tservice - Service discovery/);
  t.match(group.stdout, /\tcheck-pass\tReports a TTL check as passing\n/);
  const help = await inProcess(['help', 'service', 'register']);
  t.match(help.stdout, /service register - Registers a service instance/);
  t.match(help.stdout, /--ttl-lease=0/);
  const root = await kvctl('--help');
  t.match(root.stdout, /\tservice register\tRegisters a service instance\n/);
  t.match(root.stdout, /COMMANDS:\n\talarm disarm\t\tDisarms all alarms\n\talarm list\t\tLists all alarms\n\tcheck datascale\t\tCheck the memory usage of holding data for different workloads on a given server endpoint\.\n\tcheck perf\t\tCheck the performance of the etcd cluster\n\tcompaction\t\tCompacts the event history/, 'the other commands keep their layout');
});

t.test('a store that cannot be reached: a connection error', async (t) => {
  const r = await inProcess(['--endpoints', 'http://127.0.0.1:1', '--command-timeout', '300ms', '--dial-timeout', '100ms', 'service', 'list']);
  t.equal(r.code, 1);
  t.match(r.stderr, /^Error: /);
  const reg = await inProcess(['--endpoints', 'http://127.0.0.1:1', '--command-timeout', '300ms', '--dial-timeout', '100ms', 'service', 'register', '--name', 'x', '--port', '1']);
  t.equal(reg.code, 1);
});
