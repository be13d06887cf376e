// The retry rule and failover against fake members that fail exactly as asked: refused
// connections, "no leader", "request timed out", connections dropped after the request arrived,
// silence; plus member sync, health, keep-alive loss, the watch's heartbeat and resume, snapshot.
import t, { type Test } from 'tap';
import type { WebSocket } from 'ws';
import { Client, ClientError, CompactedError, EventType, GrpcCode } from '../../src/client/index.js';
import { deadEndpoint, etcdError, fakeServer, header, json, once, until, type FakeServer } from './helpers.js';

const quiet = { autoSyncMembers: false, dialTimeoutMs: 500 };
const okPut = (res: import('node:http').ServerResponse) => json(res, 200, { header: header(9) });

async function servers(t: Test, n: number): Promise<FakeServer[]> {
  const out: FakeServer[] = [];
  for (let i = 0; i < n; i++) {
    const f = await fakeServer((_r, res) => okPut(res));
    t.teardown(() => f.close());
    out.push(f);
  }
  return out;
}

async function rejects(p: Promise<unknown>): Promise<ClientError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ClientError) return e;
    throw e;
  }
  throw new Error('did not reject');
}

t.test('reads fail over on refused connections and unavailable answers', async (t) => {
  const [b, c] = await servers(t, 2);
  const dead = await deadEndpoint();
  const client = new Client({ ...quiet, endpoints: [dead, b!.url, c!.url] });
  t.teardown(() => client.close());
  b!.handler = (_r, res) => etcdError(res, 503, 14, 'etcdserver: no leader');
  c!.handler = (_r, res) => json(res, 200, { header: header(4), kvs: [{ key: 'YQ==', value: 'Yg==' }], count: '1' });
  const r = await client.get('a');
  t.equal(r.count, 1);
  t.equal(client.currentEndpoint(), c!.url, 'pinned to the member that answered');
  t.equal(b!.requests.length, 1);
  await client.get('a', { serializable: true });
  t.equal(c!.requests.length, 2, 'the pin holds while it works');
  t.same(JSON.parse(c!.requests[1]!.body), { key: 'YQ==', serializable: true });
});

