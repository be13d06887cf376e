// The DNS front end: answers built from a view (A, AAAA, SRV with the address in the additional
// section, tags, RFC 2782 names, node names, NXDOMAIN with SOA, REFUSED outside the domain, TC
// over UDP), and the server over UDP and TCP with Node's resolver, raw packets, and dig when
// installed.
import t from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import { Resolver } from 'node:dns/promises';
import { execFile } from 'node:child_process';
import dnsPacket, { type DecodedPacket, type Packet } from 'dns-packet';
import { DnsServer, matchesFilter, validateDefinition, type ServiceInstance } from '../../src/discovery/index.js';
import { answerQuery, encodeWithin, RCODE, type DnsView } from '../../src/discovery/dns/answer.js';
import { instanceLabel, normalizeDomain, parseName } from '../../src/discovery/dns/names.js';

function inst(service: string, id: string, address: string, port: number, status: ServiceInstance['Status'] = 'passing', tags: string[] = []): ServiceInstance {
  return { ...validateDefinition({ Name: service, ID: id, Address: address, Port: port, Tags: tags }, { node: 'm1' }), Status: status };
}

const instances: ServiceInstance[] = [
  inst('web', 'web-1', '10.0.0.1', 8001, 'passing', ['primary']),
  inst('web', 'web-2', '10.0.0.2', 8002, 'warning'),
  inst('web', 'web-3', '10.0.0.3', 8003, 'critical', ['primary']),
  inst('v6', 'v6-1', 'fd00::1', 9000),
  inst('named', 'm1-named@1.service', 'host.example.com', 7000),
  inst('down', 'down-1', '10.0.0.9', 1, 'critical'),
];
for (let i = 0; i < 60; i++) instances.push(inst('big', `big-${i}`, `10.1.0.${i + 1}`, 5000 + i));

const view: DnsView = {
  instances: (s, f) => instances.filter((i) => i.Service === s && matchesFilter(i, f)),
  all: () => instances,
  serial: () => 42,
};

const baseOpts = { domain: 'flotilla', ttl: 0, onlyPassing: false, random: () => 0.5 };

function ask(name: string, type: string, opts = baseOpts, extra: Partial<Packet> = {}): Packet {
  const q = dnsPacket.decode(dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as 'A', name }], ...extra }));
  return answerQuery(q, view, opts);
}

const rcode = (p: Packet) => (p.flags ?? 0) & 0xf;
const data = (p: Packet) => (p.answers ?? []).map((a) => (a as { data: unknown }).data);

t.test('names', async (t) => {
  const d = normalizeDomain('.Flotilla.');
  t.equal(d, 'flotilla');
  t.same(parseName('web.service.flotilla', d), { kind: 'service', service: 'web' });
  t.same(parseName('WEB.Service.Flotilla.', d), { kind: 'service', service: 'web' });
  t.same(parseName('primary.web.service.flotilla', d), { kind: 'service', service: 'web', tag: 'primary' });
  t.same(parseName('_web._tcp.service.flotilla', d), { kind: 'service', service: 'web' });
  t.same(parseName('_web._udp.service.flotilla', d), { kind: 'service', service: 'web' });
  t.same(parseName('_web._primary.service.flotilla', d), { kind: 'service', service: 'web', tag: 'primary' });
  t.same(parseName('web-1.node.flotilla', d), { kind: 'node', label: 'web-1' });
  t.same(parseName('flotilla', d), { kind: 'apex' });
  t.same(parseName('a.b.web.service.flotilla', d), { kind: 'unknown' });
  t.same(parseName('web.nodes.flotilla', d), { kind: 'unknown' });
  t.same(parseName('example.com', d), { kind: 'outside' });
  t.same(parseName('xflotilla', d), { kind: 'outside' });
  t.equal(instanceLabel('m1-Web@1.service'), 'm1-web-1-service');
  t.equal(instanceLabel('@@'), 'instance');
  t.equal(instanceLabel(`a${'b'.repeat(70)}`).length, 63);
});

