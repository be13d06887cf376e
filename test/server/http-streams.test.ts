// Streams over real HTTP and WebSocket: /v3/watch, /v3/lease/keepalive, /v3/maintenance/snapshot.
import http from 'node:http';
import t from 'tap';
import WebSocket from 'ws';
import { b64, hdr, openStream, startHarness, until, type Harness } from './helpers.js';

let h: Harness;
t.before(async () => {
  h = await startHarness();
});
t.teardown(() => h.close());

const result = (line: string): Record<string, unknown> => (JSON.parse(line) as { result: Record<string, unknown> }).result;

t.test('docs: watch a key, then put it (curl -N .../v3/watch -d \'{"create_request": {"key":"Zm9v"} }\')', async (t) => {
  const s = openStream(h.port, '/v3/watch');
  s.req.end('{"create_request": {"key":"Zm9v"} }');
  const { res, lines } = await s;
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'application/json');
  t.equal(res.headers['grpc-metadata-content-type'], 'application/grpc');
  t.equal(res.headers['transfer-encoding'], 'chunked');
  t.equal(await lines.next(), `{"result":{"header":${hdr(h.svc)},"created":true}}`);
  await h.json('/v3/kv/put', '{"key": "Zm9v", "value": "YmFy"}');
  const rev = h.svc.revision;
  t.equal(
    await lines.next(),
    `{"result":{"header":${hdr(h.svc)},"events":[{"kv":{"key":"Zm9v","create_revision":"${rev}","mod_revision":"${rev}","version":"1","value":"YmFy"}}]}}`,
  );
  // The end of the request body did not end the watch: it still delivers.
  await h.json('/v3/kv/deleterange', { key: 'Zm9v' });
  t.equal(await lines.next(), `{"result":{"header":${hdr(h.svc)},"events":[{"type":"DELETE","kv":{"key":"Zm9v","mod_revision":"${h.svc.revision}"}}]}}`);
  t.notOk(lines.ended);
  s.req.destroy();
  await until(() => h.svc.openSessions === 0);
});

t.test('two creates in one body, explicit IDs, history, cancel, progress', async (t) => {
  await h.json('/v3/kv/put', { key: b64('wa'), value: b64('1') });
  const from = h.svc.revision;
  await h.json('/v3/kv/put', { key: b64('wb'), value: b64('2') });
  const s = openStream(h.port, '/v3/watch');
  s.req.write('{"create_request":{"key":"' + b64('wa') + '","range_end":"' + b64('wc') + '","start_revision":' + from + '}}\n');
  s.req.write('{"createRequest":{"key":"' + b64('wa') + '","watchId":"7","prevKv":true}}');
  const { lines } = await s;
  t.equal(await lines.next(), `{"result":{"header":${hdr(h.svc)},"created":true}}`);
  t.match(result(await lines.next()), { events: [{ kv: { key: b64('wa') } }, { kv: { key: b64('wb') } }] }, 'history in one message');
  t.equal(await lines.next(), `{"result":{"header":${hdr(h.svc)},"watch_id":"7","created":true}}`);
  await h.json('/v3/kv/put', { key: b64('wa'), value: b64('3') });
  const a = result(await lines.next());
  const b = result(await lines.next());
  const byId = [a, b].sort((x, y) => String(x.watch_id ?? '0').localeCompare(String(y.watch_id ?? '0')));
  t.equal(byId[0]?.watch_id, undefined, 'watch ID 0 has no watch_id');
  t.match(byId[1], { watch_id: '7', events: [{ kv: { value: b64('3') }, prev_kv: { value: b64('1') } }] });
  // A message split across chunks, then a cancel and a progress request.
  s.req.write('{"cancel_re');
  s.req.write('quest":{"watch_id":"7"}}{"progress_request":{}}');
  t.equal(await lines.next(), `{"result":{"header":${hdr(h.svc)},"watch_id":"7","canceled":true}}`);
  t.equal(await lines.next(), `{"result":{"header":${hdr(h.svc)},"watch_id":"-1"}}`);
  // An empty WatchRequest is ignored.
  s.req.write('{} null {"unknown":1}');
  s.req.write('{"progress_request":{}}');
  t.equal(await lines.next(), `{"result":{"header":${hdr(h.svc)},"watch_id":"-1"}}`);
  s.req.destroy();
  await until(() => h.svc.openSessions === 0);
});