t.test('a write is retried only when it certainly did not reach a member', async (t) => {
  const [a, b] = await servers(t, 2);
  const dead = await deadEndpoint();

  await t.test('refused connection: sent to the next member', async (t) => {
    const client = new Client({ ...quiet, endpoints: [dead, b!.url] });
    t.teardown(() => client.close());
    const r = await client.put('k', 'v');
    t.equal(r.header.revision, 9);
    t.equal(b!.requests.length, 1);
  });

  await t.test('"no leader": never proposed, retried', async (t) => {
    a!.requests.length = b!.requests.length = 0;
    a!.handler = (_r, res) => etcdError(res, 503, 14, 'etcdserver: no leader');
    b!.handler = (_r, res) => okPut(res);
    const client = new Client({ ...quiet, endpoints: [a!.url, b!.url] });
    t.teardown(() => client.close());
    await client.put('k', 'v');
    t.equal(a!.requests.length, 1);
    t.equal(b!.requests.length, 1);
  });

  await t.test('"request timed out" and "leader changed": outcome unknown, not retried', async (t) => {
    for (const msg of ['etcdserver: request timed out', 'etcdserver: leader changed']) {
      a!.requests.length = b!.requests.length = 0;
      a!.handler = (_r, res) => etcdError(res, 503, 14, msg);
      const client = new Client({ ...quiet, endpoints: [a!.url, b!.url] });
      const e = await rejects(client.put('k', 'v'));
      client.close();
      t.equal(e.kind, 'OutcomeUnknown', msg);
      t.equal(e.code, GrpcCode.Unavailable);
      t.equal(e.message, msg, "etcd's text");
      t.equal(e.httpStatus, 503);
      t.equal(b!.requests.length, 0, 'not sent elsewhere');
    }
  });

  await t.test('connection dropped after the request arrived: outcome unknown; idempotent: retried', async (t) => {
    a!.requests.length = b!.requests.length = 0;
    a!.handler = (_r, _res, raw) => raw.socket.destroy();
    const client = new Client({ ...quiet, endpoints: [a!.url, b!.url] });
    t.teardown(() => client.close());
    const e = await rejects(client.put('k', 'v'));
    t.equal(e.kind, 'OutcomeUnknown');
    t.match(e.message, /^write outcome unknown: http:\/\/127\.0\.0\.1:\d+: (socket hang up|.*ECONNRESET)/);
    t.equal(e.endpoint, a!.url);
    t.equal(b!.requests.length, 0);
    await client.put('k', 'v', { idempotent: true });
    t.equal(b!.requests.length, 1, 'an idempotent write goes to the next member');
    t.equal(client.currentEndpoint(), b!.url);
    const e2 = await rejects(client.delete('k', { prefix: true }).then(() => client.txn().then().commit()).then(() => Promise.reject(new ClientError('Server', 0, 'sentinel'))));
    t.equal(e2.message, 'sentinel', 'delete and an empty txn went through');
  });

  await t.test('a write that gets no answer in time: outcome unknown (deadline exceeded)', async (t) => {
    a!.handler = () => undefined;
    const client = new Client({ ...quiet, endpoints: [a!.url, b!.url], requestTimeoutMs: 300 });
    t.teardown(() => client.close());
    const e = await rejects(client.put('k', 'v'));
    t.equal(e.kind, 'OutcomeUnknown');
    t.equal(e.code, GrpcCode.DeadlineExceeded);
    t.equal(e.message, 'context deadline exceeded');
  });

  await t.test('a read that gets no answer moves on within its deadline', async (t) => {
    a!.handler = () => undefined;
    b!.handler = (_r, res) => json(res, 200, { header: header(1) });
    const client = new Client({ ...quiet, dialTimeoutMs: 100, endpoints: [a!.url, b!.url], requestTimeoutMs: 1000 });
    t.teardown(() => client.close());
    const t0 = Date.now();
    await client.get('x');
    t.ok(Date.now() - t0 < 900, 'the first attempt got half the deadline');
  });

  await t.test('unhealthy cluster (a refused member change) is retried', async (t) => {
    let n = 0;
    a!.handler = (_r, res) => (n++ === 0 ? etcdError(res, 412, 9, 'etcdserver: unhealthy cluster') : json(res, 200, { header: {}, members: [{ ID: '5' }] }));
    const client = new Client({ ...quiet, endpoints: [a!.url] });
    t.teardown(() => client.close());
    const r = await client.memberRemove(7n);
    t.equal(r.members[0]!.ID, 5n);
    t.equal(n, 2);
  });
});

t.test('errors: server answers are final and typed; no endpoint at all is Unavailable', async (t) => {
  const [a] = await servers(t, 1);
  const client = new Client({ ...quiet, endpoints: [a!.url], requestTimeoutMs: 400 });
  t.teardown(() => client.close());
  a!.handler = (_r, res) => etcdError(res, 400, 3, 'etcdserver: key is not provided');
  let e = await rejects(client.get(''));
  t.match(e, { name: 'ClientError', kind: 'Server', code: 3, message: 'etcdserver: key is not provided', httpStatus: 400 });
  t.equal(a!.requests.length, 1, 'not retried');
  a!.handler = (_r, res) => etcdError(res, 400, 11, 'etcdserver: mvcc: required revision has been compacted');
  e = await rejects(client.get('a', { revision: 1 }));
  t.ok(e instanceof CompactedError);
  t.equal(e.kind, 'Compacted');
  t.equal((e as CompactedError).compactRevision, undefined);
  a!.handler = (_r, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('Not Found\n');
  };
  e = await rejects(client.memberUpdate(1n, ['http://a:1']));
  t.match(e, { name: 'ClientError', kind: 'Server', code: GrpcCode.Unimplemented, message: '404 Not Found' });
  a!.handler = (_r, res) => json(res, 200, 'not json{');
  e = await rejects(client.leaseLeases());
  t.match(e, { name: 'ClientError', kind: 'Server', code: GrpcCode.Unknown, message: '200 not json{' }, 'a 200 that is not JSON: an error');
  a!.handler = (_r, res) => etcdError(res, 503, 14, 'etcdserver: no leader');
  e = await rejects(client.get('a'));
  t.match(e, { name: 'ClientError', kind: 'Unavailable', code: 14, message: 'etcdserver: no leader' }, 'reads retry "no leader" until the deadline');
  t.ok(a!.requests.length > 3);
  // The member answers "no leader" once and then hangs: the attempt the deadline cuts short does
  // not hide the answer (whatever the machine's speed, the call ends with what the member said).
  let answered = 0;
  a!.handler = (_r, res) => {
    if (answered++ === 0) etcdError(res, 503, 14, 'etcdserver: no leader');
  };
  e = await rejects(client.get('a'));
  t.match(e, { name: 'ClientError', kind: 'Unavailable', code: 14, message: 'etcdserver: no leader' }, 'a hang cut short by the deadline keeps the answer before it');
  t.equal(answered, 2, 'one answer, then one attempt that hung until the deadline');
  a!.handler = (_r, res) => json(res, 200, { header: header(), ID: '5', TTL: '5', error: 'lease error' });
  e = await rejects(client.leaseGrant(5));
  t.match(e, { name: 'ClientError', kind: 'Server', message: 'lease error' });

  const dead = new Client({ ...quiet, endpoints: [await deadEndpoint(), await deadEndpoint()], requestTimeoutMs: 300 });
  e = await rejects(dead.put('a', 'b'));
  t.equal(e.kind, 'Unavailable', 'a write refused everywhere was certainly not applied');
  t.match(e.message, /ECONNREFUSED|deadline/);
  const hung = await fakeServer(() => undefined);
  t.teardown(() => hung.close());
  const slow = new Client({ ...quiet, endpoints: [hung.url], requestTimeoutMs: 200 });
  e = await rejects(slow.get('a'));
  t.match(e, { name: 'ClientError', kind: 'Unavailable', code: GrpcCode.DeadlineExceeded, message: 'context deadline exceeded' });
  slow.close();
  dead.close();
});

