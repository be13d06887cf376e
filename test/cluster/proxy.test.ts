// The fault-injecting peer proxy of cluster-tests, against a plain TCP echo server standing in for
// a member's peer port: it learns the link from the first request's headers and drops, resets or
// delays that link's bytes as the network says, and heals.

import net from 'node:net';
import t from 'tap';
import { Network } from '../../cluster-tests/harness/network.js';
import { PeerProxy } from '../../cluster-tests/harness/proxy.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function echoServer(): Promise<{ port: number; close(): Promise<void>; accepted: () => number }> {
  let accepted = 0;
  const socks = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    accepted++;
    socks.add(s);
    s.on('close', () => socks.delete(s));
    s.on('error', () => undefined);
    s.on('data', (d) => s.write(d));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        srv.close(() => r());
      }),
  };
}

interface Client {
  sock: net.Socket;
  received(): string;
  closed(): boolean;
  waitFor(text: string, ms?: number): Promise<boolean>;
}

async function connect(port: number, fromId?: string): Promise<Client> {
  const sock = net.connect({ host: '127.0.0.1', port });
  let buf = '';
  let closed = false;
  sock.on('data', (d) => (buf += d.toString()));
  sock.on('close', () => (closed = true));
  sock.on('error', () => undefined);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(`GET /raft HTTP/1.1\r\nhost: x\r\n${fromId ? `x-flotilla-from: ${fromId}\r\n` : ''}\r\n`);
  return {
    sock,
    received: () => buf,
    closed: () => closed,
    async waitFor(text, ms = 1000) {
      const end = performance.now() + ms;
      while (!buf.includes(text) && performance.now() < end && !closed) await sleep(10);
      return buf.includes(text);
    },
  };
}

t.test('links: pass, drop, reset, delay, heal', async (t) => {
  const echo = await echoServer();
  const network = new Network();
  const ids: Record<string, string> = {};
  const proxy = new PeerProxy('b', echo.port, network, (id) => ids[id], () => ['a', 'b', 'c']);
  const port = await proxy.listen();
  t.teardown(async () => {
    await proxy.close();
    await echo.close();
  });

  // A connection from a (id 11) before its id is known: resolved when the rule is looked up.
  const a = await connect(port, '11');
  t.ok(await a.waitFor('x-flotilla-from: 11'), 'the first request reaches the member and back');
  ids['11'] = 'a';
  ids['12'] = 'c';
  a.sock.write('ping1');
  t.ok(await a.waitFor('ping1'), 'bytes pass both ways');
  t.equal(proxy.connections, 1);

  // One-way cut a -> b: a's connection goes silent but stays open; c's still works.
  const c = await connect(port, '12');
  t.ok(await c.waitFor('12'));
  network.cutOneWay('a', ['b']);
  t.match(network.describe(), /a>b:drop/);
  a.sock.write('lost');
  c.sock.write('kept');
  t.ok(await c.waitFor('kept'), 'the other link passes');
  t.notOk(await a.waitFor('lost', 300), 'the cut link drops bytes');
  t.notOk(a.closed(), 'without closing the connection');
  // A new connection on a cut link is held, silent.
  const a2 = await connect(port, '11');
  t.notOk(await a2.waitFor('HTTP', 300), 'a new connection on a cut link gets nothing');
  const before = echo.accepted();

  // Heal: the connections that lost bytes are reset (their streams are corrupt).
  network.heal();
  await sleep(50);
  t.ok(a.closed() && a2.closed(), 'connections that lost bytes are reset at the heal');
  t.notOk(c.closed(), 'the others stay');
  t.equal(echo.accepted(), before, 'the held connection never reached the member');
  t.equal(network.faulty, false);

  // Reset mode: existing connections are closed at once, new ones after their headers.
  network.partition([['a'], ['b', 'c']], 'reset');
  await sleep(50);
  const a3 = await connect(port, '11');
  await sleep(100);
  t.ok(a3.closed(), 'a reset link refuses new connections');
  const c2 = await connect(port, '12');
  t.ok(await c2.waitFor('12'), 'links within a side pass');
  network.partition([['c'], ['a', 'b']], 'reset');
  await sleep(50);
  t.ok(c.closed() && c2.closed(), 'a reset link closes its open connections');
  network.heal();

  // Delay: bytes arrive late, in order.
  network.slow('b', ['a', 'b', 'c'], 150, 20);
  t.match(network.describe(), /\(150ms\)/);
  const a4 = await connect(port, '11');
  const start = performance.now();
  t.ok(await a4.waitFor('x-flotilla-from: 11', 2000));
  t.ok(performance.now() - start >= 250, `the request and the answer are each delayed (${(performance.now() - start).toFixed(0)} ms)`);
  a4.sock.write('one,');
  a4.sock.write('two,');
  a4.sock.write('three');
  t.ok(await a4.waitFor('one,two,three', 2000), 'in order');
  network.set('b', 'a', { mode: 'ok' });
  network.set('a', 'b', { mode: 'ok' });
  a4.sock.write('fast');
  const s2 = performance.now();
  t.ok(await a4.waitFor('fast'));
  t.ok(performance.now() - s2 < 150, 'a healed link is fast again');
  t.notOk(a4.closed(), 'a delayed connection lost nothing and stays open at the heal');
  network.heal();
  t.equal(network.describe(), 'healthy');

  proxy.resetAll();
  await sleep(50);
  t.ok(a4.closed(), 'resetAll closes every connection');
});