t.test('A: healthy instances (passing and warning), shuffled by the injected random', async (t) => {
  const p = ask('web.service.flotilla', 'A');
  t.equal(rcode(p), RCODE.NOERROR);
  t.same([...(data(p) as string[])].sort(), ['10.0.0.1', '10.0.0.2']);
  t.ok(((p.flags ?? 0) & dnsPacket.AUTHORITATIVE_ANSWER) !== 0, 'authoritative');
  t.ok(((p.flags ?? 0) & dnsPacket.RECURSION_DESIRED) !== 0, 'RD copied');
  t.equal((p.answers![0] as { ttl: number }).ttl, 0);
  const orders = new Set<string>();
  for (const r of [0, 0.99]) orders.add(JSON.stringify(data(ask('web.service.flotilla', 'A', { ...baseOpts, random: () => r }))));
  t.equal(orders.size, 2, 'the order follows the random source');
  t.same(data(ask('web.service.flotilla', 'A', { ...baseOpts, onlyPassing: true })), ['10.0.0.1'], 'only passing');
  t.same(data(ask('primary.web.service.flotilla', 'A')), ['10.0.0.1'], 'tag lookup; the critical primary is left out');
  t.same(data(ask('_web._primary.service.flotilla', 'A')), ['10.0.0.1']);
  t.same(data(ask('web.service.flotilla', 'A', { ...baseOpts, ttl: 5 })).length, 2);
  t.equal((ask('web.service.flotilla', 'A', { ...baseOpts, ttl: 5 }).answers![0] as { ttl: number }).ttl, 5);
});

t.test('AAAA, ANY, and a type without records (NODATA with SOA)', async (t) => {
  t.same(data(ask('v6.service.flotilla', 'AAAA')), ['fd00::1']);
  t.same(data(ask('v6.service.flotilla', 'ANY')), ['fd00::1']);
  const nodata = ask('v6.service.flotilla', 'A');
  t.equal(rcode(nodata), RCODE.NOERROR);
  t.same(nodata.answers, []);
  t.equal(nodata.authorities![0]!.type, 'SOA');
  t.same(ask('web.service.flotilla', 'TXT').answers, []);
  t.same(ask('named.service.flotilla', 'A').answers, [], 'a host-name address has no A record here');
});

t.test('SRV: port and target, with the target address in the additional section', async (t) => {
  const p = ask('_web._tcp.service.flotilla', 'SRV');
  const srv = (p.answers as { data: { port: number; target: string; priority: number; weight: number } }[]).map((a) => a.data).sort((a, b) => a.port - b.port);
  t.same(srv, [
    { priority: 1, weight: 1, port: 8001, target: 'web-1.node.flotilla' },
    { priority: 1, weight: 1, port: 8002, target: 'web-2.node.flotilla' },
  ]);
  t.same(
    (p.additionals as { name: string; type: string; data: string }[]).map((a) => [a.name, a.type, a.data]).sort(),
    [
      ['web-1.node.flotilla', 'A', '10.0.0.1'],
      ['web-2.node.flotilla', 'A', '10.0.0.2'],
    ],
  );
  const named = ask('named.service.flotilla', 'SRV');
  t.same(data(named), [{ priority: 1, weight: 1, port: 7000, target: 'host.example.com' }], 'a host-name address is the target itself');
  t.same(named.additionals, []);
  const v6 = ask('v6.service.flotilla', 'SRV');
  t.equal(v6.additionals![0]!.type, 'AAAA');
});

t.test('node names answer the instance address, whatever its health', async (t) => {
  t.same(data(ask('web-3.node.flotilla', 'A')), ['10.0.0.3']);
  t.same(data(ask('v6-1.node.flotilla', 'AAAA')), ['fd00::1']);
  const nodata = ask('v6-1.node.flotilla', 'A');
  t.same([rcode(nodata), nodata.answers, nodata.authorities![0]!.type], [RCODE.NOERROR, [], 'SOA']);
  t.equal(rcode(ask('nobody.node.flotilla', 'A')), RCODE.NXDOMAIN);
});

t.test('NXDOMAIN with SOA; REFUSED outside the domain; the apex', async (t) => {
  for (const name of ['nope.service.flotilla', 'down.service.flotilla', 'x.web.service.flotilla', 'what.flotilla']) {
    const p = ask(name, 'A');
    t.equal(rcode(p), RCODE.NXDOMAIN, name);
    t.same(p.answers, []);
    t.same((p.authorities![0] as { data: { mname: string; serial: number } }).data.mname, 'ns.flotilla');
    t.equal((p.authorities![0] as { data: { serial: number } }).data.serial, 42);
  }
  t.equal(rcode(ask('example.com', 'A')), RCODE.REFUSED);
  t.equal(ask('flotilla', 'SOA').answers![0]!.type, 'SOA');
  t.same(data(ask('flotilla', 'NS')), ['ns.flotilla']);
  const apexA = ask('flotilla', 'A');
  t.same([rcode(apexA), apexA.answers], [RCODE.NOERROR, []]);
});

