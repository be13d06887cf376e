// etcd's --auto-tls and --peer-auto-tls: a member without a certificate of its own makes a
// self-signed one at its first start, in its data directory (fixtures/client, fixtures/peer, as
// etcd), and keeps using it on later starts. Such a certificate proves nothing about who holds it:
// it only encrypts. So the members do not check each other's (as etcd skips the check for its own
// self-signed certificates) and clients connect with --insecure-skip-tls-verify.
//
// @peculiar/x509 builds the certificate (Node can check certificates but not make them); the key
// is an ECDSA P-256 key from Node's WebCrypto.
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const VALIDITY_DAYS = 365;
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/**
 * Makes `certFile` and `keyFile` (a self-signed certificate for `hosts`, names and IP addresses,
 * and its key) unless both exist already. Resolves 'made' or 'kept'.
 */
export async function ensureSelfSignedPair(certFile: string, keyFile: string, hosts: string[], now = new Date()): Promise<'made' | 'kept'> {
  if ((await exists(certFile)) && (await exists(keyFile))) return 'kept';
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const names = [...new Set(hosts.map((h) => h.replace(/^\[|\]$/g, '')))];
  const serial = randomBytes(16);
  serial[0]! &= 0x7f; // a positive number, as RFC 5280 asks
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: 'O=flotilla kvd',
    notBefore: now,
    notAfter: new Date(now.getTime() + VALIDITY_DAYS * 86_400_000),
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      // Both uses: a member presents the same certificate when it dials another.
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((h) => ({ type: isIP(h) !== 0 ? ('ip' as const) : ('dns' as const), value: h }))),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' });
  for (const dir of new Set([dirname(certFile), dirname(keyFile)])) await mkdir(dir, { recursive: true, mode: 0o700 });
  // The key first, each file whole (written aside, then renamed): a start cut short leaves no
  // certificate without its key.
  await writeWhole(keyFile, keyPem, 0o600);
  await writeWhole(certFile, cert.toString('pem') + '\n', 0o644);
  return 'made';
}

async function writeWhole(path: string, text: string | Buffer, mode: number): Promise<void> {
  const aside = `${path}.tmp`;
  await writeFile(aside, text, { mode });
  await rename(aside, path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
