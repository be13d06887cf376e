// PeerTransport over real loopback sockets (127.0.0.1, port 0). No sleeps: every wait is on a
// callback (message received, peer up/down, snapshot status, log line, socket event).
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { pino, type Logger } from 'pino';
import WebSocket from 'ws';
import { PeerTransport, type PeerTls, type TransportOptions } from '../../src/raft/transport/index.js';
import { Codec } from '../../src/raft/transport/codec.js';
import { allowedServerIdentity } from '../../src/util/certificate-rule.js';
import { EntryType, MessageType, emptyMessage, type Entry, type Message, type NodeId } from '../../src/raft/types.js';

const HOST = '127.0.0.1';
const CLUSTER = 2 ** 40 + 9;
const MiB = 1024 * 1024;

const silent = pino({ level: 'silent' });
t.setTimeout(60_000);

/** A pino logger whose JSON lines are kept, with a way to await a line. */
class LogCapture {
  readonly lines: Array<Record<string, unknown>> = [];
  private readonly waiters = new Set<() => void>();
  readonly logger: Logger = pino({ level: 'debug' }, {
    write: (s: string) => {
      this.lines.push(JSON.parse(s) as Record<string, unknown>);
      for (const w of [...this.waiters]) w();
    },
  });

  find(pred: (l: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
    return this.lines.find(pred);
  }

  waitFor(pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    const hit = this.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve) => {
      const w = (): void => {
        const h = this.find(pred);
        if (h) {
          this.waiters.delete(w);
          resolve(h);
        }
      };
      this.waiters.add(w);
    });
  }
}

const WARN = 40;

/** One transport plus everything its callbacks reported. */
class Member {
  readonly inbox: Message[] = [];
  readonly ups: NodeId[] = [];
  readonly downs: NodeId[] = [];
  readonly snapStatus: Array<[NodeId, boolean]> = [];
  readonly tr: PeerTransport;
  private readonly checks = new Set<() => void>();

  private readonly tls: boolean;

  constructor(readonly id: NodeId, extra: Partial<TransportOptions> = {}, port = 0) {
    this.tls = extra.tls !== undefined;
    this.tr = new PeerTransport({
      id,
      clusterId: CLUSTER,
      listen: { host: HOST, port },
      peers: new Map(),
      logger: silent,
      onMessage: (m) => this.note(() => this.inbox.push(m)),
      onPeerUp: (p) => this.note(() => this.ups.push(p)),
      onPeerDown: (p) => this.note(() => this.downs.push(p)),
      onSnapshotStatus: (to, ok) => this.note(() => this.snapStatus.push([to, ok])),
      ...extra,
    });
  }

  get port(): number {
    return this.tr.address().port;
  }

  get url(): string {
    return `${this.tls ? 'wss' : 'ws'}://${HOST}:${this.port}`;
  }

  from(id: NodeId): Message[] {
    return this.inbox.filter((m) => m.from === id);
  }

  /** Resolves once `cond` holds; re-checked after every callback of this member. */
  until(cond: () => boolean): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve) => {
      const f = (): void => {
        if (cond()) {
          this.checks.delete(f);
          resolve();
        }
      };
      this.checks.add(f);
    });
  }

  stat(peer: NodeId) {
    const s = this.tr.stats().get(peer);
    if (!s) throw new Error(`no stats for ${peer}`);
    return s;
  }

  private note(f: () => void): void {
    f();
    for (const c of [...this.checks]) c();
  }
}

async function startAll(members: Member[]): Promise<void> {
  await Promise.all(members.map((m) => m.tr.start()));
  for (const a of members) for (const b of members) if (a !== b) a.tr.addPeer(b.id, b.url);
}

/** Every member sends one App to every other and waits for all of them: all connections are open. */
async function warmUp(members: Member[]): Promise<void> {
  for (const a of members) {
    a.tr.send(members.filter((b) => b !== a).map((b) => app(a.id, b.id, 0, [])));
  }
  await Promise.all(members.map((b) => b.until(() => b.inbox.length >= members.length - 1)));
  for (const m of members) m.inbox.length = 0;
}

function app(from: NodeId, to: NodeId, i: number, entries: Entry[]): Message {
  return { ...emptyMessage(MessageType.App, to, from, 2 ** 40 + 3), logTerm: 2 ** 33 + 1, index: 2 ** 53 - 1 - i, commit: i, entries };
}

function entries(n: number, size: () => number): Entry[] {
  return Array.from({ length: n }, (_, k) => ({
    term: 2 ** 35 + k,
    index: 2 ** 50 + k,
    type: k % 3 === 2 ? EntryType.ConfChange : EntryType.Normal,
    data: new Uint8Array(randomBytes(size())),
  }));
}

