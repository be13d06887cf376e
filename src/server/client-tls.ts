// The client port's TLS (etcd's --cert-file, --key-file, --trusted-ca-file, --client-cert-auth):
// the files read and checked once at start (util/tls-files.ts), then the options of the https
// servers and of this member's own calls to the other members' https:// client URLs.
import type { TlsOptions } from 'node:tls';
import type { ClientTlsFiles } from './config.js';
import type { MemberTls } from './member/internal-client.js';
import { checkTlsContext, readFlagFile, requireCertificates } from '../util/tls-files.js';

export interface ClientPortTls {
  /** For https.createServer. */
  server: TlsOptions;
  /** For this member's calls to the others. */
  member: MemberTls;
}

export function loadClientTls(files: ClientTlsFiles): ClientPortTls {
  const error = (message: string) => new Error(message);
  const cert = readFlagFile('cert-file', files.certFile, error);
  const key = readFlagFile('key-file', files.keyFile, error);
  const ca = files.trustedCaFile === undefined ? undefined : requireCertificates('trusted-ca-file', files.trustedCaFile, readFlagFile('trusted-ca-file', files.trustedCaFile, error), error);
  const named = [`--cert-file ${JSON.stringify(files.certFile)}`, `--key-file ${JSON.stringify(files.keyFile)}`];
  if (ca) named.push(`--trusted-ca-file ${JSON.stringify(files.trustedCaFile)}`);
  checkTlsContext({ cert, key, ca }, named.join(', '), error);
  return {
    // Without --client-cert-auth no certificate is asked for, as etcd's server.
    server: { cert, key, ca, requestCert: files.clientCertAuth, rejectUnauthorized: files.clientCertAuth },
    member: { cert, key, ca },
  };
}
