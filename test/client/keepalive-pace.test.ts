// The keep-alive's pace counts from each renewal's send, not from its answer: a renewal answered
// late must not push every later one back by its round trip. Time is driven by hand: Date.now and
// setTimeout are replaced for the test, so the delay the loop asks for is read, not waited for.
import t from 'tap';
import { KeepAlive, type KeepAliveHost } from '../../src/client/lease.js';
import type { LeaseKeepAliveResponse } from '../../src/client/types.js';

t.test('the next renewal is due a pace after the previous one was sent', async (t) => {
  let now = 1_000_000;
  const delays: number[] = [];
  let due: (() => void) | undefined;
  const realNow = Date.now;
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  Date.now = () => now;
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    due = fn;
    delays.push(ms ?? 0);
    return { unref() {}, ref() {} } as unknown as NodeJS.Timeout;
  }) as typeof setTimeout;
  globalThis.clearTimeout = (() => {}) as typeof clearTimeout;
  t.teardown(() => {
    Date.now = realNow;
    globalThis.setTimeout = realSetTimeout;
    globalThis.clearTimeout = realClearTimeout;
  });

  const sent: number[] = [];
  let answer: ((r: LeaseKeepAliveResponse) => void) | undefined;
  const host: KeepAliveHost = {
    requestTimeoutMs: 5000,
    keepAliveOnce: () => {
      sent.push(now);
      return new Promise((resolve) => (answer = resolve));
    },
    track: () => {},
    untrack: () => {},
    log: { debug: () => {} },
  };
  const ka = new KeepAlive(host, 7n, { ttl: 5, intervalMs: 500 });
  t.teardown(() => ka.close());
  t.same(sent, [1_000_000], 'the first renewal goes out at once');

  now += 200; // a slow answer: 200 ms after the send
  answer!({ header: {}, ID: 7n, TTL: 5 } as LeaseKeepAliveResponse);
  await new Promise<void>((r) => queueMicrotask(r));
  await Promise.resolve();
  t.same(delays, [300], 'due 500 ms after the send: 300 ms after the answer (counted from the answer it was 500)');
  t.equal(ka.expiresAt, 1_000_000 + 5000, 'the lease counts from the send');

  now += 900; // the timer fires late; this renewal's answer will be slower than the pace
  delays.length = 0;
  due!();
  t.same(sent, [1_000_000, 1_001_100]);
  now += 700;
  answer!({ header: {}, ID: 7n, TTL: 5 } as LeaseKeepAliveResponse);
  await new Promise<void>((r) => queueMicrotask(r));
  await Promise.resolve();
  t.same(delays, [1], 'already due: the next renewal is sent on the next timer turn');
});