t.test('three transports exchange messages: exact bytes and numbers, one frame per tick, order kept', async (t) => {
  const A = new Member(2 ** 40 + 7);
  const B = new Member(2);
  const C = new Member(3);
  const all = [A, B, C];
  t.teardown(() => Promise.all(all.map((m) => m.tr.stop())));
  await startAll(all);
  await warmUp(all);
  t.ok(all.every((m) => m.ups.length === 2), 'every member saw both others up');
  t.ok(A.stat(B.id).connected && A.stat(C.id).connected && B.stat(A.id).connected);

  const toB: Message[] = [];
  const toC: Message[] = [];
  const toA: Message[] = [];
  for (let i = 0; i < 200; i++) {
    const m = app(A.id, B.id, i, entries(i % 4, () => (i % 7 === 0 ? 0 : 1 + ((i * 97) % 3000))));
    if (i % 5 === 0) m.logTerm = 2 ** 41 + i;
    if (i % 3 === 0) Object.assign(m, { type: MessageType.AppResp, reject: true, rejectHint: 2 ** 34 + i, context: 2 ** 36 });
    toB.push(m);
  }
  toB.push({ ...app(A.id, B.id, 999, [{ term: 1, index: 2, type: EntryType.Normal, data: new Uint8Array(randomBytes(256 * 1024)) }]) });
  toC.push({ ...app(A.id, C.id, 0, entries(2, () => 64)), type: MessageType.Prop, term: 0 });
  for (let i = 1; i < 100; i++) toC.push({ ...emptyMessage(MessageType.Heartbeat, C.id, A.id, 9), commit: i, context: 2 ** 45 + i });
  for (let i = 0; i < 50; i++) toA.push({ ...emptyMessage(MessageType.VoteResp, A.id, B.id, 2 ** 40 + i), reject: i % 2 === 0 });

  const before = { ab: A.stat(B.id), ac: A.stat(C.id), ba: B.stat(A.id) };
  // All in one tick, in several send() calls (as several Readies would).
  A.tr.send([...toB.slice(0, 100), ...toC.slice(0, 50)]);
  A.tr.send([...toC.slice(50), ...toB.slice(100)]);
  B.tr.send(toA);

  await Promise.all([B.until(() => B.inbox.length === toB.length), C.until(() => C.inbox.length === 100), A.until(() => A.inbox.length === 50)]);
  t.strictSame(B.inbox, toB, 'B received every message byte-exact and in order');
  t.strictSame(C.inbox, toC, 'C received the forwarded proposal and every heartbeat in order');
  t.strictSame(A.inbox, toA, 'A received every vote response in order');
  const e = B.inbox.find((m) => m.entries.length > 0)!.entries[0]!;
  t.equal(e.data.constructor, Uint8Array, 'entry data is a plain Uint8Array');
  const multi = [...B.inbox, ...C.inbox].find((m) => m.entries.length > 1)!;
  const buf = multi.entries[0]!.data.buffer;
  t.ok(multi.entries.every((x) => x.data.buffer === buf), "one message's entries share one buffer (one allocation per message)");
  t.equal(buf.byteLength, multi.entries.reduce((n, x) => n + x.data.length, 0), 'which holds their data and nothing of the frame');
  t.equal(typeof B.inbox[0]!.index, 'number');
  t.equal(B.inbox[0]!.index, 2 ** 53 - 1);
  t.equal(B.inbox[0]!.from, 2 ** 40 + 7, 'an id above 2^32 is intact');

  const after = { ab: A.stat(B.id), ac: A.stat(C.id), ba: B.stat(A.id) };
  t.equal(after.ab.framesSent - before.ab.framesSent, 1, '201 messages for B in one tick: one frame');
  t.equal(after.ab.messagesSent - before.ab.messagesSent, 201);
  t.equal(after.ac.framesSent - before.ac.framesSent, 1, '100 messages for C in one tick: one frame');
  t.equal(after.ba.framesSent - before.ba.framesSent, 1, '50 messages for A in one tick: one frame');
  t.equal(B.stat(A.id).framesReceived, 2, 'B received the warm-up frame and the batch');
  t.equal(B.stat(A.id).bytesReceived, after.ab.bytesSent, 'B counted the bytes of every frame A sent it');
  t.equal(B.stat(A.id).messagesReceived, after.ab.messagesSent, 'and every message');
  t.equal(after.ab.dropped, 0);

  // The next tick is a new frame.
  A.tr.send([app(A.id, B.id, 1, [])]);
  await B.until(() => B.inbox.length === toB.length + 1);
  t.equal(A.stat(B.id).framesSent - after.ab.framesSent, 1);
});

t.test('a send that may wait leaves at the end of the turn; a send meanwhile takes it along, in order', async (t) => {
  const A = new Member(1);
  const B = new Member(2);
  t.teardown(() => Promise.all([A.tr.stop(), B.tr.stop()]));
  await startAll([A, B]);
  await warmUp([A, B]);
  const frames = () => A.stat(B.id).framesSent;
  const start = frames();

  A.tr.send([app(A.id, B.id, 1, [])], false);
  for (let i = 0; i < 5; i++) await Promise.resolve();
  t.equal(frames(), start, 'not sent while the microtasks of this turn run');
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.equal(frames(), start + 1, 'sent at the end of the turn');
  await B.until(() => B.inbox.length === 1);
  t.equal(B.inbox[0]!.commit, 1);

  A.tr.send([app(A.id, B.id, 2, [])], false);
  A.tr.send([app(A.id, B.id, 3, [])]);
  await Promise.resolve();
  t.equal(frames(), start + 2, 'a send that may not wait flushes both at once, as one frame');
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.equal(frames(), start + 2, 'and nothing is left for the end of the turn');
  await B.until(() => B.inbox.length === 3);
  t.strictSame(B.inbox.map((m) => m.commit), [1, 2, 3], 'in the order they were sent');
});

