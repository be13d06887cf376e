// fleetd's flags: defaults, FLEETD_* equivalents (flags win), and a precise error for every bad value.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ConfigError, envName, FLEETD_VERSION, parseDuration, parseFleetdArgs, parseHostPort, usage, type FleetdConfig } from '../../../src/fleet/config.js';

function config(argv: string[], env: NodeJS.ProcessEnv = {}): FleetdConfig {
  const r = parseFleetdArgs(argv, env);
  if (r.kind !== 'config') throw new Error(`not a config: ${r.kind}`);
  return r.config;
}

t.test('defaults', async (t) => {
  t.same(config([]), {
    endpoints: ['http://127.0.0.1:2379'],
    stateDir: 'default.fleetd',
    metadata: {},
    publicIp: '127.0.0.1',
    agentTtlSec: 5,
    engineReconcileIntervalMs: 2000,
    engineHoldOffMs: 10_000,
    httpAddr: { host: '127.0.0.1', port: 8500 },
    dnsAddr: { host: '127.0.0.1', port: 8600 },
    dnsDomain: 'flotilla',
    logLevel: 'info',
    prefix: '/flotilla/fleet/',
  });
});

t.test('every flag', async (t) => {
  const c = config([
    '--endpoints', 'http://127.0.0.1:22379, 127.0.0.1:32379',
    '--machine-id', 'ab'.repeat(16),
    '--state-dir', '/var/lib/fleetd',
    '--metadata', 'region=east,disk=ssd',
    '--public-ip', '10.1.2.3',
    '--agent-ttl', '10',
    '--engine-reconcile-interval', '500ms',
    '--engine-hold-off', '0',
    '--http-addr', '0.0.0.0:9500',
    '--dns-addr', '127.0.0.1:8600',
    '--dns-domain', 'Consul.',
    '--log-level', 'debug',
    '--prefix', '/other',
  ]);
  t.same(c, {
    endpoints: ['http://127.0.0.1:22379', 'http://127.0.0.1:32379'],
    machineId: 'ab'.repeat(16),
    stateDir: '/var/lib/fleetd',
    metadata: { region: 'east', disk: 'ssd' },
    publicIp: '10.1.2.3',
    agentTtlSec: 10,
    engineReconcileIntervalMs: 500,
    engineHoldOffMs: 0,
    httpAddr: { host: '0.0.0.0', port: 9500 },
    dnsAddr: { host: '127.0.0.1', port: 8600 },
    dnsDomain: 'consul',
    logLevel: 'debug',
    prefix: '/other/',
  });
  t.same(config(['--http-addr=']).httpAddr, undefined, 'an empty --http-addr turns the API off');
  t.same(config(['--http-addr', '[::1]:0']).httpAddr, { host: '::1', port: 0 });
  t.equal(config(['--endpoints', 'localhost']).endpoints[0], 'http://localhost:2379', "etcdctl's default port");
  t.equal(config(['--public-ip', '::1']).publicIp, '::1');
});

t.test('FLEETD_* environment, flags win, empty variables are unset', async (t) => {
  t.equal(envName('engine-hold-off'), 'FLEETD_ENGINE_HOLD_OFF');
  const env = {
    FLEETD_ENDPOINTS: 'http://127.0.0.1:1',
    FLEETD_MACHINE_ID: 'cd'.repeat(16),
    FLEETD_STATE_DIR: '/env',
    FLEETD_METADATA: 'a=1',
    FLEETD_PUBLIC_IP: '10.0.0.9',
    FLEETD_AGENT_TTL: '3s',
    FLEETD_ENGINE_RECONCILE_INTERVAL: '1',
    FLEETD_ENGINE_HOLD_OFF: '1m',
    FLEETD_HTTP_ADDR: '127.0.0.1:1',
    FLEETD_DNS_ADDR: '127.0.0.1:2',
    FLEETD_DNS_DOMAIN: 'example.internal',
    FLEETD_LOG_LEVEL: 'warn',
    FLEETD_PREFIX: '/e/',
  };
  t.same(config([], env), {
    endpoints: ['http://127.0.0.1:1'],
    machineId: 'cd'.repeat(16),
    stateDir: '/env',
    metadata: { a: '1' },
    publicIp: '10.0.0.9',
    agentTtlSec: 3,
    engineReconcileIntervalMs: 1000,
    engineHoldOffMs: 60_000,
    httpAddr: { host: '127.0.0.1', port: 1 },
    dnsAddr: { host: '127.0.0.1', port: 2 },
    dnsDomain: 'example.internal',
    logLevel: 'warn',
    prefix: '/e/',
  });
  const c = config(['--agent-ttl', '7', '--metadata', 'b=2'], env);
  t.equal(c.agentTtlSec, 7, 'the flag wins');
  t.same(c.metadata, { b: '2' });
  t.equal(config([], { FLEETD_AGENT_TTL: '' }).agentTtlSec, 5, 'an empty variable is unset');
});

