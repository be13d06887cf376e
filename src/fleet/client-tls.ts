// fleet's --ca-file, --cert-file and --key-file (fleetd's and fleetctl's alike) as the kv client's
// TLS settings, read and checked when the program starts (util/tls-files.ts).
import type { ClientTls } from '../client/index.js';
import { checkTlsContext, readFlagFile, requireCertificates } from '../util/tls-files.js';

/** The flags' values: paths, '' for a flag not given. */
export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** The client's TLS from the files, or undefined when none is given; a bad one throws `error(message)`. */
export function readClientTls(files: TlsFiles, error: (message: string) => Error): ClientTls | undefined {
  const { caFile, certFile, keyFile } = files;
  if ((certFile === '') !== (keyFile === '')) {
    const [given, missing] = certFile !== '' ? ['cert-file', 'key-file'] : ['key-file', 'cert-file'];
    throw error(`--${given} needs --${missing}: a client certificate and its key go together`);
  }
  if (caFile === '' && certFile === '') return undefined;
  const read = (flag: string, path: string): Buffer => readFlagFile(flag, path, error);
  const tls: ClientTls = {};
  if (caFile !== '') {
    tls.ca = requireCertificates('ca-file', caFile, read('ca-file', caFile), error);
  }
  if (certFile !== '') {
    const cert = read('cert-file', certFile);
    const key = read('key-file', keyFile);
    checkTlsContext({ cert, key }, `--cert-file ${JSON.stringify(certFile)}, --key-file ${JSON.stringify(keyFile)}: not a PEM certificate and its key`, error);
    tls.cert = cert;
    tls.key = key;
  }
  return tls;
}