t.test('a compacted start revision: created, then canceled with no header revision', async (t) => {
  await h.json('/v3/kv/put', { key: b64('cx'), value: b64('1') });
  await h.json('/v3/kv/compaction', { revision: h.svc.revision });
  const s = openStream(h.port, '/v3/watch');
  s.req.end(JSON.stringify({ create_request: { key: b64('cx'), start_revision: 1 } }));
  const { lines } = await s;
  t.equal(await lines.next(), `{"result":{"header":${hdr(h.svc)},"created":true}}`);
  t.equal(
    await lines.next(),
    `{"result":{"header":{"cluster_id":"${h.svc.clusterId}","member_id":"${h.svc.memberId}","raft_term":"2"},"canceled":true,"compact_revision":"${h.svc.compactRev}"}}`,
  );
  s.req.destroy();
});

t.test('a first message that does not decode: 500 with code 2 (the unary error shape)', async (t) => {
  for (const [body, message] of [
    ['{bad', "invalid character 'b' looking for beginning of object key string"],
    ['[]', 'json: cannot unmarshal array into Go value of type map[string]json.RawMessage'],
    ['{"create_request":{"key":1}}', 'json: cannot unmarshal number into Go value of type []uint8'],
    ['{"create_request":{"key":"YQ==","filters":["BOGUS"]}}', 'unknown value "BOGUS" for enum etcdserverpb.WatchCreateRequest_FilterType'],
    ['{"create_request":{"key":"YQ=="', 'unexpected EOF'],
  ]) {
    const r = await h.post('/v3/watch', body);
    t.equal(r.status, 500, body);
    t.equal(r.body, JSON.stringify({ error: message, message, code: 2 }), body);
    t.equal(r.headers['content-length'], String(r.body.length));
  }
  const ka = await h.post('/v3/lease/keepalive', '{"ID":"x"}');
  t.equal(ka.status, 500);
  t.equal(ka.body, `{"error":"invalid character 'x' looking for beginning of value","message":"invalid character 'x' looking for beginning of value","code":2}`);
  t.equal(h.svc.openSessions, 0);
});

t.test('a later message that does not decode stops the requests, not the watch', async (t) => {
  const s = openStream(h.port, '/v3/watch');
  s.req.end(JSON.stringify({ create_request: { key: b64('late') } }) + '{bad{"progress_request":{}}');
  const { lines } = await s;
  t.match(result(await lines.next()), { created: true });
  await h.json('/v3/kv/put', { key: b64('late'), value: b64('x') });
  t.match(result(await lines.next()), { events: [{ kv: { key: b64('late') } }] }, 'still watching');
  t.equal(lines.pending(), 0, 'the progress request after the bad message was not read');
  s.req.destroy();
  await until(() => h.svc.openSessions === 0);
});

t.test('an empty watch body: no headers until something happens, and the session is not opened', async (t) => {
  const req = http.request({ host: '127.0.0.1', port: h.port, method: 'POST', path: '/v3/watch', agent: false });
  let responded = false;
  req.on('response', () => (responded = true));
  req.on('error', () => {});
  req.end();
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(responded, 'no response headers yet');
  t.equal(h.svc.openSessions, 0);
  req.destroy();
});

t.test('client disconnect closes the session', async (t) => {
  const s = openStream(h.port, '/v3/watch');
  s.req.write(JSON.stringify({ create_request: { key: b64('d') } }));
  const { lines } = await s;
  await lines.next();
  t.equal(h.svc.openSessions, 1);
  s.req.destroy();
  await until(() => h.svc.openSessions === 0);
  t.pass('session closed');
  // The member still serves.
  const r = await h.post('/v3/kv/range', { key: b64('d') });
  t.equal(r.status, 200);
});

t.test('a service error on a stream: a stream error message, then the end', async (t) => {
  h.svc.failures.set('openWatch', new (await import('../../src/util/errors.js')).EtcdError(14, 'etcdserver: no leader'));
  const r = await h.post('/v3/watch', JSON.stringify({ create_request: { key: b64('e') } }));
  t.equal(r.status, 503);
  t.equal(r.body, '{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}');

  // After a first message: the error comes as the last chunk.
  const s = openStream(h.port, '/v3/lease/keepalive');
  const grant = await h.json('/v3/lease/grant', { TTL: 30 });
  s.req.write(JSON.stringify({ ID: grant.ID }));
  const { lines } = await s;
  t.match(result(await lines.next()), { ID: grant.ID, TTL: '30' });
  h.svc.failures.set('leaseKeepAlive', new Error('disk on fire'));
  s.req.write(JSON.stringify({ ID: grant.ID }));
  await lines.end();
  t.equal(lines.rest, '{"error":{"grpc_code":2,"http_code":500,"message":"disk on fire","http_status":"Internal Server Error"}}');
});