t.test('help and version', async (t) => {
  t.same(parseFleetdArgs(['--help']), { kind: 'help' });
  t.same(parseFleetdArgs(['-h', '--bogus=1'].slice(0, 1)), { kind: 'help' });
  t.same(parseFleetdArgs(['--version']), { kind: 'version' });
  t.match(FLEETD_VERSION, /^\d+\.\d+\.\d+$/);
  const u = usage();
  for (const flag of ['endpoints', 'ca-file', 'cert-file', 'key-file', 'machine-id', 'state-dir', 'metadata', 'public-ip', 'agent-ttl', 'engine-reconcile-interval', 'engine-hold-off', 'http-addr', 'dns-addr', 'dns-domain', 'log-level', 'help', 'version']) {
    t.match(u, `--${flag}\n`, `--${flag} is documented`);
  }
  t.notMatch(u, '--prefix', 'the advanced --prefix is not in the help');
  t.match(u, 'FLEETD_<FLAG>');
});

t.test('bad input: a precise error naming the flag', async (t) => {
  const cases: [string[], NodeJS.ProcessEnv, string | RegExp][] = [
    [['--bogus'], {}, /^Unknown option '--bogus'/],
    [['extra'], {}, /Unexpected argument 'extra'/],
    [['--agent-ttl'], {}, /Option '--agent-ttl <value>' argument missing/],
    [['--endpoints', 'unix:///run/kvd.sock'], {}, '--endpoints: unsupported endpoint "unix:///run/kvd.sock": only http:// and https:// are supported'],
    [['--endpoints', 'http://127.0.0.1:2379/v3'], {}, '--endpoints: "http://127.0.0.1:2379/v3" must be http://host:port or https://host:port, without a path'],
    [['--endpoints', 'https://127.0.0.1:2379/v3'], {}, /must be http:\/\/host:port or https:\/\/host:port, without a path/],
    [['--endpoints', 'http://[bad'], {}, /--endpoints: bad endpoint/],
    [['--endpoints', ' , '], {}, '--endpoints is empty'],
    [['--machine-id', 'XYZ'], {}, '--machine-id: machine id must be 32 lowercase hexadecimal digits (got "XYZ")'],
    [['--state-dir', ' '], {}, '--state-dir must not be empty'],
    [['--metadata', 'k'], {}, '--metadata: "k" is not key=value'],
    [['--metadata', '=v'], {}, '--metadata: "=v" has an empty key'],
    [['--metadata', 'k=1,k=2'], {}, '--metadata: key "k" is given twice'],
    [['--public-ip', 'example.com'], {}, '--public-ip: "example.com" is not an IPv4 or IPv6 address'],
    [['--agent-ttl', '0'], {}, '--agent-ttl: must be a whole number of seconds from 1 to 3600 (got "0")'],
    [['--agent-ttl', '1500ms'], {}, /--agent-ttl: must be a whole number of seconds/],
    [['--agent-ttl', '2x'], {}, '--agent-ttl: "2x" is not a duration (e.g. 2, 2s, 500ms, 1m)'],
    [['--agent-ttl', '2h'], {}, '--agent-ttl: must be a whole number of seconds from 1 to 3600 (got "2h")'],
    [['--agent-ttl', '61m'], {}, /from 1 to 3600/],
    [['--engine-reconcile-interval', '0'], {}, '--engine-reconcile-interval: must be at least 1 ms (got "0")'],
    [['--engine-reconcile-interval=-1'], {}, '--engine-reconcile-interval: "-1" is not a duration (e.g. 2, 2s, 500ms, 1m)'],
    [['--engine-hold-off', 'soon'], {}, '--engine-hold-off: "soon" is not a duration (e.g. 2, 2s, 500ms, 1m)'],
    [['--http-addr', '8500'], {}, '--http-addr: "8500" is not host:port'],
    [['--http-addr', '127.0.0.1:70000'], {}, '--http-addr: port 70000 is out of range (0-65535)'],
    [['--dns-addr', '[nothex]:53'], {}, '--dns-addr: "nothex" is not an IPv6 address'],
    [['--log-level', 'loud'], {}, '--log-level: must be one of debug, info, warn, error, fatal, silent (got "loud")'],
    [['--prefix', 'rel/'], {}, '--prefix: must start with "/" (got "rel/")'],
    [[], { FLEETD_AGENT_TTL: 'x' }, /--agent-ttl: "x" is not a duration/],
  ];
  for (const [argv, env, message] of cases) {
    t.throws(() => parseFleetdArgs(argv, env), { name: 'ConfigError', message }, `${argv.join(' ')} ${JSON.stringify(env)}`);
  }
  t.throws(() => parseFleetdArgs(['--bogus']), ConfigError);
});

