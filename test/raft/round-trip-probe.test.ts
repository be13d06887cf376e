// RoundTripProbe with a stand-in socket, an injected clock and an injected interval: what it
// measures, one ping at a time, and nothing after stop().
import t from 'tap';
import { EventEmitter } from 'node:events';
import type WebSocket from 'ws';
import { RoundTripProbe } from '../../src/raft/transport/round-trip-probe.js';

class FakeSocket extends EventEmitter {
  pings = 0;
  ping(): void {
    this.pings++;
  }
}

function probe() {
  const ws = new FakeSocket();
  const samples: number[] = [];
  let now = 1000;
  const timer: { ms?: number; fn?: () => void; cancelled: boolean } = { cancelled: false };
  const p = new RoundTripProbe(ws as unknown as WebSocket, 4000, (s) => samples.push(s), () => now, (ms, fn) => {
    timer.ms = ms;
    timer.fn = fn;
    return () => (timer.cancelled = true);
  });
  return { ws, samples, p, timer, advance: (ms: number) => (now += ms), interval: () => timer.fn!() };
}

t.test('pings at start, then every interval, and measures the pong against the ping it answers', async (t) => {
  const { ws, samples, p, timer, advance, interval } = probe();
  p.start();
  t.equal(ws.pings, 1, 'a ping as soon as it starts');
  t.equal(timer.ms, 4000, 'then every interval');
  advance(2.5);
  ws.emit('pong');
  t.same(samples, [0.0025], 'the round trip in seconds');
  ws.emit('pong');
  t.same(samples, [0.0025], 'an unsolicited pong measures nothing');
  interval();
  t.equal(ws.pings, 2, 'the interval pings');
  advance(1);
  ws.emit('pong');
  t.same(samples, [0.0025, 0.001]);
  p.stop();
});

t.test('one ping at a time: a slow peer is not pinged again until it answers', async (t) => {
  const { ws, samples, p, advance, interval } = probe();
  p.start();
  interval();
  interval();
  t.equal(ws.pings, 1, 'no second ping while the first is unanswered');
  advance(8000);
  ws.emit('pong');
  t.same(samples, [8], 'the late answer is measured against its own ping');
  interval();
  t.equal(ws.pings, 2, 'pinged again once answered');
  p.stop();
});

t.test('stop(): the interval is cancelled, a pong after it measures nothing', async (t) => {
  const { ws, samples, p, timer } = probe();
  p.start();
  p.stop();
  t.ok(timer.cancelled, 'the interval is cancelled');
  t.equal(ws.listenerCount('pong'), 0, 'its pong listener is removed');
  ws.emit('pong');
  t.same(samples, []);
});
