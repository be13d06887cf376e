// The client port's fast path (src/server/http/fast-connection.ts) over raw TCP sockets: its answers
// are byte for byte Node's, pipelined requests are answered in order (across a hand-over to Node's
// server too), split and large bodies are read, Connection: close, every hand-over shape is
// answered by Node, idle connections time out, slow readers are not flooded, and a front end close
// or a client gone mid-request are handled.
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import type * as api from '../../src/kv/api.js';
import { FastConnection } from '../../src/server/http/fast-connection.js';
import type { ResponseSink } from '../../src/server/http/responses.js';
import { Errors } from '../../src/util/errors.js';
import { b64, hdr, startHarness, until, type Harness } from './helpers.js';
import { GET_HEALTH, RawClient, header, noDate, post } from './raw-http.js';

/** Counts the requests Node's http.Server reads (the fast path's are not seen by it). */
function countNode(h: Harness): { readonly n: number } {
  const c = { n: 0 };
  h.srv.server.on('request', () => c.n++);
  return c;
}

/** The server side of the next connection accepted. */
function nextServerSocket(h: Harness): Promise<Socket> {
  return new Promise((resolve) => h.srv.server.once('connection', resolve));
}

/** Makes the service's range wait for `release()`; `called` resolves when a range arrives. */
function gateRange(h: Harness): { called: Promise<void>; release(fail?: unknown): void; restore(): void } {
  const svc = h.svc;
  const orig = svc.range;
  let onCall!: () => void;
  const called = new Promise<void>((r) => (onCall = r));
  let resume!: (fail?: unknown) => void;
  const gate = new Promise<unknown>((r) => (resume = r));
  svc.range = async (req: api.RangeRequest): Promise<api.RangeResponse> => {
    onCall();
    const fail = await gate;
    if (fail !== undefined) throw fail;
    return orig.call(svc, req);
  };
  return { called, release: (fail?: unknown) => resume(fail), restore: () => (svc.range = orig) };
}

async function open(t: Test, port: number): Promise<RawClient> {
  const c = await RawClient.open(port);
  t.teardown(() => c.destroy());
  return c;
}

const range = (key: string, extra = ''): string => post('/v3/kv/range', `{"key":"${b64(key)}"}`, extra);
const put = (key: string, value: string, extra = ''): string => post('/v3/kv/put', `{"key":"${b64(key)}","value":"${b64(value)}"}`, extra);
const kvBody = (h: Harness, key: string, value: string, rev: number, create = rev, version = 1): string =>
  `{"header":${hdr(h.svc)},"kvs":[{"key":"${b64(key)}","create_revision":"${create}","mod_revision":"${rev}","version":"${version}","value":"${b64(value)}"}],"count":"1"}`;

/** A subtest that fails rather than hangs. */
const test = (name: string, fn: (t: Test) => Promise<void>): void => {
  t.test(name, { timeout: 60_000 }, fn);
};

let h: Harness;
let node: { readonly n: number };
t.before(async () => {
  h = await startHarness();
  node = countNode(h);
});
t.teardown(() => h.close());

// ---- 1. byte identity ---------------------------------------------------------------------------