t.test('close() leaves no timer or socket behind', async (t) => {
  const hung = await fakeServer(() => undefined);
  t.teardown(() => hung.close());
  const count = (what: string) => process.getActiveResourcesInfo().filter((r) => r === what).length;
  const [timers, sockets] = [count('Timeout'), count('TCPSocketWrap')];
  const client = new Client({ endpoints: [hung.url, await deadEndpoint()], watchHeartbeatMs: 50 });
  const w = client.watch('a');
  const ka = client.keepAlive(1n);
  const pending = client.get('a').catch((e: ClientError) => e.kind);
  const ka2 = client.keepAlive(2n);
  await new Promise((r) => setTimeout(r, 100));
  t.ok(count('Timeout') > timers);
  client.close();
  t.equal(await pending, 'Closed');
  await t.rejects(w.ready(), { name: 'ClientError', kind: 'Canceled' });
  await new Promise((r) => setImmediate(r));
  t.equal(count('Timeout'), timers, 'no timer left');
  await until(() => count('TCPSocketWrap') <= sockets);
  t.equal(ka.lost || ka2.lost, false, 'keep-alives stopped, not lost');
});

t.test('cancel and close', async (t) => {
  const hung = await fakeServer(() => undefined);
  t.teardown(() => hung.close());
  const client = new Client({ ...quiet, endpoints: [hung.url] });
  const ac = new AbortController();
  const p = client.get('a', { signal: ac.signal });
  setTimeout(() => ac.abort(), 20);
  t.match(await rejects(p), { name: 'ClientError', kind: 'Canceled', code: GrpcCode.Canceled });
  t.match(await rejects(client.get('a', { signal: AbortSignal.abort() })), { name: 'ClientError', kind: 'Canceled' });
  const inFlight = client.put('a', 'b');
  setTimeout(() => client.close(), 20);
  t.match(await rejects(inFlight), { name: 'ClientError', kind: 'Closed' });
  t.match(await rejects(client.get('a')), { name: 'ClientError', kind: 'Closed' });
  t.throws(() => client.watch('a'), { name: 'ClientError', kind: 'Closed' });
  t.throws(() => client.keepAlive(1n), { name: 'ClientError', kind: 'Closed' });
  await t.rejects(client.health(), { name: 'ClientError', kind: 'Closed' });
  client.close();
  t.equal(client.closed, true);
});

