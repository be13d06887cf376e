// The kvd process: a member (KvMember) served on its client URLs by the etcd JSON gateway, plus
// the member-to-member internal endpoints. bin/kvd.ts only parses flags and calls startKvd().
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { preparePortTls } from './port-tls.js';
import { isTlsUrl, TEST_ONLY_UNSAFE_LOCAL_READS_FLAG, type KvdConfig } from './config.js';
import { createHttpFrontEnd, useFastPath } from './http/index.js';
import { KvMember } from './member/kv-member.js';
import { EtcdError, GrpcCode } from '../util/errors.js';
import { certificateRefusal, guardConnections, verificationRefusal } from '../util/certificate-rule.js';
import { componentLogger, rootLogger } from '../util/log.js';
import { RefusalLog } from '../util/refusal-log.js';
import { HeapGrowth } from '../util/heap-growth.js';
import { MemoryRelief } from '../util/memory-relief.js';

export interface RunningKvd {
  member: KvMember;
  clientAddresses: { host: string; port: number }[];
  stop(): Promise<void>;
}

const INTERNAL_PREFIX = '/flotilla/internal/';

export const UNSAFE_LOCAL_READS_WARNING =
  `kvd: WARNING: --${TEST_ONLY_UNSAFE_LOCAL_READS_FLAG} is set: linearizable reads are served from this member's own copy ` +
  'without ReadIndex and MAY RETURN STALE DATA. This is a deliberately broken server for the cluster tests; never use it in production.';
const MAX_INTERNAL_BODY = 64 * 1024;

/**
 * The answer to a request on a connection whose client certificate --client-cert-allowed-hostname
 * refuses: 403 and the gateway's error body, so that a client knows the request was not served.
 */
