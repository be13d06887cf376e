// Test helpers: a front end on 127.0.0.1 (port 0) over the fake service, and raw HTTP requests.
import http from 'node:http';
import { pino } from 'pino';
import { listenHttp, type HttpListener, type ListenOptions } from '../../src/server/http/index.js';
import { FakeKvService } from './fake-service.js';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  trailers: NodeJS.Dict<string>;
  body: string;
}

export interface Harness {
  svc: FakeKvService;
  srv: HttpListener;
  port: number;
  agent: http.Agent;
  request(method: string, path: string, body?: string | Buffer, headers?: http.OutgoingHttpHeaders): Promise<Reply>;
  post(path: string, body?: string | Buffer | object): Promise<Reply>;
  /** POST and parse the JSON answer (fails the test on a non-200). */
  json(path: string, body?: string | object): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export const silentLogger = pino({ level: 'silent' });

export async function startHarness(opts: Omit<ListenOptions, 'host' | 'port'> = {}): Promise<Harness> {
  const svc = new FakeKvService();
  const srv = await listenHttp(svc, { host: '127.0.0.1', port: 0, logger: silentLogger, ...opts });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const port = srv.address.port;
  const request = (method: string, path: string, body?: string | Buffer, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            trailers: res.trailers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  const post = (path: string, body?: string | Buffer | object): Promise<Reply> =>
    request('POST', path, typeof body === 'object' && !Buffer.isBuffer(body) ? JSON.stringify(body) : body);
  const json = async (path: string, body?: string | object): Promise<Record<string, unknown>> => {
    const r = await post(path, body);
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as Record<string, unknown>;
  };
  return {
    svc,
    srv,
    port,
    agent,
    request,
    post,
    json,
    async close() {
      agent.destroy();
      await srv.close();
    },
  };
}

export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** The header the fake service puts in every response at revision `rev`. */
export function hdr(svc: FakeKvService, rev = svc.revision): string {
  return `{"cluster_id":"${svc.clusterId}","member_id":"${svc.memberId}","revision":"${rev}","raft_term":"${svc.raftTerm}"}`;
}

/** Reads newline-delimited JSON lines from a streaming response as they come. */
export class LineReader {
  private buf = '';
  private readonly lines: string[] = [];
  private waiters: Array<() => void> = [];
  ended = false;

  constructor(stream: NodeJS.ReadableStream) {
    stream.on('data', (c: Buffer) => {
      this.buf += c.toString('utf8');
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
      this.wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
    stream.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Text after the last newline (a stream error chunk has none). */
  get rest(): string {
    return this.buf;
  }

  async next(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.ended) throw new Error(`stream ended (rest: ${this.buf})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a line');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.lines.shift() as string;
  }

  async end(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for the end');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  pending(): number {
    return this.lines.length;
  }
}

/** Opens a streaming POST; the body is written by the caller (req.write / req.end). */
export function openStream(port: number, path: string): Promise<{ req: http.ClientRequest; res: http.IncomingMessage; lines: LineReader }> & {
  req: http.ClientRequest;
} {
  const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent: false });
  const p = new Promise<{ req: http.ClientRequest; res: http.IncomingMessage; lines: LineReader }>((resolve, reject) => {
    req.on('response', (res) => resolve({ req, res, lines: new LineReader(res) }));
    req.on('error', reject);
  });
  req.flushHeaders();
  return Object.assign(p, { req });
}

export async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