t.test('members: the client learns client URLs (not learners) from member list', async (t) => {
  const [a, b] = await servers(t, 2);
  a!.handler = (r, res) => {
    if (r.path === '/v3/cluster/member/list') {
      json(res, 200, {
        header: header(),
        members: [
          { ID: '1', name: 'a', clientURLs: [a!.url] },
          { ID: '2', name: 'b', clientURLs: [b!.url] },
          { ID: '3', name: 'l', clientURLs: ['http://127.0.0.1:1'], isLearner: true },
        ],
      });
    } else okPut(res);
  };
  const client = new Client({ endpoints: [a!.url] });
  t.teardown(() => client.close());
  await until(() => client.endpoints().length === 2);
  t.same(client.endpoints(), [a!.url, b!.url]);
  a!.handler = (_r, _res, raw) => raw.socket.destroy();
  await client.get('x');
  t.equal(client.currentEndpoint(), b!.url, 'a client given one endpoint fails over to a learned one');
  t.equal(b!.requests[0]!.path, '/v3/kv/range');
});

t.test('health and status of one endpoint', async (t) => {
  const [a] = await servers(t, 1);
  const client = new Client({ ...quiet, endpoints: [a!.url] });
  t.teardown(() => client.close());
  a!.handler = (_r, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('{"health":"true"}');
  };
  t.match(await client.health(), { endpoint: a!.url, health: true });
  a!.handler = (_r, res) => {
    res.writeHead(503);
    res.end('{"health":"false"}');
  };
  t.match(await client.health(a!.url), { health: false, error: 'HTTP 503: {"health":"false"}' });
  a!.handler = (_r, res) => {
    res.end('garbage');
  };
  t.match(await client.health(), { health: false });
  const dead = await deadEndpoint();
  const h = await client.health(dead);
  t.equal(h.health, false);
  t.match(h.error, /ECONNREFUSED/);
  const e = await rejects(client.status(dead));
  t.match(e, { name: 'ClientError', kind: 'Unavailable' }, 'status of one endpoint: no failover');
});

t.test('moveLeader goes to the leader; member calls encode their IDs', async (t) => {
  const [a, b] = await servers(t, 2);
  const status = (self: string) => ({ header: { ...header(), member_id: self }, version: '3.4.0', leader: '22' });
  a!.handler = (r, res) => json(res, 200, r.path === '/v3/maintenance/status' ? status('11') : {});
  b!.handler = (r, res) => json(res, 200, r.path === '/v3/maintenance/status' ? status('22') : {});
  const client = new Client({ ...quiet, endpoints: [a!.url, b!.url] });
  t.teardown(() => client.close());
  await client.moveLeader(11n);
  t.same(b!.requests.at(-1), { path: '/v3/maintenance/transfer-leadership', method: 'POST', body: '{"targetID":"11"}' });
  a!.handler = (r, res) => json(res, 200, { header: header(), member: { ID: '18446744073709551615', peerURLs: ['http://x:1'], isLearner: true }, members: [] });
  const added = await client.memberAdd(['http://x:1'], { learner: true });
  t.equal(added.member.ID, 18446744073709551615n, 'a full uint64 member ID');
  t.same(JSON.parse(a!.requests.at(-1)!.body), { peerURLs: ['http://x:1'], isLearner: true });
  await client.memberPromote('18446744073709551615');
  t.same(JSON.parse(a!.requests.at(-1)!.body), { ID: '18446744073709551615' });
  await client.memberUpdate(3n, ['http://y:2']);
  t.same(JSON.parse(a!.requests.at(-1)!.body), { ID: '3', peerURLs: ['http://y:2'] });
  a!.handler = (r, res) => json(res, 200, status('11'));
  b!.handler = (r, res) => json(res, 200, { ...status('22'), leader: '33' });
  await t.rejects(client.findLeader({ timeoutMs: 300 }), { name: 'ClientError', kind: 'Unavailable', message: 'etcdserver: no leader' });
});

