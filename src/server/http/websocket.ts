// Watches (and lease keepalives) over WebSocket, on the same paths as the HTTP streams, as etcd 3.4
// serves them through its websocket proxy: each client message holds WatchRequest JSON (one or more
// values), each server message is one {"result": ...}. A message that does not decode gets an error
// message ({"error","message","code":2}) and the connection is closed with the error as reason
// (etcd drops the connection without a close frame; a reason is more useful to a client).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type * as api from '../../kv/api.js';
import { GrpcCode } from '../../util/errors.js';
import type { WatchSession } from '../service.js';
import { BodyTooLarge, JsonStreamDecoder } from './body.js';
import { DecodeError, decodeLeaseIdRequest, decodeWatchRequest } from './codec/decode.js';
import { encodeError, encodeStreamError, encodeWatchResponse } from './codec/encode.js';
import { errorInfo, tooLargeForGrpc, type Closable, type FrontEndContext } from './context.js';
import { KeepAliveQueue } from './keep-alive-queue.js';

/** Past this many bytes queued on a socket, the producer waits for the queue to drain. */
const HIGH_WATER = 1024 * 1024;

/** Close codes: 1007 for a message that does not decode, 1009 for one too big, 1011 for a server error. */
const CLOSE_BAD_DATA = 1007;
const CLOSE_TOO_BIG = 1009;
const CLOSE_SERVER_ERROR = 1011;

function closeReason(message: string): string {
  // A close reason holds at most 123 bytes.
  let r = message;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

function toText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('latin1');
  if (Array.isArray(data)) return Buffer.concat(data).toString('latin1');
  return Buffer.from(data).toString('latin1');
}

abstract class WsStream implements Closable {
  protected closed = false;

  constructor(
    protected readonly ctx: FrontEndContext,
    protected readonly ws: WebSocket,
    private readonly what: string,
  ) {
    ctx.active.add(this);
    ws.on('message', (data) => this.onRaw(data));
    ws.on('close', () => this.shutdown());
    ws.on('error', (e) => {
      ctx.log.debug({ err: e.message }, `${what} websocket error`);
      this.shutdown();
    });
  }

  protected abstract onMessage(v: import('./codec/json.js').JsonValue): void;
  protected abstract onShutdown(): void;

  private onRaw(data: RawData): void {
    if (this.closed) return;
    const decoder = new JsonStreamDecoder(this.ctx.bodyCap);
    try {
      decoder.push(toText(data));
      for (;;) {
        const v = decoder.next(true);
        if (v === undefined || this.closed) return;
        this.onMessage(v);
      }
    } catch (e) {
      if (e instanceof DecodeError) {
        this.ws.send(encodeError(e.message, GrpcCode.Unknown));
        this.ws.close(CLOSE_BAD_DATA, closeReason(e.message));
        this.shutdown();
      } else if (e instanceof BodyTooLarge) {
        this.fail(tooLargeForGrpc(this.ctx, Math.floor((e.seen * 3) / 4)), CLOSE_TOO_BIG);
      } else {
        this.fail(e);
      }
    }
  }

  protected send(json: string): void | Promise<void> {
    if (this.closed) return;
    const msg = '{"result":' + json + '}';
    if (this.ws.bufferedAmount > HIGH_WATER) {
      return new Promise((resolve) => this.ws.send(msg, () => resolve()));
    }
    this.ws.send(msg);
  }

  /** A service error: a stream error message, then the close. */
  protected fail(e: unknown, closeCode = CLOSE_SERVER_ERROR): void {
    if (this.closed) return;
    const info = errorInfo(this.ctx, e, this.what);
    this.ws.send('{"error":' + encodeStreamError(info.message, info.code, info.status) + '}');
    this.ws.close(closeCode, closeReason(info.message));
    this.shutdown();
  }

  protected shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctx.active.delete(this);
    try {
      this.onShutdown();
    } catch (e) {
      this.ctx.log.warn({ err: e }, `${this.what}: closing failed`);
    }
  }

  close(): void {
    if (this.closed) return;
    this.shutdown();
    this.ws.close(1001, 'server shutting down');
  }
}

class WsWatch extends WsStream {
  private session: WatchSession | null = null;
  private readonly sink = (resp: api.WatchResponse): void | Promise<void> => this.send(encodeWatchResponse(resp));

  constructor(ctx: FrontEndContext, ws: WebSocket) {
    super(ctx, ws, 'watch');
  }

  protected onMessage(v: import('./codec/json.js').JsonValue): void {
    const wr = decodeWatchRequest(v);
    if (wr === null) return;
    try {
      this.session ??= this.ctx.service.openWatch(this.sink);
      this.session.handle(wr);
    } catch (e) {
      this.fail(e);
    }
  }

  protected onShutdown(): void {
    const s = this.session;
    this.session = null;
    s?.close();
  }
}

class WsKeepAlive extends WsStream {
  private readonly queue: KeepAliveQueue;

  constructor(ctx: FrontEndContext, ws: WebSocket) {
    super(ctx, ws, 'lease keepalive');
    this.queue = new KeepAliveQueue(ctx.service, { closed: () => this.closed, write: (json) => this.send(json), fail: (e) => this.fail(e) });
  }

  protected onMessage(v: import('./codec/json.js').JsonValue): void {
    this.queue.push(decodeLeaseIdRequest(v).ID);
  }

  protected onShutdown(): void {
    this.queue.clear();
  }
}

const WS_ROUTES: ReadonlyMap<string, 'watch' | 'keepalive'> = new Map([
  ['/v3/watch', 'watch'],
  ['/v3beta/watch', 'watch'],
  ['/v3/lease/keepalive', 'keepalive'],
  ['/v3beta/lease/keepalive', 'keepalive'],
]);

function rejectUpgrade(socket: Duplex, status: string, text: string): void {
  const body = text + '\n';
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export class WebSocketFrontEnd {
  private readonly wss: WebSocketServer;

  constructor(private readonly ctx: FrontEndContext) {
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      clientTracking: false,
      maxPayload: ctx.bodyCap,
    });
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const kind = WS_ROUTES.get(q < 0 ? url : url.slice(0, q));
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      rejectUpgrade(socket, '400 Bad Request', 'Bad Request');
      return;
    }
    if (kind === undefined) {
      rejectUpgrade(socket, '404 Not Found', 'Not Found');
      return;
    }
    try {
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        if (kind === 'watch') new WsWatch(this.ctx, ws);
        else new WsKeepAlive(this.ctx, ws);
      });
    } catch (e) {
      this.ctx.log.warn({ err: e }, 'websocket upgrade failed');
      socket.destroy();
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}