t.test('odd queries: other opcodes, several questions, other classes, EDNS', async (t) => {
  const q = (p: Packet): DecodedPacket => dnsPacket.decode(dnsPacket.encode(p));
  t.equal(rcode(answerQuery(q({ type: 'query', id: 1, flags: 2 << 11, questions: [{ type: 'A', name: 'web.service.flotilla' }] }), view, baseOpts)), RCODE.NOTIMP);
  t.equal(rcode(answerQuery(q({ type: 'query', id: 1, questions: [] }), view, baseOpts)), RCODE.FORMERR);
  t.equal(rcode(answerQuery(q({ type: 'query', id: 1, questions: [{ type: 'A', name: 'web.service.flotilla', class: 'CH' }] }), view, baseOpts)), RCODE.REFUSED);
  const edns = ask('web.service.flotilla', 'A', baseOpts, { additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] });
  t.equal(edns.additionals!.at(-1)!.type, 'OPT', 'an EDNS query gets an OPT record back');
});

t.test('truncation: additionals go first, then answers; TC is set', async (t) => {
  const big = ask('big.service.flotilla', 'A');
  const full = dnsPacket.encode(big);
  t.ok(full.length > 512);
  const cut = dnsPacket.decode(encodeWithin(big, 512));
  t.ok(cut.flag_tc);
  t.ok(cut.answers!.length > 0 && cut.answers!.length < 60);
  t.ok(encodeWithin(big, 512).length <= 512);
  const srv = ask('big.service.flotilla', 'SRV');
  const cutSrv = dnsPacket.decode(encodeWithin(srv, 512));
  t.same(cutSrv.additionals, []);
  t.ok(cutSrv.flag_tc);
  t.notOk(dnsPacket.decode(encodeWithin(ask('web.service.flotilla', 'A'), 512)).flag_tc);
});