t.test('keep-alive: renews at TTL/3, reports loss when the lease is gone or not renewed in time', async (t) => {
  const [a] = await servers(t, 1);
  const client = new Client({ ...quiet, endpoints: [a!.url], requestTimeoutMs: 2000 });
  t.teardown(() => client.close());
  let mode: 'ok' | 'fail' | 'gone' = 'ok';
  a!.handler = (r, res) => {
    const id = JSON.parse(r.body).ID;
    if (mode === 'ok') json(res, 200, `{"result":{"header":{},"ID":"${id}","TTL":"1"}}\n`);
    else if (mode === 'gone') json(res, 200, `{"result":{"header":{},"ID":"${id}"}}\n`);
    else json(res, 503, `{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}`);
  };
  const ka = client.keepAlive(5n);
  const [ttl] = await once<[number]>(ka, 'renewed');
  t.equal(ttl, 1);
  const t0 = Date.now();
  await once(ka, 'renewed');
  t.ok(Date.now() - t0 >= 250, 'the next renewal after about TTL/3');
  mode = 'fail';
  const [reason] = await once<[ClientError]>(ka, 'lost', 3000);
  t.equal(reason.kind, 'Unavailable');
  t.match(reason.message, /could not be renewed before its TTL ran out/);
  t.equal(ka.lost, true);
  t.ok(Date.now() - t0 <= 2500, 'lost about when the lease expired');

  mode = 'gone';
  const ka2 = client.keepAlive('5', { ttl: 10 });
  const [r2] = await once<[ClientError]>(ka2, 'lost');
  t.match(r2, { name: 'ClientError', kind: 'Server', code: 5, message: 'etcdserver: requested lease not found' });
  a!.handler = (_r, res) => etcdError(res, 404, 5, 'etcdserver: requested lease not found');
  const [r3] = await once<[ClientError]>(client.keepAlive(6n), 'lost');
  t.match(r3, { code: 5 });

  mode = 'ok';
  a!.handler = (r, res) => json(res, 200, `{"result":{"header":{},"ID":"7","TTL":"60"}}\n`);
  const ka4 = client.keepAlive(7n);
  await once(ka4, 'renewed');
  ka4.close();
  ka4.close();
  t.equal(ka4.lost, false, 'closed, not lost');
  t.same((await client.leaseKeepAliveOnce(7n)).TTL, 60);
});

t.test('keep-alive: after a failed renewal the next goes to every member at once, and a hanging member costs no more', async (t) => {
  const silent = await fakeServer(() => undefined);
  t.teardown(() => silent.close());
  const [electing, good] = await servers(t, 2);
  electing!.handler = (_r, res) => etcdError(res, 503, 14, 'etcdserver: no leader');
  good!.handler = (r, res) => json(res, 200, `{"result":{"header":{},"ID":"${JSON.parse(r.body).ID}","TTL":"5"}}\n`);
  const client = new Client({ ...quiet, endpoints: [silent.url, electing!.url, good!.url] });
  t.teardown(() => client.close());
  const ka = client.keepAlive(9n, { ttl: 5, intervalMs: 200 });
  const events: string[] = [];
  ka.on('failed', (e: Error) => events.push(`failed: ${e.message}`));
  ka.on('renewed', () => events.push('renewed'));
  // The first renewal goes to the pinned member, which never answers: cut short at 2 x 200 ms.
  await once(ka, 'failed');
  t.equal(silent.requests.length, 1);
  await once(ka, 'renewed');
  t.same(events, ['failed: context deadline exceeded', 'renewed']);
  t.equal(good!.requests.length, 1);
  t.ok(electing!.requests.length >= 1, 'the fan-out asked the electing member');
  // Sent at the same moment as the others; the silent server may see it a moment later.
  await until(() => silent.requests.length === 2);
  t.pass('the fan-out reached the silent member too');
  // Back to the pinned member once a renewal has succeeded (the failover moved it off the silent
  // one): a fan-out would reach the silent member again.
  await once(ka, 'renewed');
  await once(ka, 'renewed');
  t.equal(silent.requests.length, 2, 'no fan-out after a success');
  t.equal(good!.requests.length, 3);
  ka.close();
});

t.test('keep-alive everywhere: the lease is gone if any member says so; otherwise the first failure', async (t) => {
  const [a, b] = await servers(t, 2);
  a!.handler = (_r, res) => etcdError(res, 503, 14, 'etcdserver: no leader');
  b!.handler = (_r, res) => etcdError(res, 404, 5, 'etcdserver: requested lease not found');
  const client = new Client({ ...quiet, endpoints: [a!.url, b!.url] });
  t.teardown(() => client.close());
  t.match(await rejects(client.leaseKeepAliveEverywhere(3n, { timeoutMs: 1000 })), { kind: 'Server', code: 5 });
  b!.handler = a!.handler;
  t.match(await rejects(client.leaseKeepAliveEverywhere(3n, { timeoutMs: 1000 })), { kind: 'Unavailable', message: /no leader/ });
});