t.test('keepalive stream: one answer per request, in order; unknown lease has no TTL; ends with the body', async (t) => {
  const grant = await h.json('/v3/lease/grant', { TTL: 60 });
  const s = openStream(h.port, '/v3/lease/keepalive');
  s.req.write(`{"ID":${grant.ID as string}}`);
  const { res, lines } = await s;
  t.equal(res.headers['grpc-metadata-content-type'], 'application/grpc');
  t.equal(await lines.next(), `{"result":{"header":${hdr(h.svc)},"ID":"${grant.ID as string}","TTL":"60"}}`);
  s.req.end('{"ID":"5"}\n{"ID":6}');
  t.equal(await lines.next(), `{"result":{"header":${hdr(h.svc)},"ID":"5"}}`);
  t.equal(await lines.next(), `{"result":{"header":${hdr(h.svc)},"ID":"6"}}`);
  await lines.end();
  t.pass('the response ended with the request body');

  // A service that throws NotFound instead of answering TTL 0: still a message, not an error.
  const { Errors } = await import('../../src/util/errors.js');
  h.svc.failures.set('leaseKeepAlive', Errors.leaseNotFound());
  const nf = await h.post('/v3/lease/keepalive', '{"ID":9}');
  t.equal(nf.body, '{"result":{"header":{},"ID":"9"}}\n');

  // An empty keepalive body: 200 with no messages (and no gRPC header metadata).
  const empty = await h.post('/v3/lease/keepalive', '');
  t.equal(empty.status, 200);
  t.equal(empty.body, '');
  t.equal(empty.headers['grpc-metadata-content-type'], undefined);
  // A later bad message ends the requests; answered ones stay.
  const late = await h.post('/v3/lease/keepalive', '{"ID":5}{bad');
  t.equal(late.status, 200);
  t.equal(late.body, `{"result":{"header":${hdr(h.svc)},"ID":"5"}}\n`);
});

t.test('snapshot: remaining_bytes then blob, 32 KiB pieces', async (t) => {
  const r = await h.post('/v3/maintenance/snapshot', '');
  t.equal(r.status, 200);
  const lines = r.body.trimEnd().split('\n').map(result);
  t.equal(lines.length, 4);
  t.equal(lines[0]?.remaining_bytes, String(100_000 - 32768));
  t.equal(lines[3]?.remaining_bytes, undefined, 'the last message has no remaining_bytes');
  t.ok(r.body.startsWith('{"result":{"remaining_bytes":'), 'remaining_bytes before blob, no header');
  const data = Buffer.concat(lines.map((l) => Buffer.from(l.blob as string, 'base64')));
  t.same(data, Buffer.from(h.svc.snapshotData));

  h.svc.failures.set('snapshot', new (await import('../../src/util/errors.js')).EtcdError(14, 'etcdserver: no leader'));
  const failed = await h.post('/v3/maintenance/snapshot', '{}');
  t.equal(failed.status, 503);
  t.equal(failed.body, '{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}');

  const saved = h.svc.snapshotData;
  h.svc.snapshotData = new Uint8Array(0);
  const empty = await h.post('/v3/maintenance/snapshot', '');
  t.equal(empty.status, 200);
  t.equal(empty.body, '');
  h.svc.snapshotData = saved;
});

t.test('backpressure: a slow watch reader makes the sink wait, nothing is lost', async (t) => {
  const s = openStream(h.port, '/v3/watch');
  s.req.write(JSON.stringify({ create_request: { key: b64('bp') } }));
  const { res, lines } = await s;
  await lines.next();
  res.pause();
  const value = Buffer.alloc(64 * 1024, 120).toString('base64');
  for (let i = 0; i < 60; i++) await h.json('/v3/kv/put', { key: b64('bp'), value });
  res.resume();
  for (let i = 0; i < 60; i++) t.match(result(await lines.next(10_000)), { events: [{ kv: { key: b64('bp'), version: String(i + 1) } }] });
  s.req.destroy();
  await until(() => h.svc.openSessions === 0);
});