test('the fast path writes the bytes Node writes (but the Date)', async (t) => {
  // Two members with the same history: one answers on the fast path, one on a connection handed
  // to Node's server first (by GET /health).
  const fast = await startHarness();
  const slow = await startHarness();
  t.teardown(() => Promise.all([fast.close(), slow.close()]));
  const fastNode = countNode(fast);
  const slowNode = countNode(slow);
  const cases: Array<[string, string]> = [
    ['put (200)', put('foo', 'bar')],
    ['range (200)', range('foo')],
    ['range of nothing (200)', range('nothing')],
    ['txn (200)', post('/v3/kv/txn', `{"compare":[{"key":"${b64('foo')}","target":"VERSION","version":"1"}],"success":[{"request_range":{"key":"${b64('foo')}"}}]}`)],
    ['lease grant (200)', post('/v3/lease/grant', '{"TTL":60}')],
    ['/v3beta alias (200)', post('/v3beta/kv/range', `{"key":"${b64('foo')}"}`)],
    ['empty body (200)', post('/v3/maintenance/status', '')],
    ['body that does not decode (400)', post('/v3/kv/range', '{bad')],
    ['non-ASCII in a decode error (400)', post('/v3/kv/range', Buffer.from('{"key":"Zm9v","sort_order":"\u00fc\u20ac"}', 'utf8').toString('latin1'))],
    ['lease revoke of an unknown lease (404, chunked with a trailer)', post('/v3/lease/revoke', '{"ID":"12345"}')],
    ['range of an empty key (400, chunked with a trailer)', post('/v3/kv/range', '{}')],
    ['put too large for Raft (400)', post('/v3/kv/put', `{"key":"${b64('big')}","value":"${Buffer.alloc(1_600_000).toString('base64')}"}`)],
    ['Connection: close (200)', range('foo', 'Connection: close\r\n')],
  ];
  const a = await open(t, fast.port);
  const b = await open(t, slow.port);
  await b.write(GET_HEALTH);
  t.equal((await b.response()).status, 200);
  for (const [name, req] of cases) {
    await a.write(Buffer.from(req, 'latin1'));
    await b.write(Buffer.from(req, 'latin1'));
    const [ra, rb] = [await a.response(), await b.response()];
    t.equal(noDate(ra.raw), noDate(rb.raw), name);
    t.match(header(ra, 'Date'), /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/, `${name}: a Date`);
  }
  await a.waitEnd();
  await b.waitEnd();
  t.equal(fastNode.n, 0, 'the fast member served every request itself');
  t.equal(slowNode.n, cases.length + 1, "the other member's were served by Node");
});