t.test('round trips: each open connection is pinged and the answer measured, per peer', async (t) => {
  const trips: Array<[NodeId, NodeId, number]> = [];
  const tripsOf = (from: NodeId, to: NodeId) => trips.filter(([f, tt]) => f === from && tt === to);
  let wake: () => void = () => undefined;
  const member = (id: NodeId) =>
    new Member(id, {
      probeIntervalMs: 5,
      onRoundTrip: (to, seconds) => {
        trips.push([id, to, seconds]);
        wake();
      },
    });
  const A = member(21);
  const B = member(22);
  const C = new Member(23, { probeIntervalMs: 0, onRoundTrip: (to) => trips.push([23, to, NaN]) });
  t.teardown(() => Promise.all([A, B, C].map((m) => m.tr.stop())));
  await startAll([A, B, C]);
  await warmUp([A, B, C]);
  const enough = () => [[21, 22], [21, 23], [22, 21], [22, 23]].every(([f, to]) => tripsOf(f!, to!).length >= 3);
  await new Promise<void>((resolve) => {
    wake = () => enough() && resolve();
    wake();
  });
  t.ok(trips.filter(([f]) => f !== 23).every(([, , s]) => Number.isFinite(s) && s > 0), 'every round trip is a positive number of seconds');
  t.equal(trips.filter(([f]) => f === 23).length, 0, 'a transport with probeIntervalMs 0 measures nothing');

  // A connection that closes stops its probe: after B stops, A measures only C.
  await B.tr.stop();
  await A.until(() => A.downs.includes(22));
  const toB = tripsOf(21, 22).length;
  const toC = tripsOf(21, 23).length;
  await new Promise<void>((resolve) => {
    wake = () => tripsOf(21, 23).length >= toC + 3 && resolve();
  });
  t.equal(tripsOf(21, 22).length, toB, 'no round trip to a peer whose connection is gone');
});

t.test('reconnect: a peer restarts at the same address', async (t) => {
  const A = new Member(11);
  const B = new Member(12);
  t.teardown(() => A.tr.stop());
  await startAll([A, B]);
  await warmUp([A, B]);
  t.same(A.ups, [12]);

  await B.tr.stop();
  await A.until(() => A.downs.length === 1);
  t.same(A.downs, [12], 'onPeerDown once for the drop');
  t.notOk(A.stat(12).connected);

  const B2 = new Member(12, { peers: new Map([[A.id, A.url], [12, 'ws://ignored.invalid:1']]) }, B.port);
  t.teardown(() => B2.tr.stop());
  await B2.tr.start();
  await A.until(() => A.ups.length === 2);
  t.same(A.ups, [12, 12], 'onPeerUp on reconnect');

  A.tr.send([app(A.id, 12, 1, entries(2, () => 100))]);
  B2.tr.send([app(12, A.id, 2, [])]);
  await Promise.all([B2.until(() => B2.inbox.length === 1), A.until(() => A.inbox.length === 1)]);
  t.equal(B2.inbox[0]!.entries.length, 2, 'messages flow to the restarted peer');
  t.equal(A.inbox[0]!.from, 12, 'and from it');
  t.same(A.downs, [12], 'no further onPeerDown while reconnecting');
  t.equal(A.stat(12).reconnects, 1);
  t.ok(A.stat(12).connected);
});

