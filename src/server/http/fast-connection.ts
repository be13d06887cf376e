// The fast path of the client port: a keep-alive HTTP/1.1 connection carrying unary gateway calls
// (`POST /v3/kv/range` with a Content-Length body), served without Node's HTTP machinery. For a
// small request, Node's server costs about a third of a member's CPU (parser callbacks, an
// IncomingMessage and a ServerResponse stream, header objects, a corked writev of head and body);
// here a request is one buffer scan and its answer one socket write.
//
// The fast path answers only what it is sure of. At the first request of another shape (a watch
// or keepalive stream, a WebSocket upgrade, GET /health, a chunked body, HTTP/1.0, Expect, an
// unknown path, anything Node might refuse) the connection is handed to Node's server with the
// bytes not yet consumed, and stays there. Requests are answered one at a time, in order, so a
// client that pipelines gets its answers in order and a hand-over never overtakes an answer.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Closable } from './context.js';
import { MAX_HEAD_BYTES, readRequestHead } from './request-head.js';
import type { ResponseSink } from './responses.js';

/** Serves one unary call: answers through `res` exactly once (now or later). */
export type UnaryServe = (body: string, res: ResponseSink) => void;

export interface FastConnectionOptions {
  /** The unary call served at `path`, or undefined when Node's server should serve the request. */
  find(path: string): UnaryServe | undefined;
  /** Gives the socket to Node's HTTP server, with the bytes read but not consumed. */
  handOver(socket: Socket, buffered: Buffer | null): void;
  /** Bodies larger than this go to Node's server, which refuses them. */
  bodyCap: number;
  /** Node's keepAliveTimeout: the Keep-Alive header, and how long an idle connection stays (0: no limit). */
  keepAliveMs: number;
  /** Node's headersTimeout: how long a request head may take to arrive (0: no limit). */
  headersTimeoutMs: number;
  /** The connection ended or was handed over. */
  onGone(c: FastConnection): void;
}

let dateSecond = -1;
let dateText = '';

/** The Date header's value, computed once a second (as Node does). */
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(s * 1000).toUTCString();
  }
  return dateText;
}

export class FastConnection implements Closable {
  /** Bytes read and not yet consumed. */
  private chunks: Buffer[] = [];
  private length = 0;
  /** While > 0: the head is read and the body incomplete; nothing to do below this many bytes. */
  private need = 0;
  /** A request is being served. */
  private busy = false;
  private waitingDrain = false;
  private processing = false;
  private gone = false;
  /** The connection is ending (an answer with Connection: close, or the client's FIN): no more requests are served. */
  private ending = false;
  /** When the connection last finished a request or received part of a body (performance.now()). */
  private idleSince = performance.now();
  /** When the first bytes of the held (partial) request arrived (performance.now()). */
  private heldSince = 0;
  /** The Connection (and Keep-Alive) headers Node adds to an answer on a connection that stays open. */
  readonly keepAliveHeaders: string;

  constructor(
    readonly socket: Socket,
    private readonly opts: FastConnectionOptions,
  ) {
    // Node leaves Keep-Alive out when keepAliveTimeout is 0 (no idle timeout).
    this.keepAliveHeaders =
      opts.keepAliveMs === 0 ? 'Connection: keep-alive\r\n' : `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(opts.keepAliveMs / 1000)}\r\n`;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  /**
   * Serving a request, holding part of one, or still writing an answer out: Node's keep-alive
   * timer starts when the answer is written out, not when it is queued, so a client slow to read
   * a large answer is not idle.
   */
  private get active(): boolean {
    return this.busy || this.length > 0 || this.waitingDrain || this.socket.writableLength > 0;
  }

  /**
   * Since when the connection has been waiting for the rest of a request head (for Node's
   * headersTimeout), or -1 when it is not.
   */
  private get headWaitSince(): number {
    if (this.busy || this.waitingDrain || this.ending || this.need > 0 || this.length === 0) return -1;
    return Math.max(this.heldSince, this.idleSince);
  }

  /**
   * Whether Node's server would have closed this connection by `now` (performance.now()): idle
   * for longer than keepAliveTimeout, or a request head incomplete for longer than headersTimeout
   * (closed without Node's 408: the request is not read).
   */
  expired(now: number): boolean {
    const { keepAliveMs, headersTimeoutMs } = this.opts;
    if (!this.active) return keepAliveMs > 0 && now - this.idleSince > keepAliveMs;
    const since = this.headWaitSince;
    return since >= 0 && headersTimeoutMs > 0 && now - since > headersTimeoutMs;
  }

  close(): void {
    this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.ending) return;
    if (this.length === 0) this.heldSince = performance.now();
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (this.need > 0) {
      this.idleSince = performance.now();
      if (this.length < this.need) return;
    }
    if (this.busy || this.waitingDrain) {
      // A pipelining client: hold what it sends, but not without bound.
      if (this.length > this.opts.bodyCap + MAX_HEAD_BYTES) this.socket.pause();
      return;
    }
    this.process();
  };

  /**
   * The client's FIN. Node's server (httpAllowHalfOpen false) ends the connection at once, without
   * the answers still owed, and answers a request cut short with its parser's error (400): so does
   * the fast path, the latter by handing the bytes to Node. (The server socket allows half-open
   * connections, so nothing else would end it.)
   */
  private readonly onEnd = (): void => {
    if (this.gone || this.ending) return;
    if (!this.busy && !this.waitingDrain && this.length > 0) {
      this.handOver();
      return;
    }
    this.stopReading();
    this.socket.end();
  };

