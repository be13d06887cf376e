// kvd's client port over TLS (etcd's --cert-file, --key-file, --trusted-ca-file, --client-cert-auth),
// with real processes: the gateway, kvctl and the client library (watch included) over https and
// wss, clients that do not trust the member's authority refused, client certificates asked for
// and checked, the members' own calls to each other (a forwarded keep-alive) over TLS, and the peer
// port over TLS (Raft, a member joining, a connection without a member certificate refused), and
// etcd's other TLS flags (revocation lists, allowed certificate names, cipher suites).
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { Client } from '../../src/client/index.js';
import { inProcess } from '../kvctl/helpers.js';
import https from 'node:https';
import { connect, type ConnectionOptions } from 'node:tls';
import { copyFileSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { b64, KvdCluster } from './kvd-harness.js';
import { ensureSelfSignedPair } from '../../src/server/self-signed.js';

const path = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
const pem = (name: string) => readFileSync(path(name));
const SERVER_FLAGS = ['--cert-file', path('member.pem'), '--key-file', path('member-key.pem')];

t.test('a member on https: the gateway, kvctl and the client library over TLS; a client that does not trust its authority is refused', async (t) => {
  const c = await KvdCluster.create(1, SERVER_FLAGS, { tls: { ca: pem('ca.pem') } });
  t.teardown(() => c.close());
  const m = c.members[0]!;
  t.match(m.url, /^https:\/\//);
  const kvctl = (...args: string[]) => inProcess(['--endpoints', m.url, ...args]);
  t.same(await kvctl('--cacert', path('ca.pem'), 'put', 'foo', 'bar'), { code: 0, stdout: 'OK\n', stderr: '', stdoutBytes: Buffer.from('OK\n') });
  const hostPort = m.url.slice('https://'.length);
  const bare = await inProcess(['--endpoints', hostPort, '--cacert', path('ca.pem'), 'get', 'foo']);
  t.same([bare.code, bare.stdout], [0, 'foo\nbar\n'], 'an endpoint without a scheme is https:// once a TLS flag is given (as etcdctl)');

  const untrusted = await kvctl('get', 'foo');
  t.not(untrusted.code, 0, 'without --cacert the member is not trusted');
  t.match(untrusted.stderr, /self[- ]signed certificate|unable to verify|unable to get local issuer/i);
  const wrongCa = await kvctl('--cacert', path('other-ca.pem'), 'get', 'foo');
  t.not(wrongCa.code, 0, 'an authority that did not sign it');
  t.match(wrongCa.stderr, /certificate/i);
  const skipped = await kvctl('--insecure-skip-tls-verify', 'get', 'foo');
  t.same([skipped.code, skipped.stdout], [0, 'foo\nbar\n'], '--insecure-skip-tls-verify accepts it (an https:// endpoint needs no other flag)');
  const systemRoots = await inProcess(['--endpoints', hostPort, '--insecure-transport=false', 'get', 'foo']);
  t.same([systemRoots.code !== 0, /certificate/i.test(systemRoots.stderr)], [true, true], '--insecure-transport=false: TLS with the system authorities, which do not know this one');
  const missing = await kvctl('--cacert', '/nonexistent/ca.pem', 'get', 'foo');
  t.same([missing.code, missing.stderr], [128, 'Error: open /nonexistent/ca.pem: no such file or directory\n'], "an unreadable file: etcdctl's error");
  const halfPair = await kvctl('--cacert', path('ca.pem'), '--cert', path('client.pem'), 'get', 'foo');
  t.same([halfPair.code, halfPair.stderr], [128, 'Error: --cert and --key must be given together\n']);

  const plain = await fetch(`http://${hostPort}/v3/kv/range`, { method: 'POST', body: '{"key":"Zm9v"}' }).then(
    (r) => `HTTP ${r.status}`,
    (e: Error) => e.message,
  );
  t.not(plain, 'HTTP 200', `plain HTTP to the TLS port gets no answer (${plain})`);

  // The client library: a watch (a wss:// stream) sees a put made over https.
  const client = new Client({ endpoints: [m.url], tls: { ca: pem('ca.pem') }, autoSyncMembers: false });
  t.teardown(() => client.close());
  const ac = new AbortController();
  const watcher = client.watch('w/', { prefix: true, signal: ac.signal });
  const seen = new Promise<string>((resolve) => {
    void (async () => {
      for await (const r of watcher) for (const e of r.events) return resolve(Buffer.from(e.kv.value).toString());
    })();
  });
  await watcher.ready();
  await client.put('w/1', 'over tls');
  t.equal(await seen, 'over tls', 'the watch over wss:// got the event');
  ac.abort();
  t.equal(Buffer.from((await client.get('foo')).kvs[0]!.value).toString(), 'bar');
});

t.test('--client-cert-auth: only clients with a certificate from --trusted-ca-file; members forward to each other over TLS', async (t) => {
  const flags = [...SERVER_FLAGS, '--trusted-ca-file', path('ca.pem'), '--client-cert-auth'];
  const c = await KvdCluster.create(3, flags, { tls: { ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client-key.pem') } });
  t.teardown(() => c.close());
  const leader = await c.leader();
  const follower = c.members.find((m) => m !== leader)!;
  const withCert = ['--cacert', path('ca.pem'), '--cert', path('client.pem'), '--key', path('client-key.pem')];
  const noCert = await inProcess(['--endpoints', follower.url, '--cacert', path('ca.pem'), 'put', 'a', '1']);
  t.not(noCert.code, 0, 'a client without a certificate is refused');
  t.match(noCert.stderr, /client certificate refused: no client certificate/, 'with a 403 that says why');
  t.notMatch(noCert.stderr, /outcome unknown/, 'a write refused so is known not to be applied');
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-kvd-tls-self-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await ensureSelfSignedPair(join(dir, 'cert.pem'), join(dir, 'key.pem'), ['127.0.0.1']);
  const unknownCa = await inProcess(['--endpoints', follower.url, '--cacert', path('ca.pem'), '--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem'), 'put', 'a', '2']);
  t.not(unknownCa.code, 0, 'a client whose certificate no trusted authority signed is refused');
  t.match(unknownCa.stderr, /client certificate refused: the certificate is not signed by a trusted authority \(DEPTH_ZERO_SELF_SIGNED_CERT\)/, 'with a 403 that says why');
  t.notMatch(unknownCa.stderr, /outcome unknown/);
  await follower.waitForLog(/refused a client certificate/);
  t.equal((await inProcess(['--endpoints', follower.url, ...withCert, 'put', 'a', '1'])).stdout, 'OK\n', 'a client with one is served');

  // A keep-alive sent to a follower is forwarded to the leader's https:// client URL: the
  // follower presents its own certificate there.
  const grant = await inProcess(['--endpoints', leader.url, ...withCert, 'lease', 'grant', '60']);
  const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)?.[1];
  t.ok(id, grant.stdout);
  const kept = await inProcess(['--endpoints', follower.url, ...withCert, 'lease', 'keep-alive', '--once', id!]);
  t.same([kept.code, kept.stdout.trim()], [0, `lease ${id} keepalived with TTL(60)`], 'forwarded to the leader over TLS');
  const status = await inProcess(['--endpoints', follower.url, ...withCert, 'endpoint', 'status', '--cluster', '-w', 'json']);
  t.equal(status.code, 0, status.stderr);
  const endpoints = (JSON.parse(status.stdout) as { Endpoint: string }[]).map((e) => e.Endpoint).sort();
  t.same(endpoints, c.members.map((m) => m.url).sort(), "--cluster reaches every member's https:// URL");
});

/** A GET over https with the given TLS settings: the status, or the error's message. */
function httpsGet(url: string, tls: { ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<string> {
  return new Promise((resolve) => {
    const req = https.get(url, { ...tls, agent: false, signal: AbortSignal.timeout(5000) }, (res) => {
      res.resume();
      res.on('end', () => resolve(`HTTP ${res.statusCode}`));
      res.on('error', (e) => resolve(e.message));
    });
    req.on('error', (e) => resolve(e.message));
  });
}

t.test('the peer port over TLS (--peer-cert-file, --peer-client-cert-auth, --peer-cert-allowed-cn): Raft between the members, a member joining, a connection without a member certificate or with another CN refused', async (t) => {
  const peerFlags = [
    '--peer-cert-file', path('member.pem'), '--peer-key-file', path('member-key.pem'), '--peer-trusted-ca-file', path('ca.pem'), '--peer-client-cert-auth',
    '--peer-cert-allowed-cn', 'member', '--cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  ];
  const c = await KvdCluster.create(3, peerFlags, { peerTls: true });
  t.teardown(() => c.close());
  const leader = await c.leader();
  t.equal((await leader.call('/v3/kv/put', { key: b64('p'), value: b64('1') })).status, 200);
  for (const m of c.members) {
    t.equal((await inProcess(['--endpoints', m.url, 'get', 'p', '--print-value-only'])).stdout, '1\n', `${m.spec.name} has it (a linearizable read)`);
  }
  // A member added and started later asks the others who is in the cluster over https, then
  // gets the log over wss.
  const fresh = await c.newMember('m4', peerFlags);
  const add = await inProcess(['--endpoints', leader.url, 'member', 'add', 'm4', `--peer-urls=https://127.0.0.1:${fresh.spec.peerPort}`]);
  t.equal(add.code, 0, add.stderr);
  await fresh.start();
  t.equal((await inProcess(['--endpoints', fresh.url, 'get', 'p', '--print-value-only'])).stdout, '1\n', 'the member that joined over TLS caught up');
  t.equal((await inProcess(['--endpoints', fresh.url, 'put', 'q', '2'])).stdout, 'OK\n', 'and writes through the cluster');

  const peerPort = `https://127.0.0.1:${leader.spec.peerPort}/flotilla/cluster`;
  t.equal(await httpsGet(peerPort, { ca: pem('ca.pem'), cert: pem('member.pem'), key: pem('member-key.pem') }), 'HTTP 200', 'a member certificate is let in');
  t.match(await httpsGet(peerPort, { ca: pem('ca.pem') }), /certificate required|socket hang up|ECONNRESET/, 'no certificate: refused');
  await leader.waitForLog(/refused peer connection.*TLS handshake failed|TLS handshake failed.*refused peer connection/);
  const otherCn = await httpsGet(peerPort, { ca: pem('ca.pem'), cert: pem('member2.pem'), key: pem('member2-key.pem') });
  t.not(otherCn, 'HTTP 200', `a certificate of the same authority with CN member2 is refused (${otherCn})`);
  await leader.waitForLog(/peer certificate refused: the certificate's CN \\"member2\\" is not the allowed \\"member\\"/);
  const plain = await fetch(peerPort.replace('https:', 'http:')).then((r) => `HTTP ${r.status}`, (e: Error) => e.message);
  t.not(plain, 'HTTP 200', `plain HTTP to the peer port gets nothing (${plain})`);
});

/** The name in the certificate a member presents to a new connection. */
function servedName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: pem('ca.pem') }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.end();
      resolve(Array.isArray(cn) ? cn.join(',') : String(cn));
    });
    socket.on('error', reject);
  });
}

t.test('a rotated certificate is served from the next connection on, without a restart; files that do not load are not', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-kvd-tls-rotate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  copyFileSync(path('member.pem'), cert);
  copyFileSync(path('member-key.pem'), key);
  const c = await KvdCluster.create(1, ['--cert-file', cert, '--key-file', key, '--log-level', 'info'], { tls: { ca: pem('ca.pem') } });
  t.teardown(() => c.close());
  const m = c.members[0]!;
  const port = m.spec.clientPort;
  t.equal(await servedName(port), 'member');
  // Half a rotation: the new certificate with the old key. Not taken; the member goes on serving.
  copyFileSync(path('member2.pem'), cert);
  await m.waitForLog(/the client TLS files changed but do not load; still using the previous certificate/);
  t.equal(await servedName(port), 'member', 'the previous certificate is kept');
  t.equal((await inProcess(['--endpoints', m.url, '--cacert', path('ca.pem'), 'put', 'k', 'v'])).stdout, 'OK\n');
  copyFileSync(path('member2-key.pem'), key);
  await m.waitForLog(/reloaded the client TLS files/);
  t.equal(await servedName(port), 'member2', 'the new one, from the next connection on');
  t.equal((await inProcess(['--endpoints', m.url, '--cacert', path('ca.pem'), 'get', 'k', '--print-value-only'])).stdout, 'v\n');
});

