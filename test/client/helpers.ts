// Helpers for the client tests: fake gateway servers (to drive the retry rule through exact
// failures), endpoints nobody listens on, and small waiting utilities.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { freePort } from '../raft/cluster.js';

export interface FakeRequest {
  path: string;
  method: string;
  body: string;
}

export type FakeHandler = (req: FakeRequest, res: http.ServerResponse, raw: http.IncomingMessage) => void;

export interface FakeServer {
  url: string;
  port: number;
  requests: FakeRequest[];
  handler: FakeHandler;
  /** WebSocket connections to /v3/watch. */
  onWatch?: (ws: WebSocket) => void;
  close(): Promise<void>;
}

/** A fake member: every request goes to `handler` (replaceable). */
export async function fakeServer(handler: FakeHandler, opts: { autoPong?: boolean } = {}): Promise<FakeServer> {
  const sockets = new Set<import('node:net').Socket>();
  const fake: FakeServer = {
    url: '',
    port: 0,
    requests: [],
    handler,
    close: async () => {
      wss.clients.forEach((c) => c.terminate());
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { path: req.url ?? '/', method: req.method ?? 'GET', body: Buffer.concat(chunks).toString() };
      fake.requests.push(r);
      fake.handler(r, res, req);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ noServer: true, autoPong: opts.autoPong ?? true });
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (fake.onWatch) fake.onWatch(ws);
      else ws.close();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  fake.port = (server.address() as AddressInfo).port;
  fake.url = `http://127.0.0.1:${fake.port}`;
  return fake;
}

/** An endpoint where nothing listens (connections are refused). */
export async function deadEndpoint(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

export function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(text);
}

/** etcd's error body. */
export function etcdError(res: http.ServerResponse, status: number, code: number, message: string): void {
  json(res, status, { error: message, message, code });
}

export const header = (rev = 5) => ({ cluster_id: '1', member_id: '2', revision: String(rev), raft_term: '3' });

/** Resolves when `cond()` holds, checking every `everyMs`; rejects after `timeoutMs`. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function once<T extends unknown[]>(emitter: { once(event: string, fn: (...args: T) => void): unknown }, event: string, timeoutMs = 15000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (...args: T) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

export const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? new Uint8Array()).toString();