  /** No more requests are read or served on this connection; those already held are dropped. */
  private stopReading(): void {
    this.ending = true;
    this.chunks = [];
    this.length = 0;
  }

  private readonly onError = (): void => {
    // ECONNRESET and the like: the client is gone; 'close' follows.
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    if (this.gone) return;
    this.gone = true;
    this.chunks = [];
    this.length = 0;
    this.opts.onGone(this);
  };

  /** All held bytes as one buffer (they are usually one chunk already). */
  private held(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.length)];
    return this.chunks[0]!;
  }

  private consume(n: number): void {
    const buf = this.held();
    if (n === buf.length) {
      this.chunks = [];
      this.length = 0;
    } else {
      this.chunks = [buf.subarray(n)];
      this.length -= n;
    }
  }

  private process(): void {
    if (this.processing) return; // The loop below is on the stack (an answer came synchronously).
    this.processing = true;
    try {
      while (!this.busy && !this.waitingDrain && !this.gone && !this.ending && this.length > 0) {
        const buf = this.held();
        const head = readRequestHead(buf);
        if (head.kind === 'more') break;
        const serve = head.kind === 'post' && head.bodyLength <= this.opts.bodyCap ? this.opts.find(head.path) : undefined;
        if (head.kind !== 'post' || serve === undefined) {
          this.handOver();
          return;
        }
        const end = head.bodyStart + head.bodyLength;
        if (buf.length < end) {
          this.need = end;
          break;
        }
        this.need = 0;
        const body = buf.toString('latin1', head.bodyStart, end);
        this.consume(end);
        this.busy = true;
        serve(body, new RawResponse(this, head.close));
      }
    } finally {
      this.processing = false;
    }
    if (!this.busy && !this.waitingDrain && this.socket.isPaused() && !this.gone && !this.ending) this.socket.resume();
  }

  private handOver(): void {
    this.gone = true;
    const { socket } = this;
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
    const buffered = this.length > 0 ? this.held() : null;
    this.chunks = [];
    this.length = 0;
    this.opts.onGone(this);
    if (socket.isPaused()) socket.resume();
    this.opts.handOver(socket, buffered);
  }

  /** Called once per request by its RawResponse with the whole answer. */
  respond(bytes: string, close: boolean): void {
    this.busy = false;
    this.idleSince = performance.now();
    const { socket } = this;
    if (this.gone || this.ending || socket.destroyed) return;
    if (close) {
      // As Node's server: the answer, the FIN, then the socket is destroyed (no half-open wait
      // for the client), and requests already sent after this one are not served.
      this.stopReading();
      socket.end(bytes, () => socket.destroy());
      return;
    }
    if (!socket.write(bytes)) {
      this.waitingDrain = true;
      socket.once('drain', () => {
        this.waitingDrain = false;
        this.idleSince = performance.now();
        this.process();
      });
      return;
    }
    this.process();
  }
}

/**
 * One answer on a fast connection, written as Node's ServerResponse would write it (same header
 * order, Date, Connection and Keep-Alive, chunked with trailers when there is no Content-Length),
 * but as a single string in a single write.
 */
export class RawResponse implements ResponseSink {
  headersSent = false;
  private status = 200;
  private headers: string[] = [];
  private trailers: Record<string, string> | null = null;
  private ended = false;

  constructor(
    private readonly conn: FastConnection,
    private readonly clientClose: boolean,
  ) {}

  get destroyed(): boolean {
    return this.conn.socket.destroyed;
  }

  writeHead(status: number, headers: string[]): this {
    if (this.headersSent) throw new Error('RawResponse: headers already sent');
    this.status = status;
    this.headers = headers;
    this.headersSent = true;
    return this;
  }

  addTrailers(trailers: Record<string, string>): void {
    this.trailers = trailers;
  }

  end(body = ''): this {
    if (this.ended) return this;
    this.ended = true;
    this.headersSent = true;
    let out = `HTTP/1.1 ${this.status} ${STATUS_CODES[this.status] ?? 'unknown'}\r\n`;
    let hasLength = false;
    let close = this.clientClose;
    let connectionSet = false;
    const h = this.headers;
    for (let i = 0; i + 1 < h.length; i += 2) {
      const name = h[i]!;
      const value = h[i + 1]!;
      out += name + ': ' + value + '\r\n';
      if (name.length === 14 && name.toLowerCase() === 'content-length') hasLength = true;
      else if (name.length === 10 && name.toLowerCase() === 'connection') {
        connectionSet = true;
        if (/(^|,)\s*close\s*(,|$)/i.test(value)) close = true;
      }
    }
    out += 'Date: ' + httpDate() + '\r\n';
    if (!connectionSet) out += close ? 'Connection: close\r\n' : this.conn.keepAliveHeaders;
    if (hasLength) {
      out += '\r\n' + body;
    } else {
      out += 'Transfer-Encoding: chunked\r\n\r\n';
      const n = Buffer.byteLength(body, 'utf8');
      if (n > 0) out += n.toString(16) + '\r\n' + body + '\r\n';
      out += '0\r\n';
      if (this.trailers !== null) for (const [k, v] of Object.entries(this.trailers)) out += k + ': ' + v + '\r\n';
      out += '\r\n';
    }
    this.conn.respond(out, close);
    return this;
  }
}
