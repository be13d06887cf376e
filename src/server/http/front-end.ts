// kvd's HTTP front end: etcd v3's JSON gateway (as etcd 3.4 serves it, byte for byte), the
// WebSocket watch, and /health, /version, /metrics. A thin adapter over KvService: it decodes,
// calls, encodes, and maps errors; the service fills every response header.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { posix } from 'node:path';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { MAX_REQUEST_BYTES } from '../../kv/api.js';
import { Errors, GrpcCode } from '../../util/errors.js';
import { componentLogger, type Logger } from '../../util/log.js';
import type { KvService } from '../service.js';
import { BodyTooLarge, parseUnaryBody, readBody } from './body.js';
import { DecodeError } from './codec/decode.js';
import { goString } from './codec/encode.js';
import { raftEntrySize } from './codec/proto-size.js';
import { errorInfo, tooLargeForGrpc, type FrontEndContext } from './context.js';
import { FastConnection, type UnaryServe } from './fast-connection.js';
import {
  CORS,
  sendDecodeError,
  sendMethodNotAllowed,
  sendNotFoundGateway,
  sendNotFoundMux,
  sendOk,
  sendPlain,
  sendRedirect,
  sendRpcError,
  type ResponseSink,
} from './responses.js';
import { ROUTES, type UnaryRoute } from './routes.js';
import { HttpKeepAliveStream, HttpWatchStream, serveSnapshot } from './streams.js';
import { WebSocketFrontEnd } from './websocket.js';

export interface HttpFrontEndOptions {
  logger?: Logger;
  /** etcd's --max-request-bytes (default 1.5 MiB): a write whose Raft entry is larger gets 400/3 "request is too large". */
  maxRequestBytes?: number;
  /** gRPC's receive limit (default maxRequestBytes + 512 KiB = 2 MiB): a larger request message gets 429/8. */
  maxBodyBytes?: number;
}

export interface HttpFrontEnd {
  /** The request handler for an http.Server ('request' event). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** The handler for the server's 'upgrade' event (WebSocket watch and keepalive). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /**
   * Serves a new connection: unary calls on the fast path (fast-connection.ts) until a request of
   * another kind, then `handOver` gives the socket, with the bytes read, to Node's server.
   */
  serveConnection(socket: Socket, handOver: (socket: Socket, buffered: Buffer | null) => void, keepAliveMs: number, headersTimeoutMs?: number): void;
  /** Ends every open stream, WebSocket and fast connection. */
  close(): Promise<void>;
}

/** etcd adds gRPC's per-message overhead allowance to --max-request-bytes for gRPC's receive limit. */
const GRPC_OVERHEAD_BYTES = 512 * 1024;

export function createHttpFrontEnd(service: KvService, opts: HttpFrontEndOptions = {}): HttpFrontEnd {
  const maxRequestBytes = opts.maxRequestBytes ?? MAX_REQUEST_BYTES;
  const maxBodyBytes = opts.maxBodyBytes ?? maxRequestBytes + GRPC_OVERHEAD_BYTES;
  const ctx: FrontEndContext = {
    service,
    log: opts.logger ?? componentLogger('http'),
    maxRequestBytes,
    maxBodyBytes,
    // JSON holds bytes as base64 (4/3) plus names and quotes: twice the message limit is room
    // enough for any request gRPC would take, and bounds what one request may make us buffer.
    bodyCap: maxBodyBytes * 2 + 64 * 1024,
    active: new Set(),
  };
  const ws = new WebSocketFrontEnd(ctx);
  let closing = false;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    try {
      route(ctx, req, res);
    } catch (e) {
      // A bug, not bad input: answer 500 and keep serving.
      const info = errorInfo(ctx, e, 'http');
      if (!res.headersSent) sendRpcError(res, info.message, info.code, info.status);
      else res.destroy();
    }
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (closing) {
      socket.destroy();
      return;
    }
    ws.handleUpgrade(req, socket, head);
  }

  const fast = new Set<FastConnection>();
  let sweeper: NodeJS.Timeout | null = null;
  // Node closes a keep-alive connection idle for keepAliveTimeout and one whose request head is
  // late; so does the fast path, in one timer for all its connections (a per-socket timer costs a
  // re-arm on every read).
  const sweep = (): void => {
    const now = performance.now();
    for (const c of fast) if (c.expired(now)) c.close();
    if (fast.size === 0 && sweeper !== null) {
      clearInterval(sweeper);
      sweeper = null;
    }
  };

  function serveConnection(
    socket: Socket,
    handOver: (socket: Socket, buffered: Buffer | null) => void,
    keepAliveMs: number,
    headersTimeoutMs = 60_000,
  ): void {
    if (closing) {
      socket.destroy();
      return;
    }
    const c = new FastConnection(socket, {
      find: (path) => fastUnary(ctx, path),
      handOver,
      bodyCap: ctx.bodyCap,
      keepAliveMs,
      headersTimeoutMs,
      onGone: (gone) => {
        fast.delete(gone);
        ctx.active.delete(gone);
      },
    });
    fast.add(c);
    ctx.active.add(c);
    if (sweeper === null && (keepAliveMs > 0 || headersTimeoutMs > 0)) {
      sweeper = setInterval(sweep, Math.min(1000, keepAliveMs || 1000, headersTimeoutMs || 1000));
      sweeper.unref();
    }
  }

  async function close(): Promise<void> {
    closing = true;
    if (sweeper !== null) clearInterval(sweeper);
    sweeper = null;
    for (const s of [...ctx.active]) s.close();
    await ws.close();
  }

  return { handle, handleUpgrade, serveConnection, close };
}

