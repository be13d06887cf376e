// kvd's flags: etcd's names and defaults, KVD_* environment equivalents, and clear errors.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, envName, parseKvdArgs, usage } from '../../src/server/config.js';

const kvd = fileURLToPath(new URL('../../dist/bin/kvd.js', import.meta.url));

function config(argv: string[], env: Record<string, string> = {}) {
  const r = parseKvdArgs(argv, env);
  if (r.kind !== 'config') throw new Error(`expected a config, got ${r.kind}`);
  return r.config;
}

t.test('no flags: a single member named default on 127.0.0.1:2379/2380 with data in default.kvd', async (t) => {
  const c = config([]);
  t.equal(c.name, 'default');
  t.equal(c.dataDir, 'default.kvd');
  t.same(c.listenClientUrls.map(String), ['http://127.0.0.1:2379/']);
  t.same(c.advertiseClientUrls, ['http://127.0.0.1:2379']);
  t.same(c.initialAdvertisePeerUrls, ['http://127.0.0.1:2380']);
  t.same([...c.initialCluster], [['default', ['http://127.0.0.1:2380']]]);
  t.equal(c.initialClusterState, 'new');
  t.equal(c.initialClusterToken, 'etcd-cluster');
  t.equal(c.heartbeatMs, 100);
  t.equal(c.electionMs, 1000);
  t.equal(c.snapshotCount, 100000);
  t.equal(c.valueCacheBytes, 64 * 1024 * 1024, 'a value cache of 64 MiB');
  t.equal(c.walFsyncInPlaceMaxMs, 1, 'log fsyncs in place while they take at most 1 ms');
});

t.test('--wal-fsync-in-place-max-ms: 0 keeps every log fsync in the pool; a fraction or a negative is refused', async (t) => {
  t.equal(config(['--wal-fsync-in-place-max-ms', '0']).walFsyncInPlaceMaxMs, 0);
  t.equal(config([], { KVD_WAL_FSYNC_IN_PLACE_MAX_MS: '5' }).walFsyncInPlaceMaxMs, 5);
  t.throws(() => config(['--wal-fsync-in-place-max-ms', '0.5']), /wal-fsync-in-place-max-ms: must be a whole number/);
  t.throws(() => config(['--wal-fsync-in-place-max-ms=-1']), /wal-fsync-in-place-max-ms: must be a whole number, 0 or more/);
});

t.test('--value-cache-mb: 0 keeps no value in memory', async (t) => {
  t.equal(config(['--value-cache-mb', '0']).valueCacheBytes, 0);
  t.equal(config([], { KVD_VALUE_CACHE_MB: '1024' }).valueCacheBytes, 1024 * 1024 * 1024);
});

t.test('--experimental-initial-corrupt-check reads as a Go boolean flag: alone it means true', async (t) => {
  t.equal(config([]).initialCorruptCheck, false, 'off by default');
  t.equal(config(['--experimental-initial-corrupt-check']).initialCorruptCheck, true, 'alone');
  t.equal(config(['--experimental-initial-corrupt-check=true']).initialCorruptCheck, true);
  t.equal(config(['--experimental-initial-corrupt-check=false']).initialCorruptCheck, false);
  t.equal(config([], { KVD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: 'true' }).initialCorruptCheck, true, 'from the environment');
  t.throws(() => config(['--experimental-initial-corrupt-check=yes']), ConfigError, 'neither true nor false');
  t.throws(() => config(['--experimental-initial-corrupt-check', 'true']), ConfigError, 'a value as the next word is a positional argument, as in Go');
});

