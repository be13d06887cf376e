// A keep-alive HTTP/1.1 client connection that carries one request at a time, written on a bare
// socket for the load generator (kvload.mjs --http raw).
//
// Why: on a 2-core machine the load generator shares the CPU with the members it measures, and
// Node's http client (IncomingMessage, ClientRequest, the agent, header objects) costs about as
// much per request as a kvd leader does (docs/benchmarks.md, "Session 28: the whole machine by
// process"). The throughput ratio of two systems then shrinks towards 1 by the client's share, not
// by anything the servers do. This client sends the same bytes Node's http.request sends for the
// same call (the same request line and headers, in the same order) and reads the answer with a
// minimal parser, so both systems see the same requests and the client's share becomes small.
import net from 'node:net';
import tls from 'node:tls';

const HEAD_END = Buffer.from('\r\n\r\n');

export class RawHttpConnection {
  /**
   * @param {URL} url the endpoint (http: or https:)
   * @param {{ ca?: Buffer, timeoutMs?: number }} [opts]
   */
  constructor(url, opts = {}) {
    this.url = url;
    this.ca = opts.ca;
    this.timeoutMs = opts.timeoutMs ?? 10000;
    this.hostHeader = `${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`;
    /** @type {net.Socket | undefined} */
    this.socket = undefined;
    /** @type {{ resolve: Function, reject: Function } | undefined} */
    this.pending = undefined;
    /** @type {Buffer | undefined} */
    this.buffered = undefined;
  }

  /**
   * POST `payload` (a JSON string) to `path`; resolves { status, text } with the whole
   * answer's body, rejects with an Error whose `.kind` says why (as kvload's own errors).
   */
  post(path, payload) {
    if (this.pending) throw new Error('RawHttpConnection carries one request at a time');
    const socket = this.socket ?? this.connect();
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      socket.write(
        `POST ${path} HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\nHost: ${this.hostHeader}\r\nConnection: keep-alive\r\n\r\n${payload}`,
      );
    });
  }

  close() {
    this.socket?.destroy();
    this.socket = undefined;
  }

  connect() {
    const port = Number(this.url.port || (this.url.protocol === 'https:' ? 443 : 80));
    const host = this.url.hostname;
    const socket = this.url.protocol === 'https:'
      ? tls.connect({ host, port, ca: this.ca, servername: net.isIP(host) ? undefined : host })
      : net.connect({ host, port });
    socket.setNoDelay(true);
    socket.setTimeout(this.timeoutMs);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('timeout', () => {
      if (this.pending) this.fail(socket, 'timeout', new Error('timeout'));
    });
    socket.on('error', (err) => this.fail(socket, err.code ?? 'request-error', err));
    socket.on('close', () => this.fail(socket, 'ECONNRESET', new Error('socket hang up')));
    this.socket = socket;
    this.buffered = undefined;
    return socket;
  }

  fail(socket, kind, err) {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.buffered = undefined;
    socket.destroy();
    const p = this.pending;
    this.pending = undefined;
    if (p) {
      err.kind ??= kind;
      p.reject(err);
    }
  }

  onData(chunk) {
    const buf = this.buffered === undefined ? chunk : Buffer.concat([this.buffered, chunk]);
    const answer = parseAnswer(buf);
    if (answer === undefined) {
      this.buffered = buf;
      return;
    }
    this.buffered = undefined;
    const p = this.pending;
    this.pending = undefined;
    if (answer.error !== undefined || p === undefined) {
      this.pending = p;
      this.fail(this.socket, 'bad-response', new Error(answer.error ?? 'an answer nobody asked for'));
      return;
    }
    if (answer.close) this.close();
    p.resolve({ status: answer.status, text: answer.text });
  }
}

/**
 * One whole HTTP/1.1 answer from the start of `buf`: undefined while incomplete; { error } when it
 * cannot be read. Bodies by Content-Length or chunked, as Go's and Node's servers send them.
 */
export function parseAnswer(buf) {
  const headEnd = buf.indexOf(HEAD_END);
  if (headEnd < 0) return buf.length > 65536 ? { error: 'response head over 64 KiB' } : undefined;
  const head = buf.toString('latin1', 0, headEnd);
  if (!head.startsWith('HTTP/1.')) return { error: `not an HTTP answer: ${head.slice(0, 40)}` };
  const status = Number(head.slice(9, 12));
  let length = -1;
  let chunked = false;
  let close = false;
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (name === 'content-length') length = Number(value);
    else if (name === 'transfer-encoding') chunked = value.includes('chunked');
    else if (name === 'connection') close = value === 'close';
  }
  const bodyStart = headEnd + 4;
  if (chunked) {
    const parts = [];
    let at = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(buf.toString('latin1', at, lineEnd), 16);
      if (!Number.isFinite(size)) return { error: 'bad chunk size' };
      const dataEnd = lineEnd + 2 + size;
      if (buf.length < dataEnd + 2) return undefined;
      if (size === 0) {
        // Trailers are not sent by these servers; the answer ends with the empty line.
        return { status, close, text: Buffer.concat(parts).toString('utf8') };
      }
      parts.push(buf.subarray(lineEnd + 2, dataEnd));
      at = dataEnd + 2;
    }
  }
  if (length < 0) return { error: 'an answer with neither Content-Length nor chunked body' };
  if (buf.length < bodyStart + length) return undefined;
  return { status, close, text: buf.toString('utf8', bodyStart, bodyStart + length) };
}