t.test('the server over UDP and TCP', async (t) => {
  const server = new DnsServer(view, { port: 0, random: () => 0.3 });
  const port = await server.listen();
  t.teardown(() => server.close());
  t.equal(server.host, '127.0.0.1');
  t.equal(server.port, port);
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);

  t.test('Node resolver: A, SRV, tags, NXDOMAIN, REFUSED', async (t) => {
    t.same((await resolver.resolve4('web.service.flotilla')).sort(), ['10.0.0.1', '10.0.0.2']);
    t.same(await resolver.resolve4('primary.web.service.flotilla'), ['10.0.0.1']);
    t.same(await resolver.resolve6('v6.service.flotilla'), ['fd00::1']);
    const srv = (await resolver.resolveSrv('_web._tcp.service.flotilla')).sort((a, b) => a.port - b.port);
    t.same(srv, [
      { name: 'web-1.node.flotilla', port: 8001, priority: 1, weight: 1 },
      { name: 'web-2.node.flotilla', port: 8002, priority: 1, weight: 1 },
    ]);
    t.same((await resolver.resolveSrv('web.service.flotilla')).length, 2);
    await t.rejects(resolver.resolve4('nope.service.flotilla'), { code: 'ENOTFOUND' });
    await t.rejects(resolver.resolve4('down.service.flotilla'), { code: 'ENOTFOUND' }, 'no healthy instance');
    await t.rejects(resolver.resolve4('v6.service.flotilla'), { code: 'ENODATA' });
    await t.rejects(resolver.resolve4('example.com'), { code: 'EREFUSED' });
    const all = await resolver.resolve4('big.service.flotilla');
    t.equal(all.length, 60, 'a truncated UDP answer is asked again over TCP and comes whole');
  });

  t.test('raw UDP: TC bit on a large answer without EDNS; garbage gets FORMERR or nothing', async (t) => {
    const sock = dgram.createSocket('udp4');
    t.teardown(() => sock.close());
    const exchange = (buf: Buffer) =>
      new Promise<Buffer>((resolve) => {
        sock.once('message', (m) => resolve(m));
        sock.send(buf, port, '127.0.0.1');
      });
    const q = dnsPacket.encode({ type: 'query', id: 99, questions: [{ type: 'A', name: 'big.service.flotilla' }] });
    const r = dnsPacket.decode(await exchange(q));
    t.equal(r.id, 99);
    t.ok(r.flag_tc, 'truncated');
    t.ok(r.answers!.length < 60);
    const withEdns = dnsPacket.decode(
      await exchange(
        dnsPacket.encode({
          type: 'query',
          id: 100,
          questions: [{ type: 'A', name: 'big.service.flotilla' }],
          additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
        }),
      ),
    );
    t.notOk(withEdns.flag_tc, 'EDNS0 with 4096 bytes takes the whole answer');
    t.equal(withEdns.answers!.length, 60);
    const junk = Buffer.alloc(20, 0xff);
    junk.writeUInt16BE(4242, 0);
    const fe = dnsPacket.decode(await exchange(junk));
    t.same([fe.id, (fe as unknown as { rcode: string }).rcode], [4242, 'FORMERR']);
    sock.send(Buffer.from([1, 2, 3]), port, '127.0.0.1');
    // A response packet sent to the server is ignored too; the next query still gets its answer.
    sock.send(dnsPacket.encode({ type: 'response', id: 5, questions: [] }), port, '127.0.0.1');
    const after = dnsPacket.decode(await exchange(dnsPacket.encode({ type: 'query', id: 101, questions: [{ type: 'A', name: 'web.service.flotilla' }] })));
    t.equal(after.id, 101);
  });

  t.test('raw TCP: two queries on one connection, split across writes', async (t) => {
    const sock = net.connect(port, '127.0.0.1');
    t.teardown(() => sock.destroy());
    const frame = (p: Packet) => {
      const b = dnsPacket.encode(p);
      const f = Buffer.alloc(b.length + 2);
      f.writeUInt16BE(b.length, 0);
      b.copy(f, 2);
      return f;
    };
    const both = Buffer.concat([
      frame({ type: 'query', id: 1, questions: [{ type: 'A', name: 'big.service.flotilla' }] }),
      frame({ type: 'query', id: 2, questions: [{ type: 'SRV', name: 'web.service.flotilla' }] }),
    ]);
    sock.write(both.subarray(0, 5));
    setTimeout(() => sock.write(both.subarray(5)), 20);
    const replies: DecodedPacket[] = [];
    let buf = Buffer.alloc(0);
    await new Promise<void>((resolve) => {
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          replies.push(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
        }
        if (replies.length === 2) resolve();
      });
    });
    t.same([replies[0]!.id, replies[0]!.answers!.length, replies[0]!.flag_tc], [1, 60, false], 'TCP carries the whole answer');
    t.same([replies[1]!.id, replies[1]!.answers!.length], [2, 2]);
    // A response frame is not a query: the connection is closed.
    sock.write(frame({ type: 'response', id: 3, questions: [] }));
    await new Promise<void>((r) => sock.once('close', () => r()));
  });

  const dig = await new Promise<boolean>((resolve) => execFile('which', ['dig'], (err) => resolve(!err)));
  const skip = dig ? false : 'dig is not installed (Debian package dnsutils): the Node resolver and raw packets above cover the same answers';
  t.test('dig, when installed', { skip }, async (t) => {
    const run = (args: string[]) => new Promise<string>((resolve, reject) => execFile('dig', ['@127.0.0.1', '-p', String(port), ...args], (err, out) => (err ? reject(err) : resolve(out))));
    t.match(await run(['+short', 'web.service.flotilla']), /10\.0\.0\.[12]/);
    t.match(await run(['+short', 'web.service.flotilla', 'SRV']), /1 1 800[12] web-[12]\.node\.flotilla\./);
    t.match(await run(['nope.service.flotilla']), /status: NXDOMAIN/);
    t.match(await run(['+tcp', '+short', 'big.service.flotilla']), /10\.1\.0\.60/);
    t.match(await run(['+ignore', '+noedns', 'big.service.flotilla']), /flags: qr aa[^;]*tc/);
  });
});

t.test('listen fails clearly when the port is taken', async (t) => {
  const first = new DnsServer(view, { port: 0 });
  const port = await first.listen();
  t.teardown(() => first.close());
  const second = new DnsServer(view, { port });
  await t.rejects(second.listen(), { code: 'EADDRINUSE' });
  await second.close();
});