/** The path as Go's ServeMux sees it: percent-decoded; null when it does not decode. */
function decodePath(path: string): string | null {
  if (path.indexOf('%') < 0) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return null;
  }
}

/** Go's ServeMux cleanPath: ".", ".." and "//" resolved, a trailing slash kept. */
function needsCleaning(p: string): boolean {
  return p.includes('//') || p.includes('/./') || p.includes('/../') || p.endsWith('/.') || p.endsWith('/..');
}

/** The gateway route of a clean `/v3/...` or `/v3beta/...` path (`/kv/range`), else null. */
function gatewayPath(path: string): string | null {
  if (needsCleaning(path)) return null;
  if (path.startsWith('/v3/')) return path.slice(3);
  if (path.startsWith('/v3beta/')) return path.slice(7);
  return null;
}

function route(ctx: FrontEndContext, req: IncomingMessage, res: ServerResponse): void {
  const method = req.method ?? 'GET';
  // etcd's CORS handler answers every OPTIONS request itself.
  if (method === 'OPTIONS') {
    res.writeHead(200, [...CORS, 'Content-Length', '0']);
    res.end();
    req.resume();
    return;
  }
  let url = req.url ?? '/';
  if (url.charCodeAt(0) !== 47 /* / */) {
    // The absolute form (from proxies): Go routes it by its path.
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(url);
    if (m) url = url.slice(m[0].length) || '/';
  }
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const path = decodePath(rawPath);
  if (path === null || path.charCodeAt(0) !== 47 /* / */) {
    req.resume();
    sendPlain(res, 400, 'Bad Request');
    return;
  }

  const rest = gatewayPath(path);
  if (rest !== null) {
    const r = ROUTES.get(rest);
    if (r === undefined) {
      req.resume();
      sendNotFoundGateway(res);
      return;
    }
    if (method !== 'POST') {
      req.resume();
      sendMethodNotAllowed(res);
      return;
    }
    switch (r.kind) {
      case 'unary':
        serveUnary(ctx, r, rest.slice(1), req, res);
        return;
      case 'watch':
        new HttpWatchStream(ctx, req, res);
        return;
      case 'keepalive':
        new HttpKeepAliveStream(ctx, req, res);
        return;
      case 'snapshot':
        serveSnapshot(ctx, req, res);
        return;
    }
  }

  req.resume();
  if (needsCleaning(path)) {
    let clean = posix.normalize(path);
    if (clean.length > 1 && clean.endsWith('/') && !path.endsWith('/')) clean = clean.slice(0, -1);
    sendRedirect(res, method, clean + (q < 0 ? '' : url.slice(q)));
    return;
  }
  switch (path) {
    case '/health':
      serveHealth(ctx, method, res);
      return;
    case '/version':
      serveVersion(ctx, method, res);
      return;
    case '/metrics':
      serveMetrics(ctx, res);
      return;
    case '/v3':
      sendRedirect(res, method, '/v3/' + (q < 0 ? '' : url.slice(q)));
      return;
  }
  sendNotFoundMux(res);
}

// ---- unary calls ------------------------------------------------------------------------------

/** `method` is the route without its version prefix (`kv/put`), for the request metrics. */
function serveUnary(ctx: FrontEndContext, r: UnaryRoute, method: string, req: IncomingMessage, res: ServerResponse): void {
  const start = performance.now();
  readBody(req, ctx.bodyCap, (err, text) => {
    if (err) {
      if (err instanceof BodyTooLarge) {
        // Too big to buffer: gRPC would refuse it; the size is estimated from the bytes seen.
        const e = tooLargeForGrpc(ctx, Math.floor((err.seen * 3) / 4));
        sendRpcError(res, e.message, e.grpcCode, 429, true);
        ctx.service.observeRequest?.(method, e.grpcCode, (performance.now() - start) / 1000);
      }
      return;
    }
    answerUnary(ctx, r, method, text as string, res, start);
  });
}