t.test('watch: heartbeat gives up a silent member, resumes elsewhere without gaps or duplicates', async (t) => {
  const [a, b] = await servers(t, 2);
  const silent = await fakeServer(() => undefined, { autoPong: false });
  t.teardown(() => silent.close());
  const creates: Record<string, unknown>[] = [];
  const created = (ws: WebSocket, rev: number) => ws.send(JSON.stringify({ result: { header: header(rev), created: true } }));
  const put = (rev: number, key = 'azE=') => ({ kv: { key, create_revision: String(rev), mod_revision: String(rev), version: '1', value: 'dg==' } });
  silent.onWatch = (ws) =>
    ws.on('message', (m) => {
      creates.push(JSON.parse(m.toString()));
      created(ws, 10);
      ws.send(JSON.stringify({ result: { header: header(11), events: [put(11)] } }));
    });
  b!.onWatch = (ws) =>
    ws.on('message', (m) => {
      const req = JSON.parse(m.toString());
      if (req.progress_request) return;
      creates.push(req);
      created(ws, 13);
      // A duplicate of revision 11, then 12 and 13 (the history since the resume point).
      ws.send(JSON.stringify({ result: { header: header(13), events: [put(11), put(12)] } }));
      ws.send(JSON.stringify({ result: { header: header(13), events: [{ type: 'DELETE', kv: { key: 'azE=', mod_revision: '13' } }] } }));
    });
  const client = new Client({ ...quiet, endpoints: [silent.url, b!.url], watchHeartbeatMs: 100 });
  t.teardown(() => client.close());
  const w = client.watch('k', { prefix: true, prevKv: true, filters: ['NOPUT'] });
  const disconnected = once<[string, Error]>(w, 'disconnected');
  t.equal(await w.ready(), 10);
  const seen: number[] = [];
  for await (const r of w) {
    for (const e of r.events) seen.push(e.kv.mod_revision);
    if (seen.at(-1) === 13) break;
  }
  t.same(seen, [11, 12, 13], 'every revision once');
  const [ep, why] = await disconnected;
  t.equal(ep, silent.url);
  t.match(why.message, /no answer within 200 ms/);
  t.same(creates[0], { create_request: { key: 'aw==', range_end: 'bA==', filters: ['NOPUT'], prev_kv: true } });
  t.same(creates[1], { create_request: { key: 'aw==', range_end: 'bA==', start_revision: '12', filters: ['NOPUT'], prev_kv: true } }, 'resumed at the last seen revision + 1');
  t.equal(w.nextRevision, 14);
  void a;
});