t.test('refusals, garbage and oversized frames are logged; good peers keep being served', async (t) => {
  const logA = new LogCapture();
  const A = new Member(21, { logger: logA.logger, maxFrameBytes: 256 * 1024 });
  const B = new Member(22, { maxFrameBytes: 256 * 1024 });
  const ghost = 23; // a member A knows, played here by raw WebSocket clients
  const logF = new LogCapture();
  const F = new Member(22, { clusterId: CLUSTER + 1, logger: logF.logger }); // another cluster's member 22
  t.teardown(() => Promise.all([A, B, F].map((m) => m.tr.stop())));
  await startAll([A, B]);
  await F.tr.start();
  A.tr.addPeer(ghost, 'ws://127.0.0.1:1');
  await warmUp([A, B]);

  const headers = (o: { cluster?: number; from?: number; to?: number } = {}) => ({
    'x-flotilla-cluster': String(o.cluster ?? CLUSTER),
    'x-flotilla-from': String(o.from ?? ghost),
    'x-flotilla-to': String(o.to ?? A.id),
  });
  const refused = (h: Record<string, string>) =>
    new Promise<{ status: number; reason: string }>((resolve, reject) => {
      const ws = new WebSocket(A.url, { headers: h, perMessageDeflate: false });
      ws.on('open', () => reject(new Error('accepted')));
      ws.on('error', () => {});
      ws.on('unexpected-response', (_req, res) => {
        resolve({ status: res.statusCode!, reason: String(res.headers['x-flotilla-reason']) });
        res.resume();
        ws.terminate();
      });
    });

  const foreign = await refused(headers({ cluster: CLUSTER + 1 }));
  t.equal(foreign.status, 403);
  t.match(foreign.reason, /foreign cluster id/);
  t.ok(await logA.waitFor((l) => l.level === WARN && /foreign cluster id/.test(String(l.reason))), 'logged at warn');

  const unknown = await refused(headers({ from: 99 }));
  t.equal(unknown.status, 403);
  t.match(unknown.reason, /unknown member id 99/);
  t.ok(await logA.waitFor((l) => l.level === WARN && /unknown member id 99/.test(String(l.reason))));

  const target = await refused(headers({ to: 22 }));
  t.equal(target.status, 403);
  t.match(target.reason, /wrong target id 22/);

  // A whole transport of another cluster is refused too, and says so in its own log.
  F.tr.addPeer(A.id, A.url);
  t.ok(await logF.waitFor((l) => l.level === WARN && /peer refused the connection: HTTP 403: foreign cluster id/.test(String(l.msg))));

  // Accepted connections that then misbehave.
  const accepted = () =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(A.url, { headers: headers(), perMessageDeflate: false });
      ws.on('open', () => resolve(ws));
      ws.on('error', () => {});
      ws.on('unexpected-response', () => reject(new Error('refused')));
    });
  const closed = (ws: WebSocket) => new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));

  let ws = await accepted();
  let code = closed(ws);
  ws.send(randomBytes(4096));
  t.equal(await code, 1007, 'random bytes: closed as invalid payload');
  t.ok(await logA.waitFor((l) => l.level === WARN && /undecodable frame/.test(String(l.msg))));

  ws = await accepted();
  code = closed(ws);
  ws.send(Buffer.concat([Buffer.from([0x01]), randomBytes(4096)]));
  t.equal(await code, 1007, 'a batch frame of random msgpack: closed as invalid payload');

  ws = await accepted();
  code = closed(ws);
  ws.send(Buffer.alloc(300 * 1024, 1));
  t.equal(await code, 1009, 'a frame above maxFrameBytes: closed as too big');
  t.ok(await logA.waitFor((l) => l.level === WARN && /larger than maxFrameBytes/.test(String(l.msg))));

  // A well-formed frame with one message claiming to be from B: that one is dropped.
  ws = await accepted();
  const codec = new Codec();
  ws.send(codec.encodeBatch([app(22, A.id, 5, []), app(ghost, A.id, 6, []), app(ghost, 77, 7, [])]));
  await A.until(() => A.inbox.length === 1);
  t.equal(A.inbox[0]!.from, ghost, 'only the message whose from/to match the connection is delivered');
  t.ok(await logA.waitFor((l) => l.level === WARN && /does not match the connection/.test(String(l.msg)) && l.from === 22));
  t.ok(await logA.waitFor((l) => l.level === WARN && /does not match the connection/.test(String(l.msg)) && l.to === 77));
  code = closed(ws);
  ws.close();
  await code;

  // The good peer is still served, both ways.
  A.inbox.length = 0;
  B.tr.send([app(B.id, A.id, 1, entries(3, () => 1000))]);
  A.tr.send([app(A.id, B.id, 2, [])]);
  await Promise.all([A.until(() => A.inbox.length === 1), B.until(() => B.inbox.length === 1)]);
  t.equal(A.inbox[0]!.entries.length, 3, 'A still receives from B');
  t.notOk(A.downs.includes(B.id), 'B was never seen down');
  t.equal(A.stat(B.id).reconnects, 0);
});

t.test('a 20 MiB snapshot arrives whole, in chunks, with onSnapshotStatus(to, true)', async (t) => {
  const A = new Member(31);
  const B = new Member(32);
  t.teardown(() => Promise.all([A, B].map((m) => m.tr.stop())));
  await startAll([A, B]);
  const ghost = 33;
  A.tr.addPeer(ghost, 'ws://127.0.0.1:1');
  await warmUp([A, B]);

  const data = new Uint8Array(randomBytes(20 * MiB));
  const meta = { index: 2 ** 40, term: 7, confState: { voters: [31, 32], learners: [2 ** 40 + 1] } };
  const snap: Message = { ...emptyMessage(MessageType.Snap, B.id, A.id, 7), snapshot: { meta, data } };
  const before = A.stat(B.id);
  A.tr.send([snap, app(A.id, B.id, 1, [])]);
  A.tr.send([{ ...snap, to: ghost }]);
  setImmediate(() => A.tr.send([app(A.id, B.id, 2, [])])); // a later message may overtake the chunks

  await Promise.all([
    B.until(() => B.inbox.length === 3),
    A.until(() => A.snapStatus.some(([to]) => to === B.id) && A.snapStatus.some(([to]) => to === ghost)),
  ]);
  const got = B.inbox.find((m) => m.type === MessageType.Snap)!;
  t.ok(got, 'the Snap message was delivered');
  t.same(got.snapshot!.meta, meta);
  t.equal(got.snapshot!.data.length, data.length);
  t.ok(Buffer.from(got.snapshot!.data.buffer, got.snapshot!.data.byteOffset, got.snapshot!.data.length).equals(data), 'byte-exact');
  t.same({ ...got, snapshot: undefined }, { ...snap, snapshot: undefined }, 'the other fields are intact');
  t.same(B.inbox.filter((m) => m.type === MessageType.App).map((m) => m.commit), [1, 2]);
  t.same(A.snapStatus.find(([to]) => to === B.id), [B.id, true], 'onSnapshotStatus(to, true)');
  t.same(A.snapStatus.find(([to]) => to === ghost), [ghost, false], 'an unreachable peer: onSnapshotStatus(to, false)');
  const after = A.stat(B.id);
  t.equal(after.snapshotChunksSent - before.snapshotChunksSent, 20, '20 chunks of 1 MiB');
  t.ok(after.framesSent - before.framesSent > 20, 'chunk frames plus the App frames');
});

