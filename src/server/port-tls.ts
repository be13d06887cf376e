// A port's TLS, the client port's (etcd's --cert-file, --key-file, --trusted-ca-file,
// --client-cert-auth, --client-crl-file) or the peer port's (the same with --peer-): the files read
// and checked once at start (util/tls-files.ts), then the options of the port's server and of this
// member's own connections to the other members' ports of that kind, where it presents the same
// certificate. --cipher-suites goes to both.
import { statSync } from 'node:fs';
import type { TlsOptions } from 'node:tls';
import type { TlsFiles } from './config.js';
import { allowedServerIdentity, type CertificateRule } from '../util/certificate-rule.js';
import type { MemberTls } from './member/internal-client.js';
import { checkTlsContext, readFlagFile, requireCertificates, requireCrl } from '../util/tls-files.js';
import type { Logger } from '../util/log.js';

export interface PortTls {
  /** For the port's https server. */
  server: TlsOptions;
  /** For this member's connections to the other members' ports. */
  dial: MemberTls;
  /** What the certificate of one who connects must also be (--client-cert-allowed-hostname, --peer-cert-allowed-cn, --peer-cert-allowed-hostname). */
  allowed?: CertificateRule;
}

/** The port a flag prefix names, as the logs and the --client-/--peer- flags say it. */
function sideOf(prefix: '' | 'peer-'): 'client' | 'peer' {
  return prefix === '' ? 'client' : 'peer';
}

/** `prefix`: '' for the client port's flags, 'peer-' for the peer port's. */
export function loadPortTls(files: TlsFiles, prefix: '' | 'peer-'): PortTls {
  const error = (message: string) => new Error(message);
  const cert = readFlagFile(`${prefix}cert-file`, files.certFile, error);
  const key = readFlagFile(`${prefix}key-file`, files.keyFile, error);
  const ca = files.trustedCaFile === undefined ? undefined : requireCertificates(`${prefix}trusted-ca-file`, files.trustedCaFile, readFlagFile(`${prefix}trusted-ca-file`, files.trustedCaFile, error), error);
  const crlFlag = `${sideOf(prefix)}-crl-file`;
  const crl = files.crlFile === undefined ? undefined : requireCrl(crlFlag, files.crlFile, readFlagFile(crlFlag, files.crlFile, error), error);
  const named = [`--${prefix}cert-file ${JSON.stringify(files.certFile)}`, `--${prefix}key-file ${JSON.stringify(files.keyFile)}`];
  if (ca) named.push(`--${prefix}trusted-ca-file ${JSON.stringify(files.trustedCaFile)}`);
  if (crl) named.push(`--${crlFlag} ${JSON.stringify(files.crlFile)}`);
  const ciphers = files.ciphers;
  checkTlsContext({ cert, key, ca, crl, ciphers }, named.join(', '), error);
  return {
    // Without --client-cert-auth no certificate is asked for, as etcd's server. With a revocation
    // list OpenSSL checks every certificate of the chain against it in the handshake.
    server: { cert, key, ca, crl, ciphers, requestCert: files.clientCertAuth, rejectUnauthorized: files.clientCertAuth },
    // A self-signed certificate proves nothing, so the members do not check each other's (as etcd
    // with --auto-tls): the connection is encrypted, not authenticated.
    // The peer port's allowed CN or hostname binds the members this one dials too, as etcd's;
    // the client port's binds clients only (the members' own calls to client URLs reach members).
    dial: files.selfSigned
      ? { cert, key, ciphers, rejectUnauthorized: false }
      : { cert, key, ca, ciphers, ...(prefix === 'peer-' && files.allowed ? { checkServerIdentity: allowedServerIdentity(files.allowed) } : {}) },
    allowed: files.allowed,
  };
}

/**
 * The port's TLS, ready to watch: for --auto-tls (--peer-auto-tls) the certificate is made first,
 * once, in the data directory, valid for `hosts`, unless no URL of the port is https:// (said in
 * the log: there is nothing to encrypt).
 */
export async function preparePortTls(files: TlsFiles | undefined, prefix: '' | 'peer-', usedByUrls: boolean, hosts: string[], log: Logger): Promise<WatchedPortTls | undefined> {
  if (files?.selfSigned) {
    if (!usedByUrls) {
      log.warn(`kvd: --${prefix}auto-tls is set but no ${sideOf(prefix)} URL is https://; no certificate is made`);
      return undefined;
    }
    // Loaded only here: the X.509 library costs every start of kvd 0.3 s of CPU to load (40% of
    // its start), and only --auto-tls needs it.
    const { ensureSelfSignedPair } = await import('./self-signed.js');
    const outcome = await ensureSelfSignedPair(files.certFile, files.keyFile, hosts);
    log.info({ certFile: files.certFile, hosts }, `kvd: ${outcome === 'made' ? 'made a self-signed' : 'using the self-signed'} ${sideOf(prefix)} TLS certificate (--${prefix}auto-tls)`);
  }
  return files ? new WatchedPortTls(files, prefix, log) : undefined;
}

/** How often the files are looked at for a new certificate or revocation list. */
export const TLS_FILES_CHECK_MS = 5000;

/**
 * A port's TLS files, watched for a replaced certificate (a rotation) or revocation list: every
 * TLS_FILES_CHECK_MS their sizes and modification times are compared with those last loaded, and on
 * a change the files are loaded again and `onChange` gets the result, for the port's server (its
 * next handshakes) and for this member's next connections to the others. etcd reloads its
 * certificate and its revocation list on each new connection; this is the same without reading
 * files per handshake. Files that do not load (a rotation half done: a new certificate, the old
 * key) leave the settings as they were, said once in the log; they are tried again on the next
 * change.
 */
export class WatchedPortTls {
  private tls: PortTls;
  private stamp: string;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly files: TlsFiles,
    private readonly prefix: '' | 'peer-',
    private readonly log: Logger,
  ) {
    this.stamp = this.fileStamp();
    this.tls = loadPortTls(files, prefix);
  }

  get current(): PortTls {
    return this.tls;
  }

  start(onChange: (tls: PortTls) => void, intervalMs = TLS_FILES_CHECK_MS): void {
    this.timer = setInterval(() => this.check(onChange), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Loads the files again if they changed since the last look. */
  check(onChange: (tls: PortTls) => void): void {
    const stamp = this.fileStamp();
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    try {
      this.tls = loadPortTls(this.files, this.prefix);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, `kvd: the ${sideOf(this.prefix)} TLS files changed but do not load; still using the previous certificate`);
      return;
    }
    this.log.info({ certFile: this.files.certFile }, `kvd: reloaded the ${sideOf(this.prefix)} TLS files`);
    onChange(this.tls);
  }

  private fileStamp(): string {
    const paths = [this.files.certFile, this.files.keyFile, this.files.trustedCaFile, this.files.crlFile];
    return paths
      .map((p) => {
        if (p === undefined) return '';
        try {
          const s = statSync(p);
          return `${s.size}:${s.mtimeMs}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
  }
}
