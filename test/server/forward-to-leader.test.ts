// A follower's forward of a leader-only request (lease keep-alive, time-to-live): why it failed is
// in its error. No answer in time is etcd's timeout; a leader that went away (its connection
// refused, or this member saw another leader) is "leader changed", for the caller to retry.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { callMember, forwardToLeader, MemberAgents, type MemberTls } from '../../src/server/member/internal-client.js';
import { freePort } from '../raft/cluster.js';
import { listenOnLoopback } from '../support/loopback-server.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url));

function agents(t: Test, tls?: MemberTls): MemberAgents {
  const a = new MemberAgents(tls);
  t.teardown(() => a.close());
  return a;
}

/** A server that takes requests and never answers them. */
function silentServer(t: Test): Promise<string> {
  return listenOnLoopback(t, createServer(() => undefined));
}

t.test('a leader that takes the request and never answers: the timeout', async (t) => {
  const url = await silentServer(t);
  await t.rejects(forwardToLeader(agents(t), url, 'lease/keepalive', { ID: '1' }, 100), { message: 'etcdserver: request timed out', grpcCode: 14 });
});

t.test('this member sees another leader while the forward hangs: leader changed, at once', async (t) => {
  const url = await silentServer(t);
  const term = new AbortController();
  const forward = forwardToLeader(agents(t), url, 'lease/keepalive', { ID: '1' }, 60_000, term.signal);
  term.abort();
  await t.rejects(forward, { message: 'etcdserver: leader changed', grpcCode: 14 });
});

t.test('a leader whose port is closed: leader changed', async (t) => {
  const url = `http://127.0.0.1:${await freePort()}`;
  await t.rejects(forwardToLeader(agents(t), url, 'lease/keepalive', { ID: '1' }, 5000), { message: 'etcdserver: leader changed' });
});

/** Answers every request with `status` and `body`, echoing the request's body as `got`. */
function answering(status: number, body: Record<string, unknown>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ ...body, got: JSON.parse(Buffer.concat(chunks).toString()) })));
  };
}

t.test("the member's answer, and its error with etcd's code", async (t) => {
  const ok = await listenOnLoopback(t, createServer(answering(200, { TTL: '5' })));
  t.same(await forwardToLeader(agents(t), ok, 'lease/keepalive', { ID: '1' }, 5000), { TTL: '5', got: { ID: '1' } }, 'the body went, the answer came back');
  const refused = await listenOnLoopback(t, createServer(answering(404, { error: 'etcdserver: requested lease not found', code: 5 })));
  await t.rejects(forwardToLeader(agents(t), refused, 'lease/keepalive', { ID: '1' }, 5000), { message: 'etcdserver: requested lease not found', grpcCode: 5 });
  const notJson = await listenOnLoopback(t, createServer((_req, res) => res.writeHead(502).end('bad gateway')));
  await t.rejects(forwardToLeader(agents(t), notJson, 'lease/keepalive', {}, 5000), { message: 'HTTP 502' }, 'an answer that is not JSON: its status');
});

t.test("https:// client URLs: the member presents its own certificate to a member that asks for one", async (t) => {
  const server = createHttpsServer(
    { cert: fixture('member.pem'), key: fixture('member-key.pem'), ca: fixture('ca.pem'), requestCert: true, rejectUnauthorized: true },
    answering(200, { hash: 7 }),
  );
  const url = (await listenOnLoopback(t, server)).replace('http:', 'https:');
  const unreachable = () => new Error('unreachable');
  const mine: MemberTls = { ca: fixture('ca.pem'), cert: fixture('member.pem'), key: fixture('member-key.pem') };
  t.same(await callMember(agents(t, mine), url, 'hashkv', { revision: 3 }, 5000, { unreachable }), { hash: 7, got: { revision: 3 } });
  await t.rejects(callMember(agents(t, { ca: fixture('ca.pem') } as MemberTls), url, 'hashkv', {}, 5000, { unreachable }), { message: 'unreachable' }, 'no certificate: refused at the handshake');
  await t.rejects(callMember(agents(t, { ...mine, ca: fixture('other-ca.pem') }), url, 'hashkv', {}, 5000, { unreachable }), { message: 'unreachable' }, 'a member certificate from an authority not trusted');
});