t.test('a snapshot given as pieces arrives as one byte string: chunks cut across pieces, empty pieces skipped', async (t) => {
  const A = new Member(34);
  const B = new Member(35);
  t.teardown(() => Promise.all([A, B].map((m) => m.tr.stop())));
  await startAll([A, B]);
  await warmUp([A, B]);
  // Chunks of 1 MiB: pieces smaller and larger than a chunk, ending inside and at its edges.
  const sizes = [3, 0, MiB - 3, 2 * MiB + 17, 0, 5, MiB, 1];
  const pieces = sizes.map((n) => new Uint8Array(randomBytes(n)));
  const whole = Buffer.concat(pieces);
  const meta = { index: 900, term: 3, confState: { voters: [34, 35], learners: [] } };
  const before = A.stat(B.id);
  A.tr.send([{ ...emptyMessage(MessageType.Snap, B.id, A.id, 3), snapshot: { meta, data: new Uint8Array(0), pieces } }]);
  await Promise.all([B.until(() => B.inbox.length === 1), A.until(() => A.snapStatus.some(([to]) => to === B.id))]);
  const got = B.inbox[0]!.snapshot!;
  t.same(got.meta, meta);
  t.equal(got.data.length, whole.length, `${whole.length} bytes`);
  t.ok(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.length).equals(whole), 'byte-exact, pieces in order');
  t.equal(got.pieces, undefined, 'the receiver gets the data, not pieces');
  t.equal(A.stat(B.id).snapshotChunksSent - before.snapshotChunksSent, Math.ceil(whole.length / MiB), 'chunks of 1 MiB across the pieces');
  t.same(A.snapStatus, [[B.id, true]]);
});

t.test('bounded queue while a peer is unreachable; heartbeats are not kept', async (t) => {
  const A = new Member(41, { maxQueuedMessages: 10 });
  t.teardown(() => A.tr.stop());
  await A.tr.start();
  A.tr.addPeer(42, 'ws://127.0.0.1:1');
  A.tr.addPeer(43, 'not a url');
  const msgs = Array.from({ length: 25 }, (_, i) => app(41, 42, i, []));
  const beats = Array.from({ length: 5 }, () => emptyMessage(MessageType.Heartbeat, 42, 41, 1));
  A.tr.send([...msgs, ...beats, app(41, 43, 0, []), app(41, 99, 0, []), emptyMessage(MessageType.Hup, 42, 41, 1)]);
  await new Promise((resolve) => setImmediate(resolve)); // the flush runs on setImmediate
  const s = A.stat(42);
  t.equal(s.queued, 10);
  t.equal(s.dropped, 20, '15 over the bound, 5 heartbeats');
  t.equal(s.framesSent, 0);
  t.throws(() => new PeerTransport({ id: 0, clusterId: 1, listen: { host: HOST, port: 0 }, peers: new Map(), onMessage: () => {} }));
  t.throws(() => new PeerTransport({ id: 1, clusterId: 2 ** 53, listen: { host: HOST, port: 0 }, peers: new Map(), onMessage: () => {} }));
});

/** A member's peer TLS from the fixtures (test/fixtures/tls): `name`'s certificate, client certificates required. */
function peerTls(name: string): PeerTls {
  const pem = (f: string) => readFileSync(new URL(`../fixtures/tls/${f}`, import.meta.url));
  const [cert, key, ca] = [pem(`${name}.pem`), pem(`${name}-key.pem`), pem('ca.pem')];
  return { server: { cert, key, ca, requestCert: true, rejectUnauthorized: true }, dial: { cert, key, ca } };
}

/** The name in the certificate served to a new connection, or the error of one refused. */
function served(port: number, withCert: boolean): Promise<string> {
  const tls = peerTls('member').dial;
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port, ca: tls.ca, ...(withCert ? { cert: tls.cert, key: tls.key } : {}) }, () => {
      const cn = String(socket.getPeerCertificate().subject.CN);
      // Under TLS 1.3 the server checks the client's certificate after this: wait for its verdict.
      socket.once('data', () => undefined);
      socket.once('error', (e) => resolve(e.message));
      socket.once('close', () => resolve(cn));
      socket.end();
    });
    socket.on('error', (e) => resolve(e.message));
  });
}