/** The TLS 1.2 suite a handshake with these options agreed on, or the handshake's error. */
function negotiated(port: number, opts: ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ca: pem('ca.pem'), cert: pem('member.pem'), key: pem('member-key.pem'), maxVersion: 'TLSv1.2', ...opts }, () => {
      resolve(socket.getCipher().name);
      socket.end();
    });
    socket.on('error', (e) => resolve(e.message));
  });
}

t.test('--client-crl-file (reloaded when it changes), --client-cert-allowed-hostname and --cipher-suites on the client port', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-kvd-tls-crl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const crl = join(dir, 'crl.pem');
  copyFileSync(path('crl-none.pem'), crl);
  const flags = [
    ...SERVER_FLAGS, '--trusted-ca-file', path('ca.pem'), '--client-cert-auth', '--client-crl-file', crl,
    '--client-cert-allowed-hostname', 'localhost', '--cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', '--log-level', 'info',
  ];
  const c = await KvdCluster.create(1, flags, { tls: { ca: pem('ca.pem'), cert: pem('member.pem'), key: pem('member-key.pem') } });
  t.teardown(() => c.close());
  const m = c.members[0]!;
  const as = (name: string, ...args: string[]) => inProcess(['--endpoints', m.url, '--cacert', path('ca.pem'), '--cert', path(`${name}.pem`), '--key', path(`${name}-key.pem`), ...args]);
  t.equal((await as('member', 'put', 'k', 'v')).stdout, 'OK\n', 'a certificate valid for localhost');
  t.equal((await as('revoked', 'get', 'k', '--print-value-only')).stdout, 'v\n', 'revoked.pem is valid for localhost too, and the list does not name it yet');
  const noName = await as('client', 'put', 'k', 'w');
  t.not(noName.code, 0, 'client.pem is valid for no hostname: refused');
  t.match(noName.stderr, /client certificate refused: the certificate is not valid for the allowed hostname "localhost"/, 'with a 403 that says why');
  t.notMatch(noName.stderr, /outcome unknown/, 'a write refused so is known not to be applied');
  await m.waitForLog(/refused a client certificate.*not valid for the allowed hostname \\"localhost\\"|not valid for the allowed hostname \\"localhost\\".*refused a client certificate/);

  // The authority revokes it: the new list replaces the file (whole, by a rename).
  copyFileSync(path('crl.pem'), join(dir, 'next.pem'));
  renameSync(join(dir, 'next.pem'), crl);
  await m.waitForLog(/reloaded the client TLS files/);
  const revoked = await as('revoked', 'put', 'k', 'w');
  t.not(revoked.code, 0, 'from the next connection on, the revoked certificate is refused');
  t.match(revoked.stderr, /client certificate refused: the certificate is revoked \(CERT_REVOKED\)/, 'with a 403 that says why');
  t.notMatch(revoked.stderr, /outcome unknown/, 'a write refused so is known not to be applied');
  t.equal((await as('member', 'get', 'k', '--print-value-only')).stdout, 'v\n', 'the others are still served, and neither refused write was applied');

  t.equal(await negotiated(m.spec.clientPort, {}), 'ECDHE-RSA-AES128-GCM-SHA256', 'a TLS 1.2 client gets the listed suite');
  t.match(await negotiated(m.spec.clientPort, { ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' }), /handshake failure|no shared cipher/, 'and none other');
  t.equal(await negotiated(m.spec.clientPort, { maxVersion: 'TLSv1.3', minVersion: 'TLSv1.3' }), 'TLS_AES_256_GCM_SHA384', "TLS 1.3 keeps its own suites (Go's list, as etcd's, limits TLS 1.2 only)");
});

/** The certificate a TLS port serves, unchecked. */
function servedCertificate(port: number): Promise<{ subject: string; fingerprint: string; san: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const c = socket.getPeerX509Certificate()!;
      socket.end();
      resolve({ subject: c.subject, fingerprint: c.fingerprint256, san: c.subjectAltName ?? '' });
    });
    socket.on('error', reject);
  });
}

