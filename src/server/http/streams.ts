// The gateway's streams over plain HTTP: /v3/watch and /v3/lease/keepalive (a request body of JSON
// messages, newline-delimited {"result": ...} back) and /v3/maintenance/snapshot.
//
// As in etcd 3.4 (grpc-gateway v1): the response headers go out with the first message; a first
// message that does not decode is an ordinary error response with code 2 (HTTP 500); a later one
// only stops the reading of requests. A watch outlives the end of its request body; a keepalive
// stream ends when its requests are all answered. An error from the service mid-stream is a
// {"error": {...}} message (grpc-gateway's StreamError), then the end of the response.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as api from '../../kv/api.js';
import { GrpcCode } from '../../util/errors.js';
import type { WatchSession } from '../service.js';
import { BodyTooLarge, JsonStreamDecoder, parseUnaryBody, readBody } from './body.js';
import { DecodeError, decodeEmpty, decodeLeaseIdRequest, decodeWatchRequest } from './codec/decode.js';
import { encodeSnapshotChunk, encodeStreamError, encodeWatchResponse } from './codec/encode.js';
import type { JsonValue } from './codec/json.js';
import { errorInfo, tooLargeForGrpc, type Closable, type FrontEndContext } from './context.js';
import { KeepAliveQueue } from './keep-alive-queue.js';
import { STREAM_BARE_HEADERS, STREAM_HEADERS, sendDecodeError, sendRpcError } from './responses.js';

/** etcd sends snapshots in 32 KiB pieces. */
const SNAPSHOT_PIECE = 32 * 1024;

function waitDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** The common part of a bidirectional stream over one HTTP exchange. */
abstract class HttpStream implements Closable {
  protected started = false;
  protected closed = false;
  /** Whether a first request message was decoded (errors after it no longer fail the call). */
  protected gotFirst = false;
  protected reading = true;
  private readonly decoder: JsonStreamDecoder;

  constructor(
    protected readonly ctx: FrontEndContext,
    protected readonly req: IncomingMessage,
    protected readonly res: ServerResponse,
    private readonly what: string,
  ) {
    this.decoder = new JsonStreamDecoder(ctx.bodyCap);
    ctx.active.add(this);
    req.on('data', (chunk: Buffer) => this.onData(chunk));
    req.on('end', () => this.onInputEnd());
    req.on('error', () => this.shutdown());
    res.on('close', () => this.shutdown());
  }

  /** Handles one decoded request message (already known to decode). */
  protected abstract onMessage(v: JsonValue): void;
  /** Decodes a message (throws DecodeError), before onMessage. */
  protected abstract check(v: JsonValue): void;
  /** No more request messages will come. */
  protected abstract onRequestsDone(): void;
  protected abstract onShutdown(): void;

  private onData(chunk: Buffer): void {
    if (!this.reading || this.closed) return;
    try {
      this.decoder.push(chunk.toString('latin1'));
      this.pump(false);
    } catch (e) {
      this.onBadInput(e);
    }
  }

  private onInputEnd(): void {
    if (!this.reading || this.closed) return;
    try {
      this.pump(true);
    } catch (e) {
      this.onBadInput(e);
      return;
    }
    this.reading = false;
    this.onRequestsDone();
  }

  private pump(final: boolean): void {
    for (;;) {
      if (!this.reading || this.closed) return;
      const v = this.decoder.next(final);
      if (v === undefined) return;
      this.check(v);
      this.gotFirst = true;
      this.onMessage(v);
    }
  }

  private onBadInput(e: unknown): void {
    if (this.closed) return;
    if (e instanceof BodyTooLarge) {
      this.fail(tooLargeForGrpc(this.ctx, Math.floor((e.seen * 3) / 4)));
      return;
    }
    if (!(e instanceof DecodeError)) {
      this.fail(e);
      return;
    }
    if (!this.gotFirst) {
      // Before the stream is up the gateway answers like a unary call, with gRPC code Unknown.
      this.reading = false;
      sendDecodeError(this.res, e.message, GrpcCode.Unknown, 500);
      this.shutdown();
      return;
    }
    // Later on, the gateway stops sending requests (CloseSend) and the stream goes on.
    this.ctx.log.debug({ err: e.message }, `${this.what}: request stream stopped on a message that does not decode`);
    this.reading = false;
    this.req.resume();
    this.onRequestsDone();
  }

  /** Writes one {"result": ...} line; resolves when the response can take more. */
  protected writeResult(json: string): void | Promise<void> {
    if (this.closed) return;
    if (!this.started) {
      this.started = true;
      this.res.writeHead(200, STREAM_HEADERS);
    }
    if (!this.res.write('{"result":' + json + '}\n')) return waitDrain(this.res);
  }