t.test('TLS (wss): members with certificates exchange messages; a dial without one is refused; a rotated certificate is served to the next connections', async (t) => {
  const log = new LogCapture();
  const A = new Member(31, { tls: peerTls('member'), logger: log.logger });
  const B = new Member(32, { tls: peerTls('member') });
  t.teardown(() => Promise.all([A.tr.stop(), B.tr.stop()]));
  await startAll([A, B]);
  t.match(A.url, /^wss:/);
  await warmUp([A, B]);
  A.tr.send([app(A.id, B.id, 1, entries(3, () => 64))]);
  await B.until(() => B.inbox.length === 1);
  t.equal(B.inbox[0]!.entries.length, 3, 'a message went over TLS');
  t.equal(await served(A.port, true), 'member');
  t.match(await served(A.port, false), /certificate required|ECONNRESET|socket hang up/, 'no client certificate: refused');
  await log.waitFor((l) => l.msg === 'refused peer connection' && String(l.reason).startsWith('TLS handshake failed'));
  A.tr.setTls(peerTls('member2'));
  t.equal(await served(A.port, true), 'member2', 'the rotated certificate, from the next connection on');
  B.tr.send([app(B.id, A.id, 2, [])]);
  await A.until(() => A.from(B.id).length === 1);
  t.ok(A.stat(B.id).connected, 'the connections open before keep working');
});

t.test("a dialing member checks the dialed one's certificate against its allowed CN too (as etcd's --peer-cert-allowed-cn)", async (t) => {
  const log = new LogCapture();
  const allowing = (cn: string): PeerTls => {
    const p = peerTls('member');
    return { ...p, dial: { ...p.dial, checkServerIdentity: allowedServerIdentity({ cn }) } };
  };
  const A = new Member(51, { tls: allowing('member'), logger: log.logger });
  const B = new Member(52, { tls: peerTls('member2') });
  const C = new Member(53, { tls: allowing('member2') });
  t.teardown(() => Promise.all([A.tr.stop(), B.tr.stop(), C.tr.stop()]));
  await startAll([A, B, C]);
  A.tr.send([app(A.id, B.id, 1, [])]);
  const refused = await log.waitFor((l) => String(l.msg).startsWith('peer certificate refused'));
  t.equal(refused.msg, `peer certificate refused: the certificate's CN "member2" is not the allowed "member"`, 'B serves CN member2: A does not connect');
  t.equal(refused.level, WARN);
  C.tr.send([app(C.id, B.id, 1, [])]);
  await B.until(() => B.from(C.id).length === 1);
  t.pass('C, which allows CN member2, reaches B');
  t.same(B.from(A.id), [], 'nothing from A');
  t.notOk(A.stat(B.id).connected);
});

t.test('codec: round trips and rejects malformed frames', async (t) => {
  const codec = new Codec();
  const { Packr } = await import('msgpackr');
  const packr = new Packr({ useRecords: false });
  const batch = (v: unknown) => Buffer.concat([Buffer.from([0x01]), packr.pack(v)]);
  const chunk = (h: unknown, data = Buffer.alloc(0)) => {
    const hb = h === undefined ? Buffer.alloc(0) : packr.pack(h);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(hb.length);
    return Buffer.concat([Buffer.from([0x02]), len, hb, data]);
  };
  const tuple = (over: Record<number, unknown> = {}, len = 11) => {
    const t: unknown[] = [10, 2, 1, 3, 2, 5, 4, false, 0, 0, [], [1, 1, [1], [], new Uint8Array(1)]].slice(0, len);
    for (const [k, v] of Object.entries(over)) t[Number(k)] = v;
    return t;
  };

  // A snapshot inline in a batch (a non-chunked message carrying one) survives.
  const withSnap: Message = {
    ...app(1, 2, 0, []),
    snapshot: { meta: { index: 9, term: 2, confState: { voters: [1, 2], learners: [] } }, data: new Uint8Array([1, 2, 3]) },
  };
  const d = codec.decode(codec.encodeBatch([withSnap]));
  t.strictSame(d, { kind: 'batch', messages: [withSnap], invalid: 0 });

  // uint64 written by another encoder comes back as a number.
  const u64 = Buffer.from('cf0000010000000007', 'hex'); // 2^40 + 7
  const frame = Buffer.concat([Buffer.from([0x01, 0x91, 0x9b, 0x0a, 0x02]), u64, Buffer.from('00000000c2000090', 'hex')]);
  const dm = codec.decode(frame);
  t.equal(dm.kind === 'batch' && dm.messages[0]!.from, 2 ** 40 + 7);

  // Unknown message types are skipped and counted, not fatal.
  const unk = codec.decode(batch([tuple({ 0: 5 }), tuple({ 0: 99 }), tuple()]));
  t.equal(unk.kind === 'batch' && unk.invalid, 2);
  t.equal(unk.kind === 'batch' && unk.messages.length, 1);

  const bad: Array<[string, Buffer]> = [
    ['empty', Buffer.from([0x01])],
    ['unknown kind', Buffer.from([0x07, 0x90])],
    ['not an array', batch({ a: 1 })],
    ['short tuple', batch([[10, 2, 1]])],
    ['bad field', batch([tuple({ 3: -1 })])],
    ['float term', batch([tuple({ 3: 1.5 })])],
    ['string id', batch([tuple({ 1: '2' })])],
    ['bad entry', batch([tuple({ 10: [[1, 2, 0, 'x']] })])],
    ['too long', batch([[...tuple({}, 12), 1]])],
    ['bad snapshot', batch([tuple({ 11: [1, 1, ['x'], []] }, 12)])],
    ['bad snapshot data', batch([tuple({ 11: [1, 1, [], [], 'x'] }, 12)])],
    ['trailing bytes', Buffer.concat([batch([]), Buffer.from([0x01])])],
    ['chunk too short', Buffer.from([0x02, 0, 0])],
    ['chunk header length', chunk(undefined)],
    ['chunk header shape', chunk([1, 2, 3])],
    ['chunk header types', chunk([1, 2, 0, 10, 'yes'])],
    ['chunk header message not a Snap', chunk([1, 2, 0, 10, false, tuple()])],
  ];
  for (const [name, f] of bad) t.throws(() => codec.decode(f), { code: 'BAD_FRAME' }, name);
});