t.test('connections that do not say who they are (a joining member asking for the members)', async (t) => {
  const echo = await echoServer();
  const network = new Network();
  const proxy = new PeerProxy('b', echo.port, network, () => undefined, () => ['a', 'b', 'c']);
  const port = await proxy.listen();
  t.teardown(async () => {
    await proxy.close();
    await echo.close();
  });
  const anon = await connect(port);
  t.ok(await anon.waitFor('GET /raft'), 'they pass');
  t.same(network.get(undefined, 'b', ['a', 'b', 'c']), { mode: 'ok' });
  network.cutOneWay('a', ['b']);
  t.same(network.get(undefined, 'b', ['a', 'b', 'c']), { mode: 'ok' }, 'while some link into the member passes');
  network.set('c', 'b', { mode: 'drop' });
  t.same(network.get(undefined, 'b', ['a', 'b', 'c']), { mode: 'drop' }, 'not when the member is cut off');
  const anon2 = await connect(port);
  t.notOk(await anon2.waitFor('GET', 200));
  t.same(network.get(undefined, 'b'), { mode: 'ok' }, 'without a member list, they pass');
  network.set('a', 'a', { mode: 'drop' });
  t.same(network.get('a', 'a'), { mode: 'ok' }, 'a member always reaches itself');
  // An unidentified connection whose headers have not arrived is left alone by rule changes.
  const raw = net.connect({ host: '127.0.0.1', port });
  raw.on('error', () => undefined);
  await new Promise<void>((r) => raw.once('connect', () => r()));
  raw.write('GET / HTTP/1.1\r\n');
  await sleep(50);
  network.heal();
  await sleep(50);
  t.notOk(raw.destroyed, 'a connection still sending its headers is not reset by a heal');
  raw.destroy();
  t.ok(anon2.closed() || (await sleep(50), anon2.closed()), 'the held anonymous connection is reset at the heal');
});

t.test('a member that is down: the proxy closes the client side', async (t) => {
  const echo = await echoServer();
  const port0 = echo.port;
  await echo.close();
  const proxy = new PeerProxy('b', port0, new Network(), () => undefined, () => []);
  const port = await proxy.listen();
  t.teardown(() => proxy.close());
  const c = await connect(port, '5');
  await sleep(200);
  t.ok(c.closed(), 'connection refused upstream closes the client');
  await proxy.close();
  await proxy.close();
  t.pass('close twice is fine');
});