t.test('flags in both forms, the environment, and flags winning over it', async (t) => {
  const c = config(['--name=infra1', '--data-dir', '/tmp/x', '--initial-advertise-peer-urls', 'http://127.0.0.1:12380'], {
    KVD_NAME: 'ignored',
    KVD_HEARTBEAT_INTERVAL: '50',
    KVD_ELECTION_TIMEOUT: '500',
  });
  t.equal(c.name, 'infra1');
  t.equal(c.dataDir, '/tmp/x');
  t.equal(c.heartbeatMs, 50);
  t.equal(c.electionMs, 500);
  t.same([...c.initialCluster], [['infra1', ['http://127.0.0.1:12380']]], 'the default initial cluster follows the name and peer URL');
  t.equal(envName('initial-cluster-token'), 'KVD_INITIAL_CLUSTER_TOKEN');
  t.match(usage(), /--listen-client-urls/);
});

t.test('the test-only broken-reads switch: off by default, command line only, not advertised', async (t) => {
  t.equal(config([]).testOnlyUnsafeLocalReads, false);
  t.equal(config(['--test-only-unsafe-local-reads']).testOnlyUnsafeLocalReads, true);
  t.equal(config([], { KVD_TEST_ONLY_UNSAFE_LOCAL_READS: 'true' }).testOnlyUnsafeLocalReads, false, 'the environment cannot turn it on');
  t.notMatch(usage(), /unsafe/, '--help does not list it');
});