t.test('snapshot reassembly rejects chunks out of sequence', async (t) => {
  const { SnapshotAssembler, SnapshotChunker } = await import('../../src/raft/transport/snapshot-chunks.js');
  const codec = new Codec();
  const meta = { index: 5, term: 2, confState: { voters: [1], learners: [] } };
  const snap: Message = { ...emptyMessage(MessageType.Snap, 2, 1, 2), snapshot: { meta, data: new Uint8Array(randomBytes(10)) } };
  const chunker = new SnapshotChunker(snap, codec, 4);
  const frames: Buffer[] = [];
  for (let f = chunker.next(); f; f = chunker.next()) frames.push(f);
  t.equal(frames.length, 3);
  t.equal(chunker.next(), undefined);
  const chunks = frames.map((f) => {
    const d = codec.decode(f);
    if (d.kind !== 'chunk') throw new Error('not a chunk');
    return d;
  });
  const ok = new SnapshotAssembler(100);
  t.equal(ok.accept(chunks[0]!.header, chunks[0]!.data), undefined);
  t.ok(ok.inProgress);
  t.equal(ok.accept(chunks[1]!.header, chunks[1]!.data), undefined);
  t.strictSame(ok.accept(chunks[2]!.header, chunks[2]!.data), snap);

  const a = new SnapshotAssembler(100);
  t.throws(() => a.accept(chunks[1]!.header, chunks[1]!.data), { code: 'PROTOCOL' }, 'no start');
  a.accept(chunks[0]!.header, chunks[0]!.data);
  t.throws(() => a.accept(chunks[2]!.header, chunks[2]!.data), { code: 'PROTOCOL' }, 'gap');
  t.notOk(a.inProgress, 'a broken sequence is forgotten');
  t.throws(() => a.accept({ ...chunks[0]!.header, message: undefined }, chunks[0]!.data), { code: 'PROTOCOL' }, 'start without message');
  t.throws(() => new SnapshotAssembler(5).accept(chunks[0]!.header, chunks[0]!.data), { code: 'TOO_LARGE' });
  t.throws(() => new SnapshotChunker(emptyMessage(MessageType.Snap, 2, 1, 1), codec, 4), { code: 'PROTOCOL' });

  const empty: Message = { ...snap, snapshot: { meta, data: new Uint8Array(0) } };
  const one = new SnapshotChunker(empty, codec, 4);
  const f = codec.decode(one.next()!);
  t.ok(one.done);
  t.strictSame(f.kind === 'chunk' && new SnapshotAssembler(10).accept(f.header, f.data), empty, 'an empty snapshot is one chunk');
});

