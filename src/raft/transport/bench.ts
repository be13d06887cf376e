// Measures the peer transport on loopback: a flood of small App messages (1 entry of 256 bytes)
// from one transport to another, both in this process (so one core does both ends' work):
//   npm run build && node dist/src/raft/transport/bench.js [messages]
// For k messages per send() call and tick (k = 1: one frame per message; larger k: what a Ready
// with k messages for one peer produces), prints messages/s and frames/s received. The sender
// keeps at most `window` messages in flight, so nothing is dropped by the queue bound.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { EntryType, MessageType, emptyMessage, type Message } from '../types.js';
import { PeerTransport } from './peer-transport.js';

export interface FloodResult {
  perTick: number;
  messages: number;
  seconds: number;
  messagesPerSec: number;
  framesPerSec: number;
  mbPerSec: number;
  dropped: number;
}

export async function benchFlood(perTick: number, messages: number, window = 20_000): Promise<FloodResult> {
  const logger = pino({ level: 'silent' });
  let received = 0;
  let wake: (() => void) | undefined;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const b = new PeerTransport({
    id: 2,
    clusterId: 1,
    listen: { host: '127.0.0.1', port: 0 },
    peers: new Map(),
    logger,
    onMessage: () => {
      received++;
      if (wake && sent - received <= window / 2) {
        const w = wake;
        wake = undefined;
        w();
      }
      if (received === messages) done();
    },
  });
  const a = new PeerTransport({ id: 1, clusterId: 1, listen: { host: '127.0.0.1', port: 0 }, peers: new Map(), logger, onMessage: () => {} });
  await Promise.all([a.start(), b.start()]);
  a.addPeer(2, `ws://127.0.0.1:${b.address().port}`);
  b.addPeer(1, `ws://127.0.0.1:${a.address().port}`);

  const data = new Uint8Array(256).fill(0x5a);
  const msg = (i: number): Message => ({
    ...emptyMessage(MessageType.App, 2, 1, 3),
    index: i,
    logTerm: 3,
    commit: i,
    entries: [{ term: 3, index: i + 1, type: EntryType.Normal, data }],
  });

  // Warm up: the connection opens and the first frames go through.
  const warm = 1000;
  const target = messages;
  messages = warm;
  let sent = 0;
  for (let i = 0; i < warm; i++) a.send([msg(sent++)]);
  await finished;
  const finishedAll = new Promise<void>((r) => (done = r));
  messages = warm + target;

  const before = a.stats().get(2)!;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const step = (): void => {
      if (sent >= messages) return resolve();
      if (sent - received >= window) {
        wake = () => setImmediate(step);
        return;
      }
      const batch: Message[] = [];
      for (let i = 0; i < perTick && sent < messages; i++) batch.push(msg(sent++));
      a.send(batch);
      setImmediate(step);
    };
    step();
  });
  await finishedAll;
  const seconds = (performance.now() - t0) / 1000;
  const after = a.stats().get(2)!;
  await Promise.all([a.stop(), b.stop()]);
  const frames = after.framesSent - before.framesSent;
  return {
    perTick,
    messages: target,
    seconds,
    messagesPerSec: target / seconds,
    framesPerSec: frames / seconds,
    mbPerSec: (after.bytesSent - before.bytesSent) / seconds / 1e6,
    dropped: after.dropped,
  };
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 200_000);
  for (const perTick of [1, 10, 100, 1000]) {
    const r = await benchFlood(perTick, perTick === 1 ? Math.min(n, 50_000) : n);
    console.log(
      `${String(perTick).padStart(4)} msg/tick: ${Math.round(r.messagesPerSec).toLocaleString('en-US').padStart(9)} messages/s, ` +
        `${Math.round(r.framesPerSec).toLocaleString('en-US').padStart(7)} frames/s, ${r.mbPerSec.toFixed(1)} MB/s ` +
        `(${r.messages} messages in ${r.seconds.toFixed(2)} s, dropped ${r.dropped})`,
    );
  }
  const left = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
  if (left.length) console.log('resources still active after stop():', left);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
