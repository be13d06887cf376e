// Reading the PEM files of the TLS flags (kvd's --cert-file, fleet's --ca-file, ...): read once
// when the program starts and checked there, so that a wrong path or a key that is not the
// certificate's is one message naming the flag, not a member that seems unreachable later.
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/** "no such file or directory" from Node's "ENOENT: no such file or directory, open '/x'" (the caller names the path). */
export function fileErrorReason(e: unknown): string {
  return (e as Error).message.replace(/^[A-Z]+: /, '').replace(/, \w+(?: '.*')?$/, '');
}

/** The file of --`flag`; an unreadable one throws `error('--flag: cannot read "path": reason')`. */
export function readFlagFile(flag: string, path: string, error: (message: string) => Error): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw error(`--${flag}: cannot read ${JSON.stringify(path)}: ${fileErrorReason(e)}`);
  }
}

/**
 * Throws `error('<files>: reason')` when Node cannot make a TLS context of `options` (a file that
 * is not PEM, a key that is not the certificate's); `files` names them for the message.
 */
export function checkTlsContext(options: SecureContextOptions, files: string, error: (message: string) => Error): void {
  try {
    createSecureContext(options);
  } catch (e) {
    throw error(`${files}: ${(e as Error).message}`);
  }
}

/**
 * A CA bundle with no certificate in it: Node takes one silently and then trusts nothing, so it
 * is refused here (`error('--flag: "path" holds no PEM certificate')`).
 */
export function requireCertificates(flag: string, path: string, pem: Buffer, error: (message: string) => Error): Buffer {
  return requirePemBlock('CERTIFICATE', 'PEM certificate', flag, path, pem, error);
}

/** A revocation list file with no PEM CRL in it is refused, as a CA bundle without a certificate is. */
export function requireCrl(flag: string, path: string, pem: Buffer, error: (message: string) => Error): Buffer {
  return requirePemBlock('X509 CRL', 'PEM certificate revocation list', flag, path, pem, error);
}

function requirePemBlock(label: string, what: string, flag: string, path: string, pem: Buffer, error: (message: string) => Error): Buffer {
  if (!pem.toString('latin1').includes(`-----BEGIN ${label}-----`)) throw error(`--${flag}: ${JSON.stringify(path)} holds no ${what}`);
  return pem;
}
