// Helpers of the discovery tests: a manual clock for the check timers, small HTTP servers whose
// answer a test changes, and waiting utilities.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { Clock, TimerHandle } from '../../src/util/clock.js';

/** A logger for clients whose reconnect warnings a test provokes on purpose. */
export const quiet = pino({ level: 'silent' });

/** Timers that fire only when the test advances the clock. */
export class ManualClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + Math.max(0, ms), fn });
    return id as unknown as TimerHandle;
  }

  clearTimeout(h: TimerHandle | undefined): void {
    this.pending.delete(h as unknown as number);
  }

  get timers(): number {
    return this.pending.size;
  }

  /** Moves the clock on, firing each due timer in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.pending) if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))) next = e;
      if (!next) break;
      this.pending.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
    await settle();
  }
}

/** Lets pending promise callbacks and I/O callbacks run. */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10000, what = 'condition', everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** An HTTP server answering every request with `status` (changeable), counting requests. */
export interface TestHttpServer {
  url: string;
  port: number;
  status: number;
  /** Delay before answering (ms). */
  delayMs: number;
  requests: number;
  close(): Promise<void>;
}

export async function testHttpServer(status = 200, host = '127.0.0.1'): Promise<TestHttpServer> {
  const sockets = new Set<import('node:net').Socket>();
  const s: TestHttpServer = {
    url: '',
    port: 0,
    status,
    delayMs: 0,
    requests: 0,
    close: () => {
      for (const so of sockets) so.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
  const server = http.createServer((_req, res) => {
    s.requests++;
    const answer = () => {
      res.writeHead(s.status, { 'content-type': 'text/plain' });
      res.end(s.status < 300 ? 'ok' : 'not ok');
    };
    if (s.delayMs > 0) setTimeout(answer, s.delayMs);
    else answer();
  });
  server.on('connection', (so) => {
    sockets.add(so);
    so.on('close', () => sockets.delete(so));
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  s.port = (server.address() as AddressInfo).port;
  s.url = `http://${host}:${s.port}`;
  return s;
}