function refusedCertificateAnswer(reason: string): string {
  const message = `client certificate refused: ${reason}`;
  const body = JSON.stringify({ error: message, code: GrpcCode.PermissionDenied, message });
  return `HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

export async function startKvd(config: KvdConfig): Promise<RunningKvd> {
  rootLogger.level = config.logLevel;
  const log = componentLogger('kvd', { name: config.name });
  const peer = config.listenPeerUrls[0]!;
  // Before anything starts: a certificate that cannot be used is a start-up error.
  for (const side of config.autoTlsIgnored) log.warn(`kvd: ignoring ${side} auto TLS since certs given`);
  const hostsOf = (urls: (URL | string)[]) => urls.map((u) => new URL(u).hostname);
  const clientIsTls = config.listenClientUrls.some(isTlsUrl);
  const clientTlsFiles = await preparePortTls(config.clientTls, '', clientIsTls, hostsOf([...config.listenClientUrls, ...config.advertiseClientUrls]), log);
  const tls = clientTlsFiles?.current;
  const peerIsTls = isTlsUrl(peer);
  if (config.peerTls && !config.peerTls.selfSigned && !peerIsTls) log.warn({ url: peer.href }, 'kvd: scheme is HTTP while peer key and cert files are present; ignoring peer key and cert files');
  const peerTlsFiles = peerIsTls || config.peerTls?.selfSigned ? await preparePortTls(config.peerTls, 'peer-', peerIsTls, hostsOf([...config.listenPeerUrls, ...config.initialAdvertisePeerUrls]), log) : undefined;
  const member = await KvMember.start({
    name: config.name,
    dataDir: config.dataDir,
    peerListen: { host: peer.hostname, port: Number(peer.port) },
    advertisePeerURLs: config.initialAdvertisePeerUrls,
    advertiseClientURLs: config.advertiseClientUrls,
    initialCluster: config.initialCluster,
    initialClusterState: config.initialClusterState,
    initialClusterToken: config.initialClusterToken,
    heartbeatMs: config.heartbeatMs,
    electionMs: config.electionMs,
    snapshotCount: config.snapshotCount,
    snapshotCatchUpEntries: config.snapshotCatchUpEntries,
    valueCacheBytes: config.valueCacheBytes,
    quotaBackendBytes: config.quotaBackendBytes,
    corruptCheckMs: config.corruptCheckMs,
    initialCorruptCheck: config.initialCorruptCheck,
    walFsyncInPlaceMaxMs: config.walFsyncInPlaceMaxMs,
    logger: log,
    testOnlyUnsafeLocalReads: config.testOnlyUnsafeLocalReads,
    memberTls: tls?.dial,
    peerTls: peerTlsFiles?.current,
  });
  if (config.testOnlyUnsafeLocalReads) {
    // Loud on purpose, whatever the log level: this member breaks linearizability.
    process.stderr.write(`${UNSAFE_LOCAL_READS_WARNING}\n`);
    log.error({ flag: `--${TEST_ONLY_UNSAFE_LOCAL_READS_FLAG}` }, UNSAFE_LOCAL_READS_WARNING);
  }
  const gateway = createHttpFrontEnd(member, { logger: log });
  const servers: http.Server[] = [];
  const refusals = new RefusalLog(log, 'kvd: refused a client certificate');
  const clientAddresses: { host: string; port: number }[] = [];
  try {
    // With --client-cert-auth the handshake lets a certificate it cannot verify through, and the
    // guard answers it with a 403 that says why: under TLS 1.3 the client's request is on its way
    // before the server's verdict, and a bare close (what Node's TLS server does then, with no
    // alert) would leave the client not knowing whether its write was applied.
    const askCertificates = tls?.server.requestCert === true;
    const clientServerOptions = tls && (askCertificates ? { ...tls.server, rejectUnauthorized: false } : tls.server);
    const allowed = tls?.allowed;
    const clientCertificateRefusal = askCertificates
      ? (socket: TLSSocket) => verificationRefusal(socket) ?? (allowed ? certificateRefusal(socket, allowed) : undefined)
      : allowed && ((socket: TLSSocket) => certificateRefusal(socket, allowed));
    for (const url of config.listenClientUrls) {
      const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
        if (req.url?.startsWith(INTERNAL_PREFIX)) void serveInternal(member, req, res);
        else gateway.handle(req, res);
      };
      if (!isTlsUrl(url) && tls && !config.clientTls?.selfSigned) log.warn({ url: url.href }, 'kvd: scheme is HTTP while key and cert files are present; ignoring key and cert files for this URL');
      const server = isTlsUrl(url) ? https.createServer(clientServerOptions!, handler) : http.createServer(handler);
      server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => gateway.handleUpgrade(req, socket, head));
      server.keepAliveTimeout = 65_000;
      useFastPath(server, gateway);
      // After the fast path, so that a refused certificate's connection never reaches it.
      if (server instanceof https.Server && clientCertificateRefusal) {
        guardConnections(server, clientCertificateRefusal, (reason, socket) => refusals.note(reason, `${socket.remoteAddress}:${socket.remotePort}`), refusedCertificateAnswer);
      }
      // Watches keep their request open for as long as the client wants: no request deadline.
      server.requestTimeout = 0;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(Number(url.port), url.hostname.replace(/^\[|\]$/g, ''), () => {
          server.off('error', reject);
          resolve();
        });
      });
      const addr = server.address() as { address: string; port: number };
      clientAddresses.push({ host: addr.address, port: addr.port });
      servers.push(server);
    }
  } catch (err) {
    for (const s of servers) s.close();
    await member.stop();
    throw err;
  }
  log.info({ clientURLs: config.advertiseClientUrls, peerURLs: config.initialAdvertisePeerUrls, dataDir: config.dataDir }, 'kvd: serving');
  // Rotated certificates are taken up without a restart.
  clientTlsFiles?.start((t) => {
    for (const s of servers) if (s instanceof https.Server) s.setSecureContext(t.server);
    member.setMemberTls(t.dial);
  });
  peerTlsFiles?.start((t) => member.node.setPeerTls(t));
  const memoryRelief = new MemoryRelief({ log });
  memoryRelief.start();
  const heapGrowth = new HeapGrowth();
  heapGrowth.start();
  let stopping: Promise<void> | undefined;
  return {
    member,
    clientAddresses,
    stop() {
      stopping ??= (async () => {
        memoryRelief.stop();
        heapGrowth.stop();
        clientTlsFiles?.stop();
        peerTlsFiles?.stop();
        for (const s of servers) {
          s.close();
          s.closeAllConnections();
        }
        await gateway.close();
        await member.stop();
      })();
      return stopping;
    },
  };
}

async function serveInternal(member: KvMember, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  try {
    if (req.method !== 'POST') throw new EtcdError(GrpcCode.InvalidArgument, 'POST only');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_INTERNAL_BODY) throw new EtcdError(GrpcCode.InvalidArgument, 'etcdserver: request is too large');
      chunks.push(c);
    }
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
    const out = await member.serveInternal(req.url!.slice(INTERNAL_PREFIX.length), body);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
  } catch (err) {
    const e = err instanceof EtcdError ? err : new EtcdError(GrpcCode.Unknown, (err as Error).message);
    res.writeHead(e.httpStatus, { 'content-type': 'application/json' }).end(JSON.stringify({ error: e.message, code: e.grpcCode, message: e.message }));
  }
}