test('RawResponse writes what ServerResponse writes, for other header lists too', async (t) => {
  type Answer = (res: ResponseSink) => void;
  const answers: Array<[string, Answer]> = [
    ['no Content-Length, no trailers', (res) => (res.writeHead(200, ['Content-Type', 'text/plain']), res.end('h\u00e9llo'))],
    ['no Content-Length, empty body', (res) => (res.writeHead(503, ['X-A', 'b']), res.end())],
    ['trailers', (res) => (res.writeHead(404, ['Trailer', 'X-T']), res.addTrailers({ 'X-T': 'v', 'X-U': 'w' }), res.end('{}'))],
    ['Connection: close from the handler', (res) => (res.writeHead(429, ['Connection', 'close', 'Content-Length', '2']), res.end('{}'))],
    ['Connection: keep-alive from the handler', (res) => (res.writeHead(200, ['connection', 'keep-alive', 'content-length', '0']), res.end())],
    ['an unknown status', (res) => (res.writeHead(599, ['Content-Length', '1']), res.end('x'))],
  ];
  let current: Answer = answers[0]![1];
  const nodeServer = http.createServer({ keepAliveTimeout: 7000 }, (req, res) => {
    req.resume();
    req.on('end', () => current(res));
  });
  const fastServer = net.createServer((socket) => {
    new FastConnection(socket, { find: () => (_body, res) => current(res), handOver: () => socket.destroy(), bodyCap: 1 << 20, keepAliveMs: 7000, headersTimeoutMs: 0, onGone: () => {} });
  });
  await Promise.all([nodeServer, fastServer].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  t.teardown(() => {
    nodeServer.closeAllConnections();
    nodeServer.close();
    fastServer.close();
  });
  for (const [name, answer] of answers) {
    current = answer;
    const a = await RawClient.open((fastServer.address() as AddressInfo).port);
    const b = await RawClient.open((nodeServer.address() as AddressInfo).port);
    const req = post('/x', '{}');
    await a.write(req);
    await b.write(req);
    const [ra, rb] = [await a.response(), await b.response()];
    t.equal(noDate(ra.raw), noDate(rb.raw), name);
    if (header(ra, 'Connection') === 'close') {
      await a.closedP;
      await b.closedP;
    }
    a.destroy();
    b.destroy();
  }
});

test('Keep-Alive follows the server: another timeout, and no timeout at all', async (t) => {
  for (const ms of [5_500, 0]) {
    const fast = await startHarness();
    const slow = await startHarness();
    fast.srv.server.keepAliveTimeout = ms;
    slow.srv.server.keepAliveTimeout = ms;
    const a = await RawClient.open(fast.port);
    const b = await RawClient.open(slow.port);
    await b.write(GET_HEALTH);
    await b.response();
    await a.write(range('x'));
    await b.write(range('x'));
    const [ra, rb] = [await a.response(), await b.response()];
    t.equal(noDate(ra.raw), noDate(rb.raw), `keepAliveTimeout ${ms}`);
    t.equal(header(ra, 'Keep-Alive'), ms === 0 ? undefined : 'timeout=5');
    a.destroy();
    b.destroy();
    await Promise.all([fast.close(), slow.close()]);
  }
});

// ---- 2. pipelining --------------------------------------------------------------------------------

test('pipelined requests are answered in order', async (t) => {
  const c = await open(t, h.port);
  const before = node.n;
  const rev = h.svc.revision;
  await c.write(put('p1', 'a') + put('p2', 'b') + range('p1') + put('p1', 'c') + range('p1') + post('/v3/kv/range', '{bad') + range('p2'));
  const rs = await c.responses(7);
  t.same(
    rs.map((r) => r.status),
    [200, 200, 200, 200, 200, 400, 200],
  );
  t.match(rs[0]!.body, `"revision":"${rev + 1}"`);
  t.match(rs[1]!.body, `"revision":"${rev + 2}"`);
  t.match(rs[2]!.body, `"value":"${b64('a')}"`);
  t.match(rs[3]!.body, `"revision":"${rev + 3}"`);
  t.match(rs[4]!.body, `"value":"${b64('c')}"`);
  t.match(rs[6]!.body, `"value":"${b64('b')}"`);
  t.equal(node.n, before, 'all on the fast path');
  t.equal(c.pending, '', 'nothing more');
});

test('a hand-over in the middle of a pipelined batch: all answered in order, the rest by Node', async (t) => {
  const c = await open(t, h.port);
  const before = node.n;
  const rev = h.svc.revision;
  await c.write(put('h1', 'x') + put('h2', 'y') + 'GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' + range('h1') + range('h2'));
  const rs = await c.responses(5);
  t.match(rs[0]!.body, `"revision":"${rev + 1}"`);
  t.match(rs[1]!.body, `"revision":"${rev + 2}"`);
  t.same(JSON.parse(rs[2]!.body), h.svc.version());
  t.equal(rs[3]!.body, kvBody(h, 'h1', 'x', rev + 1));
  t.equal(rs[4]!.body, kvBody(h, 'h2', 'y', rev + 2));
  t.equal(node.n, before + 3, 'GET /version and the two after it were served by Node');
  // The connection stays with Node, and keeps working.
  await c.write(range('h1'));
  t.equal((await c.response()).body, kvBody(h, 'h1', 'x', rev + 1));
  t.equal(node.n, before + 4);
});

test('a hand-over waits for the answer in flight', async (t) => {
  const c = await open(t, h.port);
  const g = gateRange(h);
  t.teardown(g.restore);
  await c.write(range('h1') + GET_HEALTH);
  await g.called;
  // The answer in flight is not overtaken: GET /health is not served before it.
  await new Promise<void>((r) => setImmediate(r));
  t.equal(c.pending, '', 'nothing answered yet');
  g.release();
  const [a, b] = await c.responses(2);
  t.match(a!.body, `"key":"${b64('h1')}"`);
  t.equal(b!.body, '{"health":"true"}');
});

// ---- 3, 4. split and large requests ---------------------------------------------------------------

test('requests delivered one byte per read are served', async (t) => {
  const accepted = nextServerSocket(h);
  const c = await open(t, h.port);
  const s = await accepted;
  let got = 0;
  let wake: (() => void) | null = null;
  s.on('data', (d: Buffer) => {
    got += d.length;
    wake?.();
  });
  const rev = h.svc.revision;
  const before = node.n;
  const bytes = Buffer.from(put('one', 'byte at a time') + range('one'), 'latin1');
  for (let i = 0; i < bytes.length; i++) {
    await c.write(bytes.subarray(i, i + 1));
    // Wait until the server has read it, so that each byte is a read of its own.
    while (got < i + 1) await new Promise<void>((r) => (wake = r));
  }
  const [p, r] = await c.responses(2);
  t.equal(p!.status, 200);
  t.equal(r!.body, kvBody(h, 'one', 'byte at a time', rev + 1));
  t.equal(node.n, before, 'served on the fast path');
});

test('a 1 MiB body arriving in many pieces is served', async (t) => {
  const c = await open(t, h.port);
  const before = node.n;
  const value = Buffer.alloc(768 * 1024);
  for (let i = 0; i < value.length; i++) value[i] = (i * 7) % 256;
  const body = `{"key":"${b64('large')}","value":"${value.toString('base64')}"}`;
  t.ok(body.length > 1024 * 1024);
  const req = Buffer.from(post('/v3/kv/put', body), 'latin1');
  for (let i = 0; i < req.length; i += 4000) await c.write(req.subarray(i, i + 4000));
  const p = await c.response();
  t.equal(p.status, 200, p.body);
  await c.write(post('/v3/kv/range', `{"key":"${b64('large')}"}`));
  const r = await c.response();
  const kv = (JSON.parse(r.body) as { kvs: Array<{ value: string }> }).kvs[0]!;
  t.ok(Buffer.from(kv.value, 'base64').equals(value), 'the value read back');
  t.equal(node.n, before, 'served on the fast path');
});

// ---- 5. Connection: close ------------------------------------------------------------------------

test('Connection: close is answered with Connection: close, then the connection ends', async (t) => {
  const c = await open(t, h.port);
  await c.write(range('p1', 'Connection: close\r\n'));
  const r = await c.response();
  t.equal(r.status, 200);
  t.equal(header(r, 'Connection'), 'close');
  t.equal(header(r, 'Keep-Alive'), undefined);
  await c.waitEnd();
  await c.closedP;
  t.equal(c.pending, '');
});

test('after Connection: close, pipelined requests are not served', async (t) => {
  for (const first of [range('p1', 'Connection: close\r\n'), post('/v3/kv/range', '{bad', 'Connection: close\r\n')]) {
    const accepted = nextServerSocket(h);
    const c = await open(t, h.port);
    const s = await accepted;
    const errors: Error[] = [];
    s.on('error', (e) => errors.push(e));
    const rev = h.svc.revision;
    await c.write(first + put('after-close', 'x'));
    const r = await c.response();
    t.equal(header(r, 'Connection'), 'close');
    await c.waitEnd();
    await c.closedP;
    t.equal(c.pending, '', 'one answer only');
    t.equal(h.svc.revision, rev, 'the request after it was not served');
    t.same(errors, [], 'no write after end');
  }
});

test('a client that half-closes: the connection ends (as with Node), a request cut short gets 400', async (t) => {
  // An answer still owed is dropped, as Node's server (httpAllowHalfOpen false) drops it.
  const g = gateRange(h);
  t.teardown(g.restore);
  const owed = await open(t, h.port);
  await owed.write(range('p1'));
  await g.called;
  owed.socket.end();
  await owed.waitEnd();
  await owed.closedP;
  g.release();
  g.restore();
  t.equal(owed.all, '', 'no answer after the FIN');

  // Whether an answer ready before the FIN is read is written depends on timing, on both paths.
  for (const [name, req] of [
    ['fast path', range('p1')],
    ['Node', GET_HEALTH],
    ['idle', ''],
  ] as const) {
    const c = await open(t, h.port);
    c.socket.end(req);
    await c.waitEnd();
    await c.closedP;
    if (c.pending !== '') t.equal((await c.response()).status, 200, `${name}: an answer, then the end`);
    else t.pass(`${name}: the end`);
  }

  // A request cut short: Node's parser answers it (through the server's clientError handler).
  for (const cut of [30, range('p1').length - 3]) {
    const c = await open(t, h.port);
    c.socket.end(range('p1').slice(0, cut));
    const r = await c.response();
    t.equal(r.status, 400);
    t.equal(r.body, '400 Bad Request');
    await c.closedP;
  }
  // Still serving.
  const c = await open(t, h.port);
  await c.write(range('p1'));
  t.equal((await c.response()).status, 200);
});

// ---- 6. hand-overs answered by Node ----------------------------------------------------------------

test('a chunked request body is read by Node', async (t) => {
  const c = await open(t, h.port);
  await c.write(range('p1'));
  t.equal((await c.response()).status, 200);
  const before = node.n;
  const body = `{"key":"${b64('chunked')}","value":"${b64('by node')}"}`;
  await c.write(`POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n${body.slice(0, 5)}\r\n`);
  await c.write(`${(body.length - 5).toString(16)}\r\n${body.slice(5)}\r\n0\r\n\r\n`);
  const r = await c.response();
  t.equal(r.status, 200);
  t.equal(node.n, before + 1, 'Node served it');
  await c.write(range('chunked'));
  t.equal((await c.response()).body, kvBody(h, 'chunked', 'by node', h.svc.revision));
});

test('Expect: 100-continue', async (t) => {
  const c = await open(t, h.port);
  const body = `{"key":"${b64('p1')}"}`;
  await c.write(`POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`);
  const cont = await c.response();
  t.equal(cont.status, 100);
  t.equal(cont.raw, 'HTTP/1.1 100 Continue\r\n\r\n');
  await c.write(body);
  const r = await c.response();
  t.equal(r.status, 200);
  t.match(r.body, `"key":"${b64('p1')}"`);
});

test('HTTP/1.0: answered by Node, then closed', async (t) => {
  const c = await open(t, h.port);
  const body = `{"key":"${b64('p1')}"}`;
  await c.write(`POST /v3/kv/range HTTP/1.0\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  const r = await c.response();
  t.equal(r.status, 200);
  t.equal(header(r, 'Connection'), 'close');
  t.match(r.body, `"key":"${b64('p1')}"`);
  await c.waitEnd();
});

test('no Host: 400 from Node', async (t) => {
  const c = await open(t, h.port);
  await c.write(range('p1'));
  await c.response();
  await c.write('POST /v3/kv/range HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}');
  const r = await c.response();
  t.equal(r.status, 400);
  t.equal(header(r, 'Connection'), 'close');
  await c.waitEnd();
});

test('an unknown /v3 path (404), GET on a unary path (405), a request Node cannot parse (400)', async (t) => {
  const c = await open(t, h.port);
  await c.write(post('/v3/kv/nope', '{}') + 'GET /v3/kv/range HTTP/1.1\r\nHost: x\r\n\r\n' + range('p1'));
  const [nf, na, ok] = await c.responses(3);
  t.equal(nf!.status, 404);
  t.equal(nf!.body, 'Not Found\n');
  t.equal(na!.status, 405);
  t.equal(na!.body, 'Method Not Allowed\n');
  t.equal(ok!.status, 200);

  const bad = await open(t, h.port);
  await bad.write('POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n{}');
  const r = await bad.response();
  t.equal(r.status, 400);
  await bad.waitEnd();

  const long = await open(t, h.port);
  await long.write(`POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`);
  t.equal((await long.response()).status, 400, 'a head over 16 KiB');
  await long.waitEnd();
});

test('a body over the cap: 429 from Node, then closed', async (t) => {
  const small = await startHarness({ maxRequestBytes: 1024, maxBodyBytes: 2048 });
  t.teardown(() => small.close());
  const smallNode = countNode(small);
  // bodyCap = 2 * 2048 + 64 KiB
  const cap = 2 * 2048 + 64 * 1024;
  const c = await open(t, small.port);
  await c.write(range('x'));
  t.equal((await c.response()).status, 200);
  const body = `{"key":"${b64('x')}","value":"${'A'.repeat(cap)}"}`;
  await c.write(post('/v3/kv/put', body).slice(0, 200));
  const r = await c.response();
  t.equal(r.status, 429);
  t.equal(header(r, 'Connection'), 'close');
  t.equal(r.body, `{"error":"grpc: received message larger than max (${Math.floor((body.length * 3) / 4)} vs. 2048)","message":"grpc: received message larger than max (${Math.floor((body.length * 3) / 4)} vs. 2048)","code":8}`);
  t.equal(smallNode.n, 1);
  await c.waitEnd();

  // At the cap: the fast path reads it (and gRPC's limit refuses it).
  const at = await open(t, small.port);
  const atBody = `{"key":"${b64('x')}","value":"${'A'.repeat(cap - 28)}"}`.padEnd(cap, ' ');
  t.equal(atBody.length, cap);
  await at.write(post('/v3/kv/put', atBody));
  const ra = await at.response();
  t.equal(ra.status, 429);
  t.equal(smallNode.n, 1, 'on the fast path');
});

test('a watch stream after fast requests on the same connection', async (t) => {
  const c = await open(t, h.port);
  await c.write(put('w', '1'));
  t.equal((await c.response()).status, 200);
  const create = JSON.stringify({ create_request: { key: b64('w') } });
  await c.write(`POST /v3/watch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${create.length.toString(16)}\r\n${create}\r\n`);
  await c.until('"created":true');
  await h.json('/v3/kv/put', { key: b64('w'), value: b64('2') });
  await c.until(`"value":"${b64('2')}"`);
  c.destroy();
  await until(() => h.svc.openSessions === 0);
});

test('a watch stream with a Content-Length body (a fast-path shape at a stream path)', async (t) => {
  const c = await open(t, h.port);
  await c.write(post('/v3/watch', JSON.stringify({ create_request: { key: b64('w') } })));
  await c.until('"created":true');
  c.destroy();
  await until(() => h.svc.openSessions === 0);
});

test('WebSocket upgrades on the client port', async (t) => {
  const ws = new WebSocket(`ws://127.0.0.1:${h.port}/v3/watch`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
  });
  const message = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
  ws.send(JSON.stringify({ create_request: { key: b64('ws') } }));
  t.match(await message, '"created":true');
  const closed = new Promise((r) => ws.on('close', r));
  ws.close();
  await closed;

  // An upgrade after a fast request on the same connection.
  const c = await open(t, h.port);
  await c.write(range('p1'));
  t.equal((await c.response()).status, 200);
  await c.write(
    'GET /v3/watch HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  const up = await c.response();
  t.equal(up.status, 101);
  t.equal(header(up, 'Sec-WebSocket-Accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

// ---- 7. keep-alive idle timeout ----------------------------------------------------------------------

test('idle fast connections are closed after keepAliveTimeout; one receiving a body is not', async (t) => {
  const k = await startHarness();
  t.teardown(() => k.close());
  k.srv.server.keepAliveTimeout = 300;
  const used = await open(t, k.port);
  const unused = await open(t, k.port);
  await used.write(range('x'));
  const r = await used.response();
  t.equal(header(r, 'Keep-Alive'), 'timeout=0');
  const started = Date.now();
  await Promise.all([used.closedP, unused.closedP]);
  t.ok(Date.now() - started >= 250, 'not before the timeout');

  // A body trickling in for 4 timeouts keeps its connection.
  const slow = await open(t, k.port);
  const body = `{"key":"${b64('x')}"}`;
  await slow.write(`POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
  for (const ch of body) {
    await new Promise((r) => setTimeout(r, 1200 / body.length));
    t.notOk(slow.closed, 'open while the body arrives');
    await slow.write(ch);
  }
  t.equal((await slow.response()).status, 200);
  await slow.closedP;
  t.pass('closed once idle');
});

test('a request head not complete after headersTimeout: closed; a body arriving slowly: served', async (t) => {
  const k = await startHarness();
  t.teardown(() => k.close());
  k.srv.server.headersTimeout = 300;
  const stalled = await open(t, k.port);
  const slow = await open(t, k.port);
  const started = Date.now();
  await stalled.write('POST /v3/kv/range HTTP/1.1\r\nHost: x\r\n');
  // Meanwhile a complete head with a body trickling in for 4 headersTimeouts keeps its connection
  // (Node's requestTimeout is 0 on the client port).
  const body = `{"key":"${b64('x')}"}`;
  await slow.write(`POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
  for (const ch of body) {
    await new Promise((r) => setTimeout(r, 1200 / body.length));
    await slow.write(ch);
  }
  t.equal((await slow.response()).status, 200);
  t.notOk(slow.closed);
  await stalled.closedP;
  t.ok(Date.now() - started >= 250, 'not before the timeout');
  t.equal(stalled.all, '', 'closed without an answer');
});

test('a client slow to read a large answer is not cut off by the idle timeout', async (t) => {
  const k = await startHarness();
  t.teardown(() => k.close());
  k.srv.server.keepAliveTimeout = 300;
  // Five values of 1.2 MB: one answer of 8 MB, more than the socket buffers hold.
  const value = Buffer.alloc(1_200_000, 7).toString('base64');
  for (let i = 0; i < 5; i++) await k.json('/v3/kv/put', { key: b64(`big${i}`), value });
  for (const path of ['fast', 'Node']) {
    const accepted = nextServerSocket(k);
    const c = await open(t, k.port);
    const s = await accepted;
    if (path === 'Node') {
      await c.write(GET_HEALTH);
      await c.response();
    }
    c.socket.pause();
    await c.write(post('/v3/kv/range', `{"key":"${b64('big')}","range_end":"${b64('bih')}"}`));
    await until(() => s.writableNeedDrain, 20_000);
    // Node starts the keep-alive timer when the answer is written out, not when it is queued.
    await new Promise((r) => setTimeout(r, 1000));
    c.socket.resume();
    const r = await c.response();
    t.equal(r.status, 200, path);
    t.equal((JSON.parse(r.body) as { kvs: unknown[] }).kvs.length, 5);
    await c.closedP;
    t.pass(`${path}: closed once idle`);
  }
});

// ---- 8. backpressure -------------------------------------------------------------------------------------

test('a client pipelining 2,000 requests without reading gets every answer, in order', async (t) => {
  // A small cap: the server stops reading at 2 * 16 KiB + 64 KiB + 16 KiB held.
  const b = await startHarness({ maxRequestBytes: 16 * 1024, maxBodyBytes: 16 * 1024 });
  t.teardown(() => b.close());
  const bNode = countNode(b);
  const N = 2000;
  const K = 200;
  // 200 keys of 12 KiB values (answers of 16 KiB, 32 MiB in all) and long names (requests of 250 bytes).
  const key = (i: number): string => `k${String(i % K).padStart(4, '0')}`.padEnd(120, '.');
  const value = 'v'.repeat(12 * 1024);
  const accepted = nextServerSocket(b);
  const c = await open(t, b.port);
  const s = await accepted;

  let puts = '';
  for (let i = 0; i < K; i++) puts += put(key(i), value);
  await c.write(puts);
  const ps = await c.responses(K);
  t.equal(ps.filter((r, i) => r.body.includes(`"revision":"${i + 2}"`)).length, K, 'pipelined puts answered in order');

  c.socket.pause();
  // GET /version near the end: a hand-over while the server holds 100 KiB and is not reading.
  const HANDOVER = N - 100;
  let ranges = '';
  for (let i = 0; i < N; i++) ranges += (i === HANDOVER ? 'GET /version HTTP/1.1\r\nHost: x\r\n\r\n' : '') + range(key(i));
  const cut = ranges.indexOf('POST', ranges.length / 2);
  // The first half's answers (16 MiB) are more than the socket buffers hold.
  await c.write(ranges.slice(0, cut));
  await until(() => s.writableNeedDrain, 20_000);
  t.pass('the server waits for the client to read');
  // The second half (250 KiB) arrives while the server waits: it stops reading.
  await c.write(ranges.slice(cut));
  await until(() => s.isPaused(), 20_000);
  t.pass('and stops reading');
  c.socket.resume();
  const rs = await c.responses(N + 1, 30_000);
  t.same(JSON.parse(rs.splice(HANDOVER, 1)[0]!.body), b.svc.version());
  const bad = rs.filter((r, i) => r.status !== 200 || !r.body.includes(`"key":"${b64(key(i))}"`) || !r.body.includes(b64(value)));
  t.equal(bad.length, 0, 'every answer, in order');
  t.equal(bNode.n, N - HANDOVER + 1, 'GET /version and the requests after it were served by Node');
  await c.write(range(key(7)));
  t.match((await c.response()).body, `"key":"${b64(key(7))}"`, 'still serving');
  t.notOk(s.isPaused(), 'reading again');
});

test('a path Go would clean (301) and a POST outside /v3 (405) are left to Node', async (t) => {
  const c = await open(t, h.port);
  await c.write(post('/v3/kv/./range', '{}'));
  const r = await c.response();
  const c2 = await open(t, h.port);
  await c2.write(post('/health', ''));
  const health = await c2.response();
  t.equal(r.status, 301);
  t.equal(header(r, 'Location'), '/v3/kv/range');
  t.equal(health.status, 405);
  t.equal(header(health, 'Allow'), 'GET');
});

// ---- 9, 10. close, and clients gone --------------------------------------------------------------------

test('closing the front end closes idle fast connections', async (t) => {
  const k = await startHarness();
  const c = await open(t, k.port);
  const idle = await open(t, k.port);
  await c.write(range('x'));
  await c.response();
  await k.close();
  await Promise.all([c.closedP, idle.closedP]);
  t.pass('closed');
});

test('once the front end is closed, new connections are dropped', async (t) => {
  const k = await startHarness();
  t.teardown(() => k.close());
  // A connection Node serves stays open, but an upgrade on it is refused.
  const kept = await open(t, k.port);
  await kept.write(GET_HEALTH);
  await kept.response();
  await k.srv.frontEnd.close();
  const c = await open(t, k.port);
  await c.closedP;
  t.equal(c.all, '');
  await kept.write('GET /v3/watch HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  await kept.closedP;
  t.equal(kept.pending, '', 'the upgrade was dropped');
});

test('a client gone while its request is in flight', async (t) => {
  for (const fail of [undefined, Errors.leaseNotFound()]) {
    const g = gateRange(h);
    t.teardown(g.restore);
    const accepted = nextServerSocket(h);
    const c = await open(t, h.port);
    const s = await accepted;
    await c.write(range('p1'));
    await g.called;
    const gone = new Promise((r) => s.once('close', r));
    c.destroy();
    await gone;
    g.release(fail);
    g.restore();
    // The member keeps serving.
    const other = await open(t, h.port);
    await other.write(range('p1'));
    t.equal((await other.response()).status, 200, fail === undefined ? 'after an answer to nobody' : 'after an error to nobody');
  }
});

test('the server keeps serving after a client resets mid-body', async (t) => {
  const accepted = nextServerSocket(h);
  const c = await open(t, h.port);
  const s = await accepted;
  const errors: string[] = [];
  s.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
  const closed = new Promise((r) => s.once('close', r));
  await c.write(post('/v3/kv/range', `{"key":"${b64('p1')}"}`).slice(0, -3));
  await until(() => s.bytesRead > 0);
  c.socket.resetAndDestroy();
  await closed;
  t.same(errors, ['ECONNRESET']);
  const other = await open(t, h.port);
  await other.write(range('p1'));
  t.equal((await other.response()).status, 200);
});