t.test('membership changes, URL changes, frame limits on the sending side, failures mid-snapshot', async (t) => {
  const logA = new LogCapture();
  const A = new Member(51, { logger: logA.logger, maxFrameBytes: 256 * 1024 });
  const B = new Member(52, { maxFrameBytes: 256 * 1024, maxSnapshotBytes: 200 * 1024 });
  const C = new Member(53, { maxFrameBytes: 256 * 1024 });
  t.teardown(() => Promise.all([A, B, C].map((m) => m.tr.stop())));
  await startAll([A, B]);
  await C.tr.start();
  await warmUp([A, B]);

  // Sending side: a batch above maxFrameBytes is split; a single message above it is dropped.
  const before = A.stat(B.id);
  const big = (i: number) => app(A.id, B.id, i, [{ term: 1, index: i, type: EntryType.Normal, data: new Uint8Array(100 * 1024) }]);
  A.tr.send([big(1), big(2), big(3), app(A.id, B.id, 4, entries(1, () => 300 * 1024))]);
  await B.until(() => B.inbox.length === 3);
  const after = A.stat(B.id);
  t.ok(after.framesSent - before.framesSent >= 2, 'split into several frames');
  t.equal(after.dropped - before.dropped, 1, 'the oversized message was dropped');
  t.ok(await logA.waitFor((l) => /larger than maxFrameBytes; dropped/.test(String(l.msg))));
  t.same(B.inbox.map((m) => m.commit), [1, 2, 3]);

  // A snapshot that the receiver refuses mid-way (above its maxSnapshotBytes): onSnapshotStatus false.
  const meta = { index: 3, term: 1, confState: { voters: [51, 52], learners: [] } };
  const snap = (n: number): Message => ({ ...emptyMessage(MessageType.Snap, B.id, A.id, 1), snapshot: { meta, data: new Uint8Array(n) } });
  A.tr.send([snap(20 * MiB)]);
  await A.until(() => A.snapStatus.length === 1);
  t.same(A.snapStatus, [[B.id, false]], 'connection failed mid-snapshot');

  // Two Snaps queued in one tick: the older one is replaced and reported failed; one without data is dropped.
  A.snapStatus.length = 0;
  A.tr.send([snap(1000), snap(2000), emptyMessage(MessageType.Snap, B.id, A.id, 1), { ...snap(10), to: 999 }]);
  await A.until(() => A.snapStatus.length === 3);
  t.same(A.snapStatus.filter(([, ok]) => ok), [[B.id, true]]);
  t.equal(A.snapStatus.filter(([, ok]) => !ok).length, 2, 'replaced + unknown peer');
  await B.until(() => B.inbox.some((m) => m.type === MessageType.Snap));
  t.equal(B.inbox.find((m) => m.type === MessageType.Snap)!.snapshot!.data.length, 2000);

  // A text frame and a plain HTTP request on the listener.
  const res = await fetch(`http://${HOST}:${A.port}/`);
  t.equal(res.status, 426);
  await res.text();

  // The member's URL changes (moved to C's listener, C takes over id 52? no: C is a new member 53).
  A.tr.addPeer(C.id, B.url); // wrong URL first: B refuses ("wrong target id")
  C.tr.addPeer(A.id, A.url);
  A.tr.addPeer(C.id, C.url); // corrected
  A.tr.addPeer(C.id, C.url); // no-op
  A.tr.send([app(A.id, C.id, 1, [])]);
  await C.until(() => C.inbox.length === 1);
  t.equal(C.inbox[0]!.from, A.id, 'messages follow the new URL');

  // removePeer: both directions closed, and the removed member is refused afterwards.
  A.tr.send([snap(5 * MiB)]);
  A.tr.removePeer(B.id);
  A.tr.removePeer(B.id); // no-op
  t.notOk(A.tr.stats().has(B.id));
  await A.until(() => A.snapStatus.length === 4);
  t.same(A.snapStatus[3], [B.id, false], 'a pending snapshot to a removed peer fails');
  B.tr.send([app(B.id, A.id, 9, [])]);
  t.ok(await logA.waitFor((l) => /unknown member id 52/.test(String(l.reason))), 'B is now an unknown member');
  t.notOk(A.downs.includes(B.id), 'no onPeerDown for a removed peer');
});

t.test('a throwing onMessage is logged and the connection keeps working; text frames close', async (t) => {
  const logA = new LogCapture();
  let calls = 0;
  const A = new Member(61, {
    logger: logA.logger,
    onMessage: () => {
      calls++;
      throw new Error('boom');
    },
  });
  const B = new Member(62);
  t.teardown(() => Promise.all([A, B].map((m) => m.tr.stop())));
  await startAll([A, B]);
  B.tr.send([app(62, 61, 1, []), app(62, 61, 2, [])]);
  await logA.waitFor((l) => /onMessage threw/.test(String(l.msg)) && calls === 2);
  t.equal(calls, 2);

  const ws = new WebSocket(A.url, { headers: { 'x-flotilla-cluster': String(CLUSTER), 'x-flotilla-from': '62', 'x-flotilla-to': '61' } });
  await new Promise((resolve) => ws.on('open', resolve));
  const code = new Promise<number>((resolve) => ws.on('close', resolve));
  ws.send('hello');
  t.equal(await code, 1007);
  t.ok(await logA.waitFor((l) => /text frame/.test(String(l.msg))));
  const proto = new WebSocket(A.url, { headers: { 'x-flotilla-cluster': String(CLUSTER), 'x-flotilla-from': '62', 'x-flotilla-to': '61', 'x-flotilla-proto': '9' } });
  proto.on('error', () => {});
  const status = await new Promise<number>((resolve) => proto.on('unexpected-response', (_q, r) => { resolve(r.statusCode!); r.resume(); proto.terminate(); }));
  t.equal(status, 403, 'an unknown protocol version is refused');

  await t.rejects(new Member(63, {}, A.port).tr.start(), 'a taken port fails start()');
  const early = new Member(64);
  const starting = early.tr.start();
  await early.tr.stop(); // stop while binding: the listener closes once bound
  await starting;
  await t.rejects(early.tr.start(), 'a transport starts once');
  await A.tr.stop();
  A.tr.send([app(61, 62, 1, [])]); // after stop: ignored
  A.tr.addPeer(64, 'ws://127.0.0.1:1');
  t.equal(A.tr.stats().has(64), false);
});
