// The accepting side of the peer transport: an HTTP server whose only use is the WebSocket upgrade.
// Each upgrade is checked against the cluster id and the membership before it is accepted; each
// accepted connection carries frames from one peer to this node and nothing back.
import http from 'node:http';
import https from 'node:https';
import type { TlsOptions } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { certificateRefusal, guardConnections, type CertificateRule } from '../../util/certificate-rule.js';
import type { Logger } from '../../util/log.js';
import { RefusalLog } from '../../util/refusal-log.js';
import type { Message, NodeId } from '../types.js';
import { PROTOCOL_VERSION, type Codec } from './codec.js';
import { CloseCode, TransportError } from './errors.js';
import { SnapshotAssembler } from './snapshot-chunks.js';

export const HEADER_CLUSTER = 'x-flotilla-cluster';
export const HEADER_FROM = 'x-flotilla-from';
export const HEADER_TO = 'x-flotilla-to';
export const HEADER_PROTO = 'x-flotilla-proto';
export const HEADER_REASON = 'x-flotilla-reason';

/** Parses a positive integer below 2^53 written in decimal; undefined if it is not one. */
export function parseId(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || !/^[1-9][0-9]{0,15}$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

export interface ListenerOptions {
  host: string;
  port: number;
  selfId: NodeId;
  clusterId: number;
  maxFrameBytes: number;
  maxSnapshotBytes: number;
  codec: Codec;
  logger: Logger;
  /** Plain (non-upgrade) HTTP requests on the peer port, e.g. a joining member asking for cluster info. */
  httpHandler?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Serve https (and wss) with these options instead of plain HTTP. */
  tls?: TlsOptions;
  /** With `tls`: what a connecting member's certificate must also be (its CN, or a hostname it is valid for). */
  allowedCertificates?: CertificateRule;
  isMember(id: NodeId): boolean;
  onInboundOpen(conn: InboundConnection): void;
  onInboundClose(conn: InboundConnection): void;
  /** A binary frame of `bytes` bytes arrived from `from` (before it is decoded). */
  onFrame(from: NodeId, bytes: number): void;
  onMessage(m: Message): void;
}

/** One accepted connection: frames from `peerId` to this node. */
export class InboundConnection {
  readonly assembler: SnapshotAssembler;
  closing = false;

  constructor(
    readonly peerId: NodeId,
    readonly ws: WebSocket,
    readonly remote: string,
    maxSnapshotBytes: number,
  ) {
    this.assembler = new SnapshotAssembler(maxSnapshotBytes);
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    // A close reason is limited to 123 bytes: keep it short and ASCII.
    const short = reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
    try {
      this.ws.close(code, short);
    } catch {
      this.ws.terminate();
    }
  }
}

export class PeerListener {
  private readonly server: http.Server | https.Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<Socket>();
  private readonly conns = new Set<InboundConnection>();
  private bound: { host: string; port: number } | undefined;
  private stopped = false;
  private startPending: (() => void) | undefined;
  private readonly refusals: RefusalLog;

  constructor(private readonly opts: ListenerOptions) {
    this.refusals = new RefusalLog(opts.logger, 'refused peer connection');
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      if (this.opts.httpHandler) {
        try {
          this.opts.httpHandler(req, res);
        } catch (err) {
          this.opts.logger.error({ err }, 'peer listener: HTTP handler failed');
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
          res.end();
        }
        return;
      }
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
      res.end('flotilla raft peer listener: WebSocket upgrade required\n');
    };
    this.server = opts.tls ? https.createServer(opts.tls, handler) : http.createServer(handler);
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: opts.maxFrameBytes,
      clientTracking: false,
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    // A member whose certificate this listener refuses (or that does not speak TLS) retries every
    // few seconds: said once a minute per reason, as other refusals.
    this.server.on('tlsClientError', (err: Error, socket: Socket) => {
      this.refusals.note(`TLS handshake failed: ${err.message}`, `${socket.remoteAddress}:${socket.remotePort}`, {});
      socket.destroy();
    });
    const allowed = opts.allowedCertificates;
    if (opts.tls && allowed) {
      guardConnections(this.server as https.Server, (socket) => certificateRefusal(socket, allowed), (reason, socket) => this.refusals.note(`peer certificate refused: ${reason}`, `${socket.remoteAddress}:${socket.remotePort}`, {}));
    }
    this.server.on('clientError', (err, socket) => {
      opts.logger.debug({ err: err.message }, 'bad HTTP request on the peer listener');
      socket.destroy();
    });
  }

  /** The certificate (and authorities) of the next handshakes; connections open keep theirs. */
  setTls(tls: TlsOptions): void {
    if (this.server instanceof https.Server) this.server.setSecureContext(tls);
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.startPending = resolve;
      const onError = (err: Error) => {
        this.startPending = undefined;
        reject(err);
      };
      this.server.once('error', onError);
      this.server.listen({ host: this.opts.host, port: this.opts.port }, () => {
        this.startPending = undefined;
        this.server.off('error', onError);
        if (this.stopped) {
          // stop() was called while binding.
          this.server.close();
          resolve();
          return;
        }
        this.server.on('error', (err) => this.opts.logger.error({ err }, 'peer listener error'));
        const a = this.server.address() as AddressInfo;
        this.bound = { host: a.address, port: a.port };
        resolve();
      });
    });
  }

  address(): { host: string; port: number } {
    if (!this.bound) throw new TransportError('CONFIG', 'the peer listener is not started');
    return { ...this.bound };
  }

  /** Closes every connection from `peerId` (e.g. when it was removed from the membership). */
  closePeer(peerId: NodeId, code: number, reason: string): void {
    for (const c of this.conns) if (c.peerId === peerId) c.close(code, reason);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Closing a server that is still binding cancels the bind and its listen callback: settle start().
    this.startPending?.();
    this.startPending = undefined;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.conns) {
      c.closing = true;
      c.ws.terminate();
    }
    for (const s of this.sockets) s.destroy();
    this.wss.close();
    await closed;
  }

  private refuse(socket: Duplex, remote: string, reason: string, fields: Record<string, unknown>): void {
    this.refusals.note(reason, remote, fields);
    const body = `${reason}\n`;
    socket.on('error', () => {});
    socket.end(
      'HTTP/1.1 403 Forbidden\r\n' +
        'Connection: close\r\n' +
        'Content-Type: text/plain\r\n' +
        `${HEADER_REASON}: ${reason.replace(/[^\x20-\x7e]/g, '?')}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        '\r\n' +
        body,
    );
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const h = req.headers;
    const fields = { cluster: h[HEADER_CLUSTER], from: h[HEADER_FROM], to: h[HEADER_TO] };
    const proto = h[HEADER_PROTO];
    if (proto !== undefined && proto !== String(PROTOCOL_VERSION)) {
      this.refuse(socket, remote, `unsupported protocol version ${String(proto)} (want ${PROTOCOL_VERSION})`, fields);
      return;
    }
    const cluster = parseId(h[HEADER_CLUSTER]);
    if (cluster !== this.opts.clusterId) {
      this.refuse(socket, remote, `foreign cluster id ${String(h[HEADER_CLUSTER])} (this is cluster ${this.opts.clusterId})`, fields);
      return;
    }
    const from = parseId(h[HEADER_FROM]);
    if (from === undefined || from === this.opts.selfId || !this.opts.isMember(from)) {
      this.refuse(socket, remote, `unknown member id ${String(h[HEADER_FROM])}`, fields);
      return;
    }
    const to = parseId(h[HEADER_TO]);
    if (to !== this.opts.selfId) {
      this.refuse(socket, remote, `wrong target id ${String(h[HEADER_TO])} (this is member ${this.opts.selfId})`, fields);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, from, remote));
  }

  private accept(ws: WebSocket, peerId: NodeId, remote: string): void {
    const log = this.opts.logger;
    if (this.stopped || !this.opts.isMember(peerId)) {
      ws.terminate();
      return;
    }
    const conn = new InboundConnection(peerId, ws, remote, this.opts.maxSnapshotBytes);
    // One inbound connection per peer: a new one means the old one is stale (the peer reconnected).
    for (const old of this.conns) {
      if (old.peerId === peerId) old.close(CloseCode.Replaced, 'replaced by a newer connection');
    }
    this.conns.add(conn);
    log.debug({ peer: peerId, remote }, 'accepted peer connection');
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onFrame(conn, data, isBinary));
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        log.warn({ peer: peerId, remote, limit: this.opts.maxFrameBytes }, 'refused a frame larger than maxFrameBytes; closing the connection');
      } else {
        log.warn({ peer: peerId, remote, err: err.message, code: err.code }, 'peer connection error');
      }
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.conns.delete(conn);
      log.debug({ peer: peerId, remote, code, reason: reason.toString() }, 'inbound peer connection closed');
      this.opts.onInboundClose(conn);
    });
    this.opts.onInboundOpen(conn);
  }

  private onFrame(conn: InboundConnection, data: Buffer, isBinary: boolean): void {
    if (conn.closing) return;
    const log = this.opts.logger;
    if (!isBinary) {
      log.warn({ peer: conn.peerId, remote: conn.remote }, 'text frame on a peer connection; closing it');
      conn.close(CloseCode.InvalidPayload, 'text frames are not part of the protocol');
      return;
    }
    this.opts.onFrame(conn.peerId, data.length);
    let frame;
    try {
      frame = this.opts.codec.decode(data);
    } catch (err) {
      log.warn(
        { peer: conn.peerId, remote: conn.remote, bytes: data.length, err: (err as Error).message },
        'undecodable frame from peer; closing the connection',
      );
      conn.close(CloseCode.InvalidPayload, `undecodable frame: ${(err as Error).message}`);
      return;
    }
    if (frame.kind === 'batch') {
      if (frame.invalid > 0) {
        log.warn({ peer: conn.peerId, count: frame.invalid }, 'dropped messages of an unknown type');
      }
      for (const m of frame.messages) this.deliver(conn, m);
      return;
    }
    let m: Message | undefined;
    try {
      m = conn.assembler.accept(frame.header, frame.data);
    } catch (err) {
      const e = err as TransportError;
      log.warn({ peer: conn.peerId, remote: conn.remote, err: e.message }, 'bad snapshot chunk; closing the connection');
      conn.close(e.code === 'TOO_LARGE' ? CloseCode.TooBig : CloseCode.PolicyViolation, e.message);
      return;
    }
    if (m) this.deliver(conn, m);
  }

  private deliver(conn: InboundConnection, m: Message): void {
    if (m.from !== conn.peerId || m.to !== this.opts.selfId) {
      this.opts.logger.warn(
        { peer: conn.peerId, from: m.from, to: m.to, type: m.type },
        'dropped a message whose from/to does not match the connection',
      );
      return;
    }
    try {
      this.opts.onMessage(m);
    } catch (err) {
      this.opts.logger.error({ err, peer: conn.peerId, type: m.type }, 'onMessage threw');
    }
  }
}
