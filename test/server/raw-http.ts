// Test helpers for the client port's fast path: a raw TCP client that writes bytes as given and
// splits what it reads into whole HTTP responses (their exact bytes kept), without sleeps.
import net from 'node:net';

export interface RawResponse {
  /** The response's bytes, as they came. */
  raw: string;
  status: number;
  /** Headers as [name, value] in order. */
  headers: Array<[string, string]>;
  body: string;
  trailers: Array<[string, string]>;
}

/** The value of a header (the first one of that name, case-insensitive). */
export function header(r: RawResponse, name: string): string | undefined {
  const n = name.toLowerCase();
  return r.headers.find(([k]) => k.toLowerCase() === n)?.[1];
}

/** The response without its Date value. */
export function noDate(raw: string): string {
  return raw.replace(/\r\nDate: [^\r]*\r\n/, '\r\nDate: -\r\n');
}

function parseFields(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of text.split('\r\n')) {
    if (line === '') continue;
    const c = line.indexOf(':');
    out.push([line.slice(0, c), line.slice(c + 1).trim()]);
  }
  return out;
}

/**
 * The response at the start of `buf` (latin1 text), or null while incomplete. A response without
 * Content-Length or chunked encoding runs to the end of the stream (`ended`).
 */
export function parseResponse(buf: string, ended: boolean): { res: RawResponse; length: number } | null {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const lines = buf.slice(0, headEnd);
  const firstEnd = lines.indexOf('\r\n');
  const statusLine = firstEnd < 0 ? lines : lines.slice(0, firstEnd);
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
  const status = Number(m[1]);
  const headers = firstEnd < 0 ? [] : parseFields(lines.slice(firstEnd + 2));
  const get = (n: string): string | undefined => headers.find(([k]) => k.toLowerCase() === n)?.[1];
  let at = headEnd + 4;
  if (status < 200 || status === 204 || status === 304) {
    return { res: { raw: buf.slice(0, at), status, headers, body: '', trailers: [] }, length: at };
  }
  const cl = get('content-length');
  if (cl !== undefined) {
    const end = at + Number(cl);
    if (buf.length < end) return null;
    return { res: { raw: buf.slice(0, end), status, headers, body: buf.slice(at, end), trailers: [] }, length: end };
  }
  if (get('transfer-encoding')?.toLowerCase() === 'chunked') {
    let body = '';
    for (;;) {
      const le = buf.indexOf('\r\n', at);
      if (le < 0) return null;
      const size = parseInt(buf.slice(at, le), 16);
      at = le + 2;
      if (size === 0) break;
      if (buf.length < at + size + 2) return null;
      body += buf.slice(at, at + size);
      at += size + 2;
    }
    const te = buf.indexOf('\r\n\r\n', at - 2);
    if (te < 0) return null;
    const trailers = parseFields(buf.slice(at, te));
    const end = te + 4;
    return { res: { raw: buf.slice(0, end), status, headers, body, trailers }, length: end };
  }
  if (!ended) return null;
  return { res: { raw: buf, status, headers, body: buf.slice(at), trailers: [] }, length: buf.length };
}

/** A raw HTTP/1.1 client connection. */
export class RawClient {
  private buf = '';
  /** Every byte read so far (latin1). */
  all = '';
  ended = false;
  closed = false;
  error: Error | null = null;
  readonly closedP: Promise<void>;
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => {
      const s = c.toString('latin1');
      this.buf += s;
      this.all += s;
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', (e) => {
      this.error = e;
    });
    this.closedP = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.ended = true;
        this.wake();
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.off('error', reject);
        resolve(new RawClient(s));
      });
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async waitChange(what: string, timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}; have ${JSON.stringify(this.buf.slice(0, 300))}`)), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (e) => (e ? reject(e) : resolve())));
  }

  /** The next `n` responses (waits for them). */
  async responses(n: number, timeoutMs = 10_000): Promise<RawResponse[]> {
    const out: RawResponse[] = [];
    while (out.length < n) {
      const p = parseResponse(this.buf, this.ended);
      if (p !== null) {
        out.push(p.res);
        this.buf = this.buf.slice(p.length);
        continue;
      }
      if (this.ended) throw new Error(`connection ended after ${out.length} of ${n} responses; left ${JSON.stringify(this.buf.slice(0, 300))}`);
      await this.waitChange(`response ${out.length + 1} of ${n}`, timeoutMs);
    }
    return out;
  }

  async response(timeoutMs?: number): Promise<RawResponse> {
    return (await this.responses(1, timeoutMs))[0]!;
  }

  /** Waits until the read text contains `s`. */
  async until(s: string, timeoutMs = 10_000): Promise<void> {
    while (!this.buf.includes(s)) {
      if (this.ended) throw new Error(`connection ended before ${JSON.stringify(s)}; have ${JSON.stringify(this.buf.slice(0, 300))}`);
      await this.waitChange(JSON.stringify(s), timeoutMs);
    }
  }

  /** Bytes read and not yet taken as responses. */
  get pending(): string {
    return this.buf;
  }

  take(): string {
    const b = this.buf;
    this.buf = '';
    return b;
  }

  /** Waits for the server to end the connection (FIN or close). */
  async waitEnd(timeoutMs = 10_000): Promise<void> {
    while (!this.ended) await this.waitChange('the end of the connection', timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A POST with a Content-Length body, as a gateway client sends it. */
export function post(path: string, body: string, extra = ''): string {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;
}

export const GET_HEALTH = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
