// Allowed certificates beyond the authority's signature (etcd's --peer-cert-allowed-cn and
// --*-cert-allowed-hostname) and the handshake's own verdict answered, on a real TLS server with
// the test fixtures; the cipher-suite names;
// the refusal log.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { certificateRefusal, guardConnections, verificationRefusal, type CertificateRule } from '../../src/util/certificate-rule.js';
import { opensslCiphers } from '../../src/util/cipher-suites.js';
import { RefusalLog } from '../../src/util/refusal-log.js';

const pem = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url)));

/**
 * A TLS server asking for client certificates from the test authority (`ca`: another), answering
 * "hello" to what `rule` lets in; `rule` 'verified': the handshake lets every certificate through
 * and the guard refuses those it could not verify.
 */
async function guarded(t: Test, rule: CertificateRule | 'verified', answer?: (reason: string) => string, ca = pem('ca.pem')): Promise<{ port: number; refused: string[] }> {
  const refused: string[] = [];
  const server: Server = createServer({ cert: pem('member.pem'), key: pem('member-key.pem'), ca, requestCert: true, rejectUnauthorized: rule !== 'verified' });
  server.on('secureConnection', (socket: TLSSocket) => socket.end('hello'));
  const refusal = rule === 'verified' ? verificationRefusal : (socket: TLSSocket) => certificateRefusal(socket, rule);
  guardConnections(server, refusal, (reason) => refused.push(reason), answer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, refused };
}

/** What a client presenting `name`'s certificate (none: undefined) reads from the server before the connection ends. */
function answer(port: number, name: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const mine = name === undefined ? {} : { cert: pem(`${name}.pem`), key: pem(`${name}-key.pem`) };
    const socket = connect({ host: '127.0.0.1', port, ca: pem('ca.pem'), ...mine, servername: 'localhost' });
    socket.on('data', (d: Buffer) => (got += d.toString()));
    socket.on('close', () => resolve(got));
    socket.on('error', () => {});
  });
}

t.test('allowed CN: the subject CN must be the one given', async (t) => {
  const s = await guarded(t, { cn: 'member' });
  t.equal(await answer(s.port, 'member'), 'hello', 'CN member is let in');
  t.equal(await answer(s.port, 'member2'), '', 'CN member2 is closed before the server sees it');
  t.same(s.refused, [`the certificate's CN "member2" is not the allowed "member"`]);
});

t.test('a refused connection can be answered before it is closed', async (t) => {
  const s = await guarded(t, { cn: 'member' }, (reason) => `refused: ${reason}\n`);
  t.equal(await answer(s.port, 'member2'), `refused: the certificate's CN "member2" is not the allowed "member"\n`);
  t.equal(await answer(s.port, 'member'), 'hello', 'the others as before');
});

t.test('allowed hostname: a DNS name or IP address among the subject alternative names, never the CN', async (t) => {
  const dns = await guarded(t, { hostname: 'localhost' });
  t.equal(await answer(dns.port, 'member'), 'hello', 'member.pem has DNS:localhost');
  t.equal(await answer(dns.port, 'client'), '', 'client.pem has no SAN');
  t.same(dns.refused, ['the certificate is not valid for the allowed hostname "localhost"']);
  const ip = await guarded(t, { hostname: '127.0.0.1' });
  t.equal(await answer(ip.port, 'member2'), 'hello', 'IP:127.0.0.1');
  const cn = await guarded(t, { hostname: 'member' });
  t.equal(await answer(cn.port, 'member'), '', 'the CN alone does not make a hostname (as Go since 1.15)');
});

t.test("the handshake's own verdict, answered: no certificate, another authority's", async (t) => {
  const say = (reason: string) => `refused: ${reason}\n`;
  const s = await guarded(t, 'verified', say);
  t.equal(await answer(s.port, 'client'), 'hello', 'a certificate from the trusted authority is let in');
  t.equal(await answer(s.port, undefined), 'refused: no client certificate\n', 'none at all');
  const other = await guarded(t, 'verified', say, pem('other-ca.pem'));
  t.match(await answer(other.port, 'client'), /^refused: the certificate is not signed by a trusted authority \((UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\)\n$/, 'signed by an authority the server does not trust');
  t.same(s.refused, ['no client certificate']);
});

t.test("cipher suites: Go's names to OpenSSL's", async (t) => {
  t.equal(opensslCiphers(''), undefined, 'empty: the defaults');
  t.equal(opensslCiphers(' , '), undefined);
  t.equal(opensslCiphers('TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_RSA_WITH_AES_128_CBC_SHA'), 'ECDHE-ECDSA-AES256-GCM-SHA384:AES128-SHA');
  t.throws(() => opensslCiphers('toString'), { message: 'unexpected TLS cipher suite "toString"' }, 'not a name at all');
  t.throws(() => opensslCiphers('TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA'), { message: /is not offered by this Node's OpenSSL \(ECDHE-RSA-DES-CBC3-SHA\)$/ });
});

t.test('the refusal log: a warning per reason per minute, debug in between', async (t) => {
  const lines: { level: number; reason: string; msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; reason: string; msg: string }) });
  let now = 0;
  const log = new RefusalLog(logger, 'refused', () => now);
  log.note('a', 'r:1');
  log.note('a', 'r:2');
  log.note('b', 'r:3');
  now = 59_999;
  log.note('a', 'r:4');
  now = 60_000;
  log.note('a', 'r:5');
  t.same(
    lines.map((l) => `${l.level === 40 ? 'warn' : 'debug'} ${l.reason} ${l.msg}`),
    ['warn a refused', 'debug a refused', 'warn b refused', 'debug a refused', 'warn a refused'],
  );
});