t.test('watch: progress moves the resume point; stream errors reconnect; cancels end it', async (t) => {
  const [a] = await servers(t, 1);
  let conn = 0;
  const creates: Record<string, any>[] = [];
  a!.onWatch = (ws) => {
    const n = ++conn;
    ws.on('message', (m) => {
      const req = JSON.parse(m.toString());
      if (req.progress_request) {
        ws.send(JSON.stringify({ result: { header: header(40), watch_id: '-1' } }));
        return;
      }
      creates.push(req.create_request);
      ws.send(JSON.stringify({ result: { header: header(20), created: true } }));
      if (n === 1) {
        ws.send(JSON.stringify({ result: { header: header(30) } })); // a server progress notification
        setTimeout(() => ws.send(JSON.stringify({ error: { grpc_code: 14, message: 'etcdserver: no leader' } })), 250);
      } else if (n === 2) {
        ws.send(JSON.stringify({ result: { header: header(42), events: [{ kv: { key: 'YQ==', mod_revision: '42' } }] } }));
        ws.send('not json');
      } else if (n === 3) {
        ws.send(JSON.stringify({ result: { header: {}, canceled: true, compact_revision: '35' } }));
      }
    });
  };
  const client = new Client({ ...quiet, endpoints: [a!.url], watchHeartbeatMs: 100 });
  t.teardown(() => client.close());
  const w = client.watch('a', { startRevision: 5, progressNotify: true });
  const got: { progress: boolean; rev: number | undefined; events: number[] }[] = [];
  const err = await (async () => {
    try {
      for await (const r of w) got.push({ progress: r.progressNotify, rev: r.header.revision, events: r.events.map((e) => e.kv.mod_revision) });
    } catch (e) {
      return e;
    }
  })();
  t.ok(err instanceof CompactedError, 'compacted resume point: CompactedError');
  t.equal((err as CompactedError).compactRevision, 35);
  t.equal(creates[0].start_revision, '5');
  t.equal(creates[1].start_revision, '41', 'resumed after the last progress notification');
  t.equal(creates[2].start_revision, '43');
  t.same(got[0], { progress: true, rev: 30, events: [] });
  t.ok(got.some((g) => g.events[0] === 42));
  t.equal(got.filter((g) => g.events.length).length, 1, 'no duplicate');
  await t.rejects(client.watch('a', { signal: AbortSignal.abort() }).ready(), { name: 'ClientError', kind: 'Canceled' });

  a!.onWatch = (ws) =>
    ws.on('message', () => {
      ws.send(JSON.stringify({ result: { header: header(20), created: true } }));
      ws.send(JSON.stringify({ result: { header: header(20), canceled: true, cancel_reason: 'etcdserver: permission denied' } }));
    });
  const w2 = client.watch('b');
  await t.rejects(
    (async () => {
      for await (const _ of w2) void _;
    })(),
    { name: 'ClientError', kind: 'Server', message: 'etcdserver: permission denied' },
  );
  // A watcher canceled by its caller ends its iteration.
  a!.onWatch = (ws) => ws.on('message', () => ws.send(JSON.stringify({ result: { header: header(20), created: true } })));
  const ac = new AbortController();
  const w3 = client.watch('c', { signal: ac.signal });
  await w3.ready();
  setTimeout(() => ac.abort(), 10);
  for await (const _ of w3) void _;
  t.pass('ended by its signal');
  // A watch whose endpoints all refuse keeps trying until canceled.
  const dead = new Client({ ...quiet, endpoints: [await deadEndpoint()] });
  const w4 = dead.watch('d');
  await once(w4, 'disconnected');
  await once(w4, 'disconnected');
  dead.close();
  await t.rejects(w4.ready(), { name: 'ClientError', kind: 'Canceled' }, 'closing the client ends it');
});

t.test('snapshot: the blobs of the stream, errors as ClientError', async (t) => {
  const [a] = await servers(t, 1);
  const dead = await deadEndpoint();
  const client = new Client({ ...quiet, endpoints: [dead, a!.url] });
  t.teardown(() => client.close());
  a!.handler = (_r, res) => {
    res.writeHead(200);
    res.write('{"result":{"remaining_bytes":"3","blob":"AAEC"}}\n');
    setTimeout(() => res.end('{"result":{"blob":"AwQ="}}\n'), 20);
  };
  const parts: number[] = [];
  for await (const p of client.snapshot()) parts.push(...p);
  t.same(parts, [0, 1, 2, 3, 4]);
  a!.handler = (_r, res) => {
    res.writeHead(200);
    res.end('{"error":{"grpc_code":14,"message":"etcdserver: server stopped"}}\n');
  };
  await t.rejects(
    (async () => {
      for await (const _ of client.snapshot()) void _;
    })(),
    { message: 'etcdserver: server stopped' },
  );
  a!.handler = (_r, res) => etcdError(res, 400, 3, 'bad');
  await t.rejects(
    (async () => {
      for await (const _ of client.snapshot()) void _;
    })(),
    { name: 'ClientError', kind: 'Server', code: 3 },
  );
  a!.handler = (_r, res) => {
    res.writeHead(200);
    res.write('{"result":{"blob":"AAEC"}}\n');
    setTimeout(() => res.destroy(), 20);
  };
  await t.rejects(
    (async () => {
      for await (const _ of client.snapshot()) void _;
    })(),
    { name: 'ClientError', kind: 'Unavailable' },
  );
  const none = new Client({ ...quiet, endpoints: [dead] });
  await t.rejects(
    (async () => {
      for await (const _ of none.snapshot()) void _;
    })(),
    { name: 'ClientError', kind: 'Unavailable', message: /no endpoint answered/ },
  );
  none.close();
});

void EventType;