t.test('--auto-tls and --peer-auto-tls: self-signed certificates made at the first start and kept; the members reach each other over TLS', async (t) => {
  const c = await KvdCluster.create(3, ['--auto-tls', '--peer-auto-tls', '--log-level', 'info'], { tls: {}, peerTls: true });
  t.teardown(() => c.close());
  const leader = await c.leader();
  const follower = c.members.find((m) => m !== leader)!;
  const kvctl = (m: typeof leader, ...args: string[]) => inProcess(['--endpoints', m.url, '--insecure-skip-tls-verify', ...args]);
  t.equal((await kvctl(follower, 'put', 'a', '1')).stdout, 'OK\n', 'a write through a follower (Raft over wss between self-signed members)');
  for (const m of c.members) t.equal((await kvctl(m, 'get', 'a', '--print-value-only')).stdout, '1\n', `${m.spec.name} has it`);
  const strict = await inProcess(['--endpoints', leader.url, 'get', 'a']);
  t.not(strict.code, 0, 'a client that checks the certificate refuses it: it is signed by no authority');

  // A keep-alive sent to a follower goes to the leader's https:// client URL, whose certificate the follower does not check.
  const grant = await kvctl(leader, 'lease', 'grant', '60');
  const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)?.[1];
  const kept = await kvctl(follower, 'lease', 'keep-alive', '--once', id!);
  t.same([kept.code, kept.stdout.trim()], [0, `lease ${id} keepalived with TTL(60)`], 'forwarded between members over TLS');

  const client = await servedCertificate(follower.spec.clientPort);
  const peer = await servedCertificate(follower.spec.peerPort);
  t.same([client.subject, client.san], ['O=flotilla kvd', 'IP Address:127.0.0.1'], 'for the member’s address');
  t.not(client.fingerprint, peer.fingerprint, 'one certificate per port');
  t.equal(readFileSync(join(follower.spec.dataDir, 'fixtures', 'client', 'cert.pem'), 'utf8').includes('BEGIN CERTIFICATE'), true, 'kept in the data directory');
  await follower.waitForLog(/made a self-signed client TLS certificate \(--auto-tls\)/);

  await follower.stop();
  await follower.start();
  await follower.waitForLog(/using the self-signed client TLS certificate/);
  t.equal((await servedCertificate(follower.spec.clientPort)).fingerprint, client.fingerprint, 'the same certificate after a restart');
  t.equal((await servedCertificate(follower.spec.peerPort)).fingerprint, peer.fingerprint);
  t.equal((await kvctl(follower, 'get', 'a', '--print-value-only')).stdout, '1\n');
});