t.test('durations and addresses', async (t) => {
  t.equal(parseDuration('x', '1.5s', { min: 0 }), 1500);
  t.equal(parseDuration('x', '2', { min: 0 }), 2000, 'a bare number is seconds, as in fleet');
  t.equal(parseDuration('x', '250ms', { min: 0 }), 250);
  t.equal(parseDuration('x', '1m', { min: 0 }), 60_000);
  t.equal(parseHostPort('x', ''), undefined);
  t.same(parseHostPort('x', 'localhost:1'), { host: 'localhost', port: 1 });
});

t.test('TLS towards the store: --ca-file, --cert-file, --key-file', async (t) => {
  const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/tls/${name}`, import.meta.url));
  const [ca, cert, key] = [fixture('ca.pem'), fixture('client.pem'), fixture('client-key.pem')];
  t.equal(config([]).tls, undefined, 'no TLS files, no TLS settings');

  const c = config(['--endpoints', 'https://127.0.0.1:2379,http://127.0.0.1:22379', '--ca-file', ca, '--cert-file', cert, '--key-file', key]);
  t.same(c.endpoints, ['https://127.0.0.1:2379', 'http://127.0.0.1:22379'], 'https:// endpoints, mixed with http://');
  t.same(c.tls, { ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) }, "the files' contents, read at start");
  t.same(config(['--endpoints', 'https://127.0.0.1:2379']).tls, undefined, "https:// alone: the system's CAs, no client certificate");
  t.same(config(['--ca-file', ca]).tls, { ca: readFileSync(ca) }, 'a CA without a client certificate');
  t.same(config(['--endpoints', '127.0.0.1:2379', '--ca-file', ca]).endpoints, ['https://127.0.0.1:2379'], 'with TLS files, no scheme means https://, as the client reads it');
  t.same(config(['--endpoints', '127.0.0.1:2379']).endpoints, ['http://127.0.0.1:2379'], 'without, http://');
  t.same(config([], { FLEETD_CA_FILE: ca, FLEETD_CERT_FILE: cert, FLEETD_KEY_FILE: key }).tls, c.tls, 'FLEETD_CA_FILE, FLEETD_CERT_FILE, FLEETD_KEY_FILE');

  const cases: [string[], string | RegExp][] = [
    [['--cert-file', cert], '--cert-file needs --key-file: a client certificate and its key go together'],
    [['--key-file', key], '--key-file needs --cert-file: a client certificate and its key go together'],
    [['--ca-file', '/nonexistent/ca.pem'], '--ca-file: cannot read "/nonexistent/ca.pem": no such file or directory'],
    [['--cert-file', '/nonexistent/client.pem', '--key-file', key], '--cert-file: cannot read "/nonexistent/client.pem": no such file or directory'],
    [['--cert-file', cert, '--key-file', '/nonexistent/key.pem'], '--key-file: cannot read "/nonexistent/key.pem": no such file or directory'],
    [['--ca-file', fixture('')], `--ca-file: cannot read ${JSON.stringify(fixture(''))}: illegal operation on a directory`],
    [['--ca-file', key], `--ca-file: ${JSON.stringify(key)} holds no PEM certificate`],
    [['--cert-file', cert, '--key-file', fixture('member-key.pem')], /^--cert-file ".*client\.pem", --key-file ".*member-key\.pem": not a PEM certificate and its key: .*key values mismatch/],
  ];
  for (const [argv, message] of cases) t.throws(() => parseFleetdArgs(argv, {}), { name: 'ConfigError', message }, argv.join(' '));
});