t.test('bad input gets one clear message', async (t) => {
  const bad: [string[], RegExp][] = [
    [['--bogus'], /Unknown option '--bogus'/],
    [['--heartbeat-interval', 'fast'], /heartbeat-interval: must be a positive integer/],
    [['--heartbeat-interval', '500'], /should be at least 5 times/],
    [['--initial-cluster-state', 'maybe'], /must be one of new, existing/],
    [['--listen-client-urls', 'localhost'], /is not a URL/],
    [['--listen-client-urls', 'ftp://127.0.0.1:1'], /scheme must be http/],
    [['--listen-client-urls', 'http://127.0.0.1'], /has no port/],
    [['--initial-cluster', 'other=http://127.0.0.1:2380'], /couldn't find local name "default"/],
    [['--initial-cluster', 'default=http://127.0.0.1:9999'], /missing from --initial-advertise-peer-urls/],
    [['--initial-cluster', 'default'], /is not name=URL/],
    [['--value-cache-mb=-1'], /value-cache-mb: must be a whole number, 0 or more \(got "-1"\)/],
    [['--value-cache-mb', '1.5'], /value-cache-mb: must be a whole number/],
  ];
  for (const [argv, msg] of bad) t.throws(() => parseKvdArgs(argv, {}), { name: 'ConfigError', message: msg }, argv.join(' '));
  t.ok(new ConfigError('x') instanceof Error);
});

t.test('client TLS: https:// client URLs with a certificate and its key; what goes with them', async (t) => {
  t.equal(config([]).clientTls, undefined, 'off by default');
  const https = ['--listen-client-urls', 'https://127.0.0.1:2379', '--advertise-client-urls', 'https://127.0.0.1:2379'];
  const c = config([...https, '--cert-file', 'm.pem', '--key-file', 'm-key.pem']);
  t.same(c.clientTls, { certFile: 'm.pem', keyFile: 'm-key.pem', trustedCaFile: undefined, clientCertAuth: false, crlFile: undefined, allowed: undefined, ciphers: undefined });
  t.same(c.advertiseClientUrls, ['https://127.0.0.1:2379']);
  t.same(
    config(['--cert-file', 'm.pem', '--key-file', 'k.pem', '--trusted-ca-file', 'ca.pem', '--client-cert-auth']).clientTls,
    { certFile: 'm.pem', keyFile: 'k.pem', trustedCaFile: 'ca.pem', clientCertAuth: true, crlFile: undefined, allowed: undefined, ciphers: undefined },
    'with client certificates (and a certificate while the URLs are http://: warned about at start, as etcd)',
  );
  t.same(config([], { KVD_CERT_FILE: 'e.pem', KVD_KEY_FILE: 'ek.pem', KVD_CLIENT_CERT_AUTH: 'true' }).clientTls?.clientCertAuth, true, 'from the environment');
  const peer = config([
    '--listen-peer-urls', 'https://127.0.0.1:2380', '--initial-advertise-peer-urls', 'https://127.0.0.1:2380', '--initial-cluster', 'default=https://127.0.0.1:2380',
    '--peer-cert-file', 'p.pem', '--peer-key-file', 'pk.pem', '--peer-trusted-ca-file', 'ca.pem', '--peer-client-cert-auth',
  ]);
  t.same(peer.peerTls, { certFile: 'p.pem', keyFile: 'pk.pem', trustedCaFile: 'ca.pem', clientCertAuth: true, crlFile: undefined, allowed: undefined, ciphers: undefined }, 'the peer port');
  t.equal(peer.clientTls, undefined, 'independent of the client port');
  const bad: [string[], RegExp][] = [
    [https, /^TLS key\/cert \(--cert-file, --key-file\) must be provided for client url https:\/\/127\.0\.0\.1:2379 with HTTPS scheme$/],
    [['--cert-file', 'm.pem'], /^--cert-file and --key-file must be given together$/],
    [['--key-file', 'k.pem'], /^--cert-file and --key-file must be given together$/],
    [['--trusted-ca-file', 'ca.pem'], /^--trusted-ca-file needs --cert-file and --key-file \(client TLS\)$/],
    [['--client-cert-auth'], /^--client-cert-auth needs --cert-file and --key-file/],
    [['--cert-file', 'm.pem', '--key-file', 'k.pem', '--client-cert-auth=maybe'], /client-cert-auth: must be one of true, false/],
    [['--listen-client-urls', 'ftp://127.0.0.1:2379'], /URL scheme must be http or https/],
    [['--listen-peer-urls', 'https://127.0.0.1:2380', '--initial-advertise-peer-urls', 'https://127.0.0.1:2380', '--initial-cluster', 'default=https://127.0.0.1:2380'], /^TLS key\/cert \(--peer-cert-file, --peer-key-file\) must be provided for peer url https:\/\/127\.0\.0\.1:2380 with HTTPS scheme$/],
    [['--peer-cert-file', 'p.pem'], /^--peer-cert-file and --peer-key-file must be given together$/],
    [['--peer-client-cert-auth'], /^--peer-client-cert-auth needs --peer-cert-file and --peer-key-file \(peer TLS\)$/],
    [['--peer-cert-file', 'p.pem', '--peer-key-file', 'k.pem', '--listen-peer-urls', 'https://127.0.0.1:2380'], /--initial-advertise-peer-urls: http:\/\/127\.0\.0\.1:2380 and --listen-peer-urls https:\/\/127\.0\.0\.1:2380 must both be https:\/\/ or both plain/],
  ];
  for (const [argv, msg] of bad) t.throws(() => parseKvdArgs(argv, {}), { name: 'ConfigError', message: msg }, argv.join(' '));
});

t.test("etcd's other TLS flags: revocation lists, allowed names, cipher suites", async (t) => {
  const client = ['--cert-file', 'm.pem', '--key-file', 'k.pem', '--trusted-ca-file', 'ca.pem', '--client-cert-auth'];
  const peer = ['--peer-cert-file', 'p.pem', '--peer-key-file', 'pk.pem', '--peer-trusted-ca-file', 'ca.pem', '--peer-client-cert-auth'];
  const c = config([...client, '--client-crl-file', 'crl.pem', '--client-cert-allowed-hostname', 'localhost']).clientTls;
  t.same([c?.crlFile, c?.allowed], ['crl.pem', { hostname: 'localhost' }], 'the client port');
  const p = config([...peer, '--peer-crl-file', 'pcrl.pem', '--peer-cert-allowed-cn', 'member']).peerTls;
  t.same([p?.crlFile, p?.allowed], ['pcrl.pem', { cn: 'member' }], 'the peer port, by CN');
  t.same(config([...peer, '--peer-cert-allowed-hostname', '127.0.0.1']).peerTls?.allowed, { hostname: '127.0.0.1' }, 'or by hostname');
  t.equal(config([...peer, '--peer-cert-allowed-cn', '']).peerTls?.allowed, undefined, 'an empty flag is no rule');
  t.same(config([...client, '--client-crl-file', 'crl.pem'], { KVD_CLIENT_CRL_FILE: 'env.pem' }).clientTls?.crlFile, 'crl.pem', 'a flag wins over the environment');
  t.same(config(client, { KVD_CLIENT_CRL_FILE: 'env.pem' }).clientTls?.crlFile, 'env.pem', 'from the environment');

  const both = config([...client, ...peer, '--cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305']);
  t.equal(both.clientTls?.ciphers, 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305', "Go's names in OpenSSL's, for the client port");
  t.equal(both.peerTls?.ciphers, both.clientTls?.ciphers, 'and the peer port');
  t.equal(config(client).clientTls?.ciphers, undefined, "none given: Node's defaults");

  const bad: [string[], RegExp][] = [
    [['--client-crl-file', 'crl.pem'], /^--client-crl-file needs --cert-file and --key-file \(client TLS\)$/],
    [['--peer-cert-allowed-cn', 'member'], /^--peer-cert-allowed-cn needs --peer-cert-file and --peer-key-file \(peer TLS\)$/],
    [['--cert-file', 'm.pem', '--key-file', 'k.pem', '--client-crl-file', 'crl.pem'], /^--client-crl-file needs --client-cert-auth: without it no certificate is asked/],
    [['--cert-file', 'm.pem', '--key-file', 'k.pem', '--client-cert-allowed-hostname', 'x'], /^--client-cert-allowed-hostname needs --client-cert-auth/],
    [['--peer-cert-file', 'p.pem', '--peer-key-file', 'pk.pem', '--peer-crl-file', 'c.pem'], /^--peer-crl-file needs --peer-client-cert-auth/],
    [[...peer, '--peer-cert-allowed-cn', 'a', '--peer-cert-allowed-hostname', 'b'], /^--peer-cert-allowed-cn and --peer-cert-allowed-hostname are mutually exclusive$/],
    [['--cipher-suites', 'TLS_AES_128_GCM_SHA256'], /^--cipher-suites: unexpected TLS cipher suite "TLS_AES_128_GCM_SHA256"$/],
    [['--cipher-suites', 'TLS_RSA_WITH_RC4_128_SHA'], /^--cipher-suites: TLS cipher suite "TLS_RSA_WITH_RC4_128_SHA" is not offered by this Node's OpenSSL \(RC4-SHA\)$/],
  ];
  for (const [argv, msg] of bad) t.throws(() => parseKvdArgs(argv, {}), { name: 'ConfigError', message: msg }, argv.join(' '));
});

t.test('--auto-tls and --peer-auto-tls: certificates made in the data directory, unless given', async (t) => {
  const c = config(['--data-dir', '/var/lib/m1', '--auto-tls', '--peer-auto-tls=true', '--cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256']);
  t.same(c.clientTls, { certFile: '/var/lib/m1/fixtures/client/cert.pem', keyFile: '/var/lib/m1/fixtures/client/key.pem', clientCertAuth: false, ciphers: 'ECDHE-RSA-AES128-GCM-SHA256', selfSigned: true });
  t.same([c.peerTls?.certFile, c.peerTls?.selfSigned], ['/var/lib/m1/fixtures/peer/cert.pem', true]);
  t.same(c.autoTlsIgnored, []);
  const https = ['--listen-client-urls', 'https://127.0.0.1:2379', '--advertise-client-urls', 'https://127.0.0.1:2379'];
  t.equal(config([...https, '--auto-tls']).clientTls?.selfSigned, true, 'an https:// client URL needs no certificate flags then');
  const given = config(['--auto-tls', '--cert-file', 'm.pem', '--key-file', 'k.pem']);
  t.same([given.clientTls?.certFile, given.clientTls?.selfSigned, given.autoTlsIgnored], ['m.pem', undefined, ['client']], 'a certificate given wins (warned about at start, as etcd)');
  t.equal(config(['--auto-tls=false']).clientTls, undefined);
  const bad: [string[], RegExp][] = [
    [['--auto-tls', '--client-cert-auth'], /^--client-cert-auth cannot be used with --auto-tls: a generated certificate is signed by no authority/],
    [['--peer-auto-tls', '--peer-client-cert-auth'], /^--peer-client-cert-auth cannot be used with --peer-auto-tls/],
    [['--auto-tls', '--trusted-ca-file', 'ca.pem'], /^--trusted-ca-file needs --cert-file and --key-file \(client TLS\)$/],
    [['--auto-tls=maybe'], /auto-tls: must be one of true, false/],
  ];
  for (const [argv, msg] of bad) t.throws(() => parseKvdArgs(argv, {}), { name: 'ConfigError', message: msg }, argv.join(' '));
});

t.test('the kvd binary: a certificate that cannot be used stops it at start, naming the flag', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-kvd-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
  const start = (...flags: string[]) =>
    spawnSync(process.execPath, [kvd, '--data-dir', join(dir, 'data'), '--listen-client-urls', 'https://127.0.0.1:0', '--advertise-client-urls', 'https://127.0.0.1:2379', ...flags], {
      encoding: 'utf8',
      timeout: 20000,
    });
  const missing = start('--cert-file', join(dir, 'nope.pem'), '--key-file', fixture('member-key.pem'));
  t.equal(missing.status, 1);
  t.match(missing.stderr, /^kvd: cannot start: --cert-file: cannot read ".*nope\.pem": no such file or directory\n/);
  const mismatch = start('--cert-file', fixture('member.pem'), '--key-file', fixture('client-key.pem'));
  t.equal(mismatch.status, 1);
  t.match(mismatch.stderr, /^kvd: cannot start: --cert-file ".*member\.pem", --key-file ".*client-key\.pem": .*key values mismatch/);
  const notPem = start('--cert-file', fixture('make.sh'), '--key-file', fixture('member-key.pem'));
  t.equal(notPem.status, 1);
  t.match(notPem.stderr, /^kvd: cannot start: --cert-file .*make\.sh/);
  const noCa = start('--cert-file', fixture('member.pem'), '--key-file', fixture('member-key.pem'), '--trusted-ca-file', fixture('make.sh'));
  t.equal(noCa.status, 1);
  t.match(noCa.stderr, /^kvd: cannot start: --trusted-ca-file: ".*make\.sh" holds no PEM certificate/);
  const noCrl = start('--cert-file', fixture('member.pem'), '--key-file', fixture('member-key.pem'), '--client-cert-auth', '--client-crl-file', fixture('ca.pem'));
  t.equal(noCrl.status, 1);
  t.match(noCrl.stderr, /^kvd: cannot start: --client-crl-file: ".*ca\.pem" holds no PEM certificate revocation list/);
  t.notMatch(`${missing.stderr}${mismatch.stderr}${notPem.stderr}${noCa.stderr}${noCrl.stderr}`, /at .*\.js/, 'no stack trace');
});

t.test('the kvd binary: --help, --version, and an unknown flag exits 2 with one line', async (t) => {
  const help = spawnSync(process.execPath, [kvd, '--help'], { encoding: 'utf8' });
  t.equal(help.status, 0);
  t.match(help.stdout, /^Usage: kvd \[flags\]/);
  const version = spawnSync(process.execPath, [kvd, '--version'], { encoding: 'utf8' });
  t.match(version.stdout, /etcd API 3\.4/);
  const bad = spawnSync(process.execPath, [kvd, '--nope'], { encoding: 'utf8' });
  t.equal(bad.status, 2);
  t.match(bad.stderr, /^kvd: Unknown option '--nope'/);
  t.notMatch(bad.stderr, /at .*\.js/, 'no stack trace');
});