/** Decodes a whole unary body, calls the service, answers. `start` is when the request arrived. */
function answerUnary(ctx: FrontEndContext, r: UnaryRoute, method: string, text: string, res: ResponseSink, start: number): void {
  const done = (code: number) => ctx.service.observeRequest?.(method, code, (performance.now() - start) / 1000);
  let request: unknown;
  try {
    request = r.decode(parseUnaryBody(text));
  } catch (e) {
    if (e instanceof DecodeError) {
      sendDecodeError(res, e.message, GrpcCode.InvalidArgument, 400);
      done(GrpcCode.InvalidArgument);
      return;
    }
    const info = errorInfo(ctx, e, 'decode');
    sendRpcError(res, info.message, info.code, info.status);
    done(info.code);
    return;
  }
  let pending: Promise<unknown>;
  try {
    if (r.size !== undefined) checkSize(ctx, r, request);
    r.precheck?.(request);
    pending = r.call(ctx.service, request);
  } catch (e) {
    done(replyError(ctx, res, e));
    return;
  }
  pending.then(
    (resp) => {
      let body: string;
      try {
        body = r.encode(resp);
      } catch (e) {
        done(replyError(ctx, res, e));
        return;
      }
      sendOk(res, body);
      done(GrpcCode.OK);
    },
    (e: unknown) => done(replyError(ctx, res, e)),
  );
}

/** The unary route a fast connection may serve at `path` (see fast-connection.ts), if any. */
function fastUnary(ctx: FrontEndContext, path: string): UnaryServe | undefined {
  const rest = gatewayPath(path);
  if (rest === null) return undefined;
  const r = ROUTES.get(rest);
  if (r === undefined || r.kind !== 'unary') return undefined;
  const method = rest.slice(1);
  return (body, res) => answerUnary(ctx, r, method, body, res, performance.now());
}

/** gRPC's message limit, then etcd's Raft entry limit (after etcd's own request checks). */
function checkSize(ctx: FrontEndContext, r: UnaryRoute, request: unknown): void {
  const size = (r.size as (req: unknown) => number)(request);
  if (size > ctx.maxBodyBytes) throw tooLargeForGrpc(ctx, size);
  if (r.raft !== undefined && r.raft(request) && raftEntrySize(size) > ctx.maxRequestBytes) {
    r.check?.(request);
    throw Errors.requestTooLarge();
  }
}

/** Sends the error's answer; returns its gRPC code. */
function replyError(ctx: FrontEndContext, res: ResponseSink, e: unknown): number {
  const info = errorInfo(ctx, e, 'rpc');
  if (!res.headersSent && !res.destroyed) sendRpcError(res, info.message, info.code, info.status);
  return info.code;
}

// ---- /health, /version, /metrics --------------------------------------------------------------

function serveHealth(ctx: FrontEndContext, method: string, res: ServerResponse): void {
  if (method !== 'GET') {
    sendMethodNotAllowed(res, true);
    return;
  }
  ctx.service.health().then(
    (h) => {
      if (h.health) {
        const body = '{"health":"true"}';
        res.writeHead(200, [...CORS, 'Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(body.length)]);
        res.end(body);
        return;
      }
      ctx.log.warn({ reason: h.reason }, '/health error (status code 503)');
      sendPlain(res, 503, '{"health":"false"}');
    },
    (e: unknown) => {
      ctx.log.warn({ err: e }, '/health error (status code 503)');
      sendPlain(res, 503, '{"health":"false"}');
    },
  );
}

function serveVersion(ctx: FrontEndContext, method: string, res: ServerResponse): void {
  if (method !== 'GET') {
    sendMethodNotAllowed(res, true);
    return;
  }
  let body: string;
  try {
    const v = ctx.service.version();
    body = '{"etcdserver":' + goString(v.etcdserver) + ',"etcdcluster":' + goString(v.etcdcluster) + '}';
  } catch (e) {
    const info = errorInfo(ctx, e, '/version');
    sendPlain(res, 500, info.message);
    return;
  }
  res.writeHead(200, [...CORS, 'Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(body))]);
  res.end(body);
}

function serveMetrics(ctx: FrontEndContext, res: ServerResponse): void {
  ctx.service.metrics().then(
    (m) => {
      res.writeHead(200, [...CORS, 'Content-Type', m.contentType, 'Content-Length', String(Buffer.byteLength(m.body))]);
      res.end(m.body);
    },
    (e: unknown) => {
      const info = errorInfo(ctx, e, '/metrics');
      sendPlain(res, 500, 'An error has occurred while serving metrics:\n\n' + info.message);
    },
  );
}