  /** Ends the stream with an error: a stream error message, with the error's status when nothing was sent yet. */
  protected fail(e: unknown): void {
    if (this.closed) return;
    const info = errorInfo(this.ctx, e, this.what);
    const chunk = '{"error":' + encodeStreamError(info.message, info.code, info.status) + '}';
    if (!this.started) {
      this.started = true;
      this.res.writeHead(info.status, STREAM_BARE_HEADERS);
    }
    this.res.end(chunk);
    this.shutdown();
  }

  /** Ends the response normally. */
  protected finish(): void {
    if (this.closed) return;
    if (!this.started) {
      this.started = true;
      this.res.writeHead(200, STREAM_BARE_HEADERS);
    }
    this.res.end();
    this.shutdown();
  }

  protected shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    this.reading = false;
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
    this.res.destroy();
  }
}

export class HttpWatchStream extends HttpStream {
  private session: WatchSession | null = null;
  private readonly sink = (resp: api.WatchResponse): void | Promise<void> => this.writeResult(encodeWatchResponse(resp));
  private pending: api.WatchRequest | null = null;

  constructor(ctx: FrontEndContext, req: IncomingMessage, res: ServerResponse) {
    super(ctx, req, res, 'watch');
  }

  protected check(v: JsonValue): void {
    this.pending = decodeWatchRequest(v);
  }

  protected onMessage(): void {
    const wr = this.pending;
    this.pending = null;
    if (wr === null) return; // No request set: etcd ignores it.
    try {
      this.session ??= this.ctx.service.openWatch(this.sink);
      this.session.handle(wr);
    } catch (e) {
      this.fail(e);
    }
  }

  /** The end of the request body does not end a watch. */
  protected onRequestsDone(): void {}

  protected onShutdown(): void {
    const s = this.session;
    this.session = null;
    s?.close();
  }
}

export class HttpKeepAliveStream extends HttpStream {
  private inputDone = false;
  private pendingId = 0n;
  private readonly queue: KeepAliveQueue;

  constructor(ctx: FrontEndContext, req: IncomingMessage, res: ServerResponse) {
    super(ctx, req, res, 'lease keepalive');
    this.queue = new KeepAliveQueue(ctx.service, {
      closed: () => this.closed,
      write: (json) => this.writeResult(json),
      fail: (e) => this.fail(e),
      // The response ends once the request body has ended and every request in it is answered.
      drained: () => {
        if (this.inputDone) this.finish();
      },
    });
  }

  protected check(v: JsonValue): void {
    this.pendingId = decodeLeaseIdRequest(v).ID;
  }

  protected onMessage(): void {
    this.queue.push(this.pendingId);
  }

  protected onRequestsDone(): void {
    this.inputDone = true;
    void this.queue.run();
  }

  protected onShutdown(): void {
    this.queue.clear();
  }
}

/** maintenance/snapshot: a server stream of {"remaining_bytes", "blob"} messages. */
export function serveSnapshot(ctx: FrontEndContext, req: IncomingMessage, res: ServerResponse): void {
  readBody(req, ctx.bodyCap, (err, text) => {
    if (err) {
      if (err instanceof BodyTooLarge) {
        const e = tooLargeForGrpc(ctx, Math.floor((err.seen * 3) / 4));
        sendRpcError(res, e.message, e.grpcCode, 429, true);
      }
      return;
    }
    try {
      decodeEmpty(parseUnaryBody(text as string));
    } catch (e) {
      if (e instanceof DecodeError) {
        sendDecodeError(res, e.message, GrpcCode.InvalidArgument, 400);
        return;
      }
      throw e;
    }
    void streamSnapshot(ctx, res);
  });
}

async function streamSnapshot(ctx: FrontEndContext, res: ServerResponse): Promise<void> {
  let closed = false;
  const stream: Closable = {
    close: () => {
      closed = true;
      res.destroy();
    },
  };
  ctx.active.add(stream);
  res.on('close', () => {
    closed = true;
    ctx.active.delete(stream);
  });
  let started = false;
  try {
    // The whole snapshot first: every message tells how many bytes remain after it.
    const parts: Uint8Array[] = [];
    let total = 0;
    for await (const part of ctx.service.snapshot()) {
      if (closed) return;
      parts.push(part);
      total += part.length;
    }
    const all = Buffer.concat(parts, total);
    for (let sent = 0; sent < total && !closed; ) {
      const piece = all.subarray(sent, Math.min(total, sent + SNAPSHOT_PIECE));
      sent += piece.length;
      if (!started) {
        started = true;
        res.writeHead(200, STREAM_HEADERS);
      }
      if (!res.write('{"result":' + encodeSnapshotChunk(total - sent, piece) + '}\n')) await waitDrain(res);
    }
    if (closed) return;
    if (!started) res.writeHead(200, STREAM_BARE_HEADERS);
    res.end();
  } catch (e) {
    if (closed) return;
    const info = errorInfo(ctx, e, 'snapshot');
    if (!started) res.writeHead(info.status, STREAM_BARE_HEADERS);
    res.end('{"error":' + encodeStreamError(info.message, info.code, info.status) + '}');
  } finally {
    ctx.active.delete(stream);
  }
}
