// A port's TLS, the client port's (etcd's --cert-file, --key-file, --trusted-ca-file,
// --client-cert-auth) or the peer port's (the same with --peer-): the files read and checked once
// at start (util/tls-files.ts), then the options of the port's server and of this member's own
// connections to the other members' ports of that kind, where it presents the same certificate.
import type { TlsOptions } from 'node:tls';
import type { TlsFiles } from './config.js';
import type { MemberTls } from './member/internal-client.js';
import { checkTlsContext, readFlagFile, requireCertificates } from '../util/tls-files.js';

export interface PortTls {
  /** For the port's https server. */
  server: TlsOptions;
  /** For this member's connections to the other members' ports. */
  dial: MemberTls;
}

/** `prefix`: '' for the client port's flags, 'peer-' for the peer port's. */
export function loadPortTls(files: TlsFiles, prefix: '' | 'peer-'): PortTls {
  const error = (message: string) => new Error(message);
  const cert = readFlagFile(`${prefix}cert-file`, files.certFile, error);
  const key = readFlagFile(`${prefix}key-file`, files.keyFile, error);
  const ca = files.trustedCaFile === undefined ? undefined : requireCertificates(`${prefix}trusted-ca-file`, files.trustedCaFile, readFlagFile(`${prefix}trusted-ca-file`, files.trustedCaFile, error), error);
  const named = [`--${prefix}cert-file ${JSON.stringify(files.certFile)}`, `--${prefix}key-file ${JSON.stringify(files.keyFile)}`];
  if (ca) named.push(`--${prefix}trusted-ca-file ${JSON.stringify(files.trustedCaFile)}`);
  checkTlsContext({ cert, key, ca }, named.join(', '), error);
  return {
    // Without --client-cert-auth no certificate is asked for, as etcd's server.
    server: { cert, key, ca, requestCert: files.clientCertAuth, rejectUnauthorized: files.clientCertAuth },
    dial: { cert, key, ca },
  };
}