function wsOpen(path: string): Promise<{ ws: WebSocket; messages: string[]; next(): Promise<string>; closed: Promise<[number, string]> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${h.port}${path}`, { perMessageDeflate: false });
  const messages: string[] = [];
  let wake: (() => void) | null = null;
  ws.on('message', (d) => {
    messages.push(d.toString());
    wake?.();
  });
  const closed = new Promise<[number, string]>((resolve) => ws.on('close', (code, reason) => resolve([code, reason.toString()])));
  const next = async (): Promise<string> => {
    const deadline = Date.now() + 5000;
    while (messages.length === 0) {
      if (Date.now() > deadline) throw new Error('no message');
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
    return messages.shift() as string;
  };
  return new Promise((resolve, reject) => {
    ws.on('open', () => resolve({ ws, messages, next, closed }));
    ws.on('error', reject);
  });
}

t.test('WebSocket watch: one request per message, one response per message', async (t) => {
  const c = await wsOpen('/v3/watch');
  t.equal(c.ws.extensions, '', 'no permessage-deflate');
  c.ws.send(JSON.stringify({ create_request: { key: b64('ws') } }));
  t.equal(await c.next(), `{"result":{"header":${hdr(h.svc)},"created":true}}`);
  await h.json('/v3/kv/put', { key: b64('ws'), value: b64('v') });
  t.match(result(await c.next()), { events: [{ kv: { key: b64('ws'), value: b64('v') } }] });
  c.ws.send(Buffer.from('{"progress_request":{}}'), { binary: true });
  t.equal(await c.next(), `{"result":{"header":${hdr(h.svc)},"watch_id":"-1"}}`);
  c.ws.send('{"cancel_request":{"watch_id":0}}{"progress_request":{}}');
  t.match(result(await c.next()), { canceled: true });
  t.match(result(await c.next()), { watch_id: '-1' });
  c.ws.close();
  await c.closed;
  await until(() => h.svc.openSessions === 0);
});

t.test('WebSocket watch: a bad message gets an error message, then a close with the reason', async (t) => {
  const c = await wsOpen('/v3beta/watch');
  c.ws.send(JSON.stringify({ create_request: { key: b64('ws') } }));
  await c.next();
  c.ws.send('{bad');
  t.equal(await c.next(), `{"error":"invalid character 'b' looking for beginning of object key string","message":"invalid character 'b' looking for beginning of object key string","code":2}`);
  const [code, reason] = await c.closed;
  t.equal(code, 1007);
  t.equal(reason, "invalid character 'b' looking for beginning of object key string");
  await until(() => h.svc.openSessions === 0);
  const cut = await wsOpen('/v3/watch');
  cut.ws.send('{"create_request":');
  t.match(await cut.next(), /"message":"unexpected EOF"/);
  await cut.closed;
});

t.test('WebSocket keepalive, bad paths, and server-side failures', async (t) => {
  const grant = await h.json('/v3/lease/grant', { TTL: 40 });
  const c = await wsOpen('/v3/lease/keepalive');
  c.ws.send(JSON.stringify({ ID: grant.ID }));
  t.equal(await c.next(), `{"result":{"header":${hdr(h.svc)},"ID":"${grant.ID as string}","TTL":"40"}}`);
  c.ws.send('{"ID":12345}');
  t.equal(await c.next(), `{"result":{"header":${hdr(h.svc)},"ID":"12345"}}`);
  h.svc.failures.set('leaseKeepAlive', new Error('kaput'));
  c.ws.send('{"ID":1}');
  t.equal(await c.next(), '{"error":{"grpc_code":2,"http_code":500,"message":"kaput","http_status":"Internal Server Error"}}');
  const [code] = await c.closed;
  t.equal(code, 1011);

  await t.rejects(wsOpen('/v3/kv/range'), /Unexpected server response: 404/);
  await t.rejects(wsOpen('/nope'), /Unexpected server response: 404/);

  h.svc.failures.set('openWatch', new Error('no watch for you'));
  const w = await wsOpen('/v3/watch');
  w.ws.send(JSON.stringify({ create_request: { key: b64('x') } }));
  t.match(await w.next(), /"message":"no watch for you"/);
  await w.closed;
});

t.test('close() ends open streams and sockets', async (t) => {
  const other = await startHarness();
  const s = openStream(other.port, '/v3/watch');
  s.req.write(JSON.stringify({ create_request: { key: b64('z') } }));
  const { lines } = await s;
  await lines.next();
  const ws = new WebSocket(`ws://127.0.0.1:${other.port}/v3/watch`);
  await new Promise((r) => ws.on('open', r));
  ws.send(JSON.stringify({ create_request: { key: b64('z') } }));
  await new Promise((r) => ws.once('message', r));
  t.equal(other.svc.openSessions, 2);
  const wsClosed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await other.close();
  t.equal(other.svc.openSessions, 0);
  t.equal(await wsClosed, 1001);
  await lines.end().catch(() => {});
  t.ok(lines.ended);
});
