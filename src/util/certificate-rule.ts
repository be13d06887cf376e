// Who may connect beyond what the handshake itself checks: etcd's --peer-cert-allowed-cn,
// --peer-cert-allowed-hostname and --client-cert-allowed-hostname, and on the client port the
// handshake's own verdict on the client's certificate too. Node's TLS server has no hook inside
// the handshake for such a check (Go's VerifyPeerCertificate), so it runs on the finished
// handshake, before the connection is handed to the server's HTTP (or WebSocket) handling: a
// refused connection is closed (after a fixed answer, when the caller gives one) without any
// request on it being read.
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate, type Server, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';

/** The certificate's subject CN must be `cn`, or the certificate must be valid for `hostname`. */
export type CertificateRule = { cn: string } | { hostname: string };

/** Why `rule` refuses the certificate the other end presented, or undefined when it passes. */
export function certificateRefusal(socket: TLSSocket, rule: CertificateRule): string | undefined {
  const cert = socket.getPeerX509Certificate();
  if (!cert) return 'no client certificate';
  return ruleRefusal(cert, socket.getPeerCertificate().subject?.CN, rule);
}

/** Why `rule` refuses `cert`, whose subject CN (or CNs) is `cns`. */
function ruleRefusal(cert: X509Certificate, cns: string | string[] | undefined, rule: CertificateRule): string | undefined {
  if ('cn' in rule) {
    // Go's CommonName is the subject's last CN.
    const cn = Array.isArray(cns) ? cns[cns.length - 1] : cns;
    return cn === rule.cn ? undefined : `the certificate's CN ${JSON.stringify(cn ?? '')} is not the allowed ${JSON.stringify(rule.cn)}`;
  }
  // As Go's VerifyHostname since Go 1.15: the subject alternative names only, never the CN.
  const valid = isIP(rule.hostname) !== 0 ? cert.checkIP(rule.hostname) : cert.checkHost(rule.hostname, { subject: 'never' });
  return valid !== undefined ? undefined : `the certificate is not valid for the allowed hostname ${JSON.stringify(rule.hostname)}`;
}

/** The error a dialing member's handshake fails with when `allowedServerIdentity` refuses the certificate. */
export const PEER_CERTIFICATE_REFUSED = 'ERR_PEER_CERTIFICATE_REFUSED';

/**
 * A `checkServerIdentity` for the dialing side of a peer connection: the usual check that the
 * certificate is valid for the name dialed, then `rule`. etcd checks its allowed CN or hostname on
 * both sides of a peer connection (one TLS config serves its listener and its dials); on this side
 * Node has the hook inside the handshake, so a refused member is never written to.
 */
export function allowedServerIdentity(rule: CertificateRule): (host: string, cert: PeerCertificate) => Error | undefined {
  return (host, cert) => {
    const usual = checkServerIdentity(host, cert);
    if (usual) return usual;
    const reason = ruleRefusal(new X509Certificate(cert.raw), cert.subject?.CN, rule);
    if (reason === undefined) return undefined;
    return Object.assign(new Error(`peer certificate refused: ${reason}`), { code: PEER_CERTIFICATE_REFUSED });
  };
}

/** What the handshake's OpenSSL reports about a certificate it could not verify, in words. */
const VERIFY_ERRORS: Record<string, string> = {
  CERT_REVOKED: 'the certificate is revoked',
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet',
  UNABLE_TO_GET_ISSUER_CERT: 'the certificate is not signed by a trusted authority',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the certificate is not signed by a trusted authority',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the certificate is not signed by a trusted authority',
  SELF_SIGNED_CERT_IN_CHAIN: 'the certificate is not signed by a trusted authority',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the certificate is not signed by a trusted authority',
  CERT_SIGNATURE_FAILURE: 'the certificate is not signed by a trusted authority',
  UNABLE_TO_GET_CRL: "there is no revocation list for the certificate's authority",
  INVALID_PURPOSE: 'the certificate is not for client use',
};

/**
 * Why the handshake's own check refused the certificate the other end presented (of a server
 * started with `requestCert: true, rejectUnauthorized: false`, which leaves the verdict to this
 * check), or undefined when it passed.
 */
export function verificationRefusal(socket: TLSSocket): string | undefined {
  if (socket.authorized) return undefined;
  if (!socket.getPeerX509Certificate()) return 'no client certificate';
  // Node's type says Error; at run time it is OpenSSL's code as a string.
  const error = socket.authorizationError as unknown;
  const code = typeof error === 'string' ? error : String((error as { code?: string } | undefined)?.code ?? error);
  return `${VERIFY_ERRORS[code] ?? 'the certificate failed verification'} (${code})`;
}

/**
 * Puts `refusal` in front of the server's own handling of each finished handshake: a connection
 * it gives a reason against is reported to `onRefused` and closed, after `answer(reason)` is
 * written to it when given (for HTTP, an answer saying the request was refused: under TLS 1.3 the
 * client has sent its request by then, and a bare close would leave it not knowing whether the
 * request was served); the others go on as before. Call it after everything else that handles
 * 'secureConnection' is in place.
 */
export function guardConnections(
  server: Server,
  refusal: (socket: TLSSocket) => string | undefined,
  onRefused: (reason: string, socket: TLSSocket) => void,
  answer?: (reason: string) => string,
): void {
  const handlers = server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (socket: TLSSocket) => {
    const reason = refusal(socket);
    if (reason === undefined) {
      for (const h of handlers) h.call(server, socket);
      return;
    }
    onRefused(reason, socket);
    if (answer === undefined) {
      socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    // What the client sends is read and dropped, so that the close completes; a client that
    // never closes its side is cut off.
    socket.resume();
    socket.setTimeout(ANSWERED_CLOSE_MS, () => socket.destroy());
    socket.end(answer(reason));
  });
}

const ANSWERED_CLOSE_MS = 5000;
