// --auto-tls's certificate: made once, for the member's hosts, usable by Node's TLS, kept afterwards.
import t from 'tap';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { ensureSelfSignedPair } from '../../src/server/self-signed.js';

t.test('a self-signed pair for the given hosts, made once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-self-signed-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [certFile, keyFile] = [join(dir, 'fixtures', 'client', 'cert.pem'), join(dir, 'fixtures', 'client', 'key.pem')];
  const now = new Date('2026-12-04T00:00:00Z');
  t.equal(await ensureSelfSignedPair(certFile, keyFile, ['127.0.0.1', 'localhost', '[::1]', '127.0.0.1'], now), 'made');
  const certPem = readFileSync(certFile);
  const cert = new X509Certificate(certPem);
  t.equal(cert.subject, 'O=flotilla kvd');
  t.equal(cert.issuer, cert.subject, 'self-signed');
  t.ok(cert.verify(cert.publicKey), 'by its own key');
  t.equal(cert.subjectAltName, 'IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1', 'each host once; IPv6 without brackets');
  t.equal(new Date(cert.validFrom).toISOString(), now.toISOString());
  t.equal(new Date(cert.validTo).getTime() - now.getTime(), 365 * 86_400_000, 'a year, as etcd');
  t.same(cert.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'server and client use');
  t.equal(cert.ca, false);
  t.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(keyFile))), 'the key is the certificate’s');
  t.equal(statSync(keyFile).mode & 0o777, 0o600, 'the key is readable by its owner only');
  t.doesNotThrow(() => createSecureContext({ cert: certPem, key: readFileSync(keyFile) }), "Node's TLS takes them");

  t.equal(await ensureSelfSignedPair(certFile, keyFile, ['10.0.0.1']), 'kept', 'a later start keeps them');
  t.same(readFileSync(certFile), certPem);
  writeFileSync(keyFile, '');
  rmSync(certFile);
  t.equal(await ensureSelfSignedPair(certFile, keyFile, ['10.0.0.1']), 'made', 'half a pair is made again');
  t.equal(new X509Certificate(readFileSync(certFile)).subjectAltName, 'IP Address:10.0.0.1');
});
