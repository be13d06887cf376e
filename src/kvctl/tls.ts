// etcdctl's TLS flags made into the client's TLS settings: any of --cacert, --cert, --key turns
// TLS on (and makes endpoints without a scheme https://), as do --insecure-transport=false
// (the system's authorities then) and --insecure-skip-tls-verify (any member certificate
// accepted). A file that cannot be read fails as etcdctl's does.
import { readFileSync } from 'node:fs';
import type { ClientTls } from '../client/index.js';
import { fileErrorReason } from '../util/tls-files.js';
import { badArgs } from './errors.js';
import type { Flags } from './flags.js';

/** The flag names of one set (the global ones, or make-mirror's --dest-* ones). */
export interface TlsFlagNames {
  cacert: string;
  cert: string;
  key: string;
  insecureTransport: string;
  insecureSkipVerify?: string;
}

export const GLOBAL_TLS_FLAGS: TlsFlagNames = {
  cacert: 'cacert',
  cert: 'cert',
  key: 'key',
  insecureTransport: 'insecure-transport',
  insecureSkipVerify: 'insecure-skip-tls-verify',
};

/** etcdctl's error for a file it cannot read is Go's: `open <path>: <reason>`. */
function readPem(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    // Node and Go word most reasons alike; a directory is Go's "is a directory".
    const reason = (err as NodeJS.ErrnoException).code === 'EISDIR' ? 'is a directory' : fileErrorReason(err);
    throw badArgs(`open ${path}: ${reason}`);
  }
}

export function tlsFromFlags(f: Flags, names: TlsFlagNames): ClientTls | undefined {
  const [cacert, cert, key] = [f.string(names.cacert), f.string(names.cert), f.string(names.key)];
  let tls: ClientTls | undefined;
  if (cacert !== '' || cert !== '' || key !== '') {
    if ((cert === '') !== (key === '')) throw badArgs(`--${names.cert} and --${names.key} must be given together`);
    tls = {
      ca: cacert === '' ? undefined : readPem(cacert),
      cert: cert === '' ? undefined : readPem(cert),
      key: key === '' ? undefined : readPem(key),
    };
  } else if (!f.bool(names.insecureTransport) || (names.insecureSkipVerify && f.bool(names.insecureSkipVerify))) {
    // etcdctl ignores --insecure-skip-tls-verify unless TLS is on some other way; asking to skip
    // the verification of certificates is asking for TLS.
    tls = {};
  }
  if (tls && names.insecureSkipVerify && f.bool(names.insecureSkipVerify)) tls.insecureSkipVerify = true;
  return tls;
}
