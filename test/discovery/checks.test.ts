// The health checks: the http, tcp and exec probes against real servers and processes, and the
// interval and TTL loops on a manual clock.
import t from 'tap';
import net from 'node:net';
import { execProbe, httpProbe, IntervalCheck, tcpProbe, TtlCheck, type CheckResult, type Probe } from '../../src/discovery/checks/index.js';
import { startCheck } from '../../src/discovery/checks/index.js';
import { capOutput, MAX_OUTPUT } from '../../src/discovery/checks/types.js';
import { validateDefinition } from '../../src/discovery/index.js';
import { ManualClock, testHttpServer } from './helpers.js';
import { freePort } from '../raft/cluster.js';

const run = (p: Probe, timeoutMs = 5000) => {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  return p(ac.signal).finally(() => clearTimeout(timer));
};

t.test('http: 2xx passing, 429 warning, else critical; refused and aborted are critical', async (t) => {
  const srv = await testHttpServer(200);
  t.teardown(() => srv.close());
  const probe = httpProbe(`${srv.url}/health`);
  let r = await run(probe);
  t.same(r, { status: 'passing', output: `HTTP GET ${srv.url}/health: 200 OK Output: ok` });
  srv.status = 204;
  t.equal((await run(probe)).status, 'passing');
  srv.status = 429;
  t.equal((await run(probe)).status, 'warning');
  srv.status = 503;
  r = await run(probe);
  t.same(r, { status: 'critical', output: `HTTP GET ${srv.url}/health: 503 Service Unavailable Output: not ok` });
  srv.status = 301;
  t.equal((await run(probe)).status, 'critical', 'redirects are not followed');
  srv.status = 200;
  srv.delayMs = 2000;
  r = await run(probe, 50);
  t.equal(r.status, 'critical', 'an aborted request is critical');
  const dead = `http://127.0.0.1:${await freePort()}/`;
  r = await run(httpProbe(dead));
  t.equal(r.status, 'critical');
  t.match(r.output, /ECONNREFUSED/);
});

t.test('http: a long body is cut', async (t) => {
  const http = await import('node:http');
  const server = http.createServer((_req, res) => {
    res.writeHead(200);
    res.end('x'.repeat(3 * MAX_OUTPUT));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const r = await run(httpProbe(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`));
  t.equal(r.status, 'passing');
  t.ok(r.output.length <= MAX_OUTPUT + 20);
  t.match(r.output, /\.\.\. \(truncated\)$/);
  t.equal(capOutput('short'), 'short');
});

t.test('tcp: passing when it connects', async (t) => {
  const server = net.createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as net.AddressInfo).port;
  t.same(await run(tcpProbe('127.0.0.1', port)), { status: 'passing', output: `TCP connect 127.0.0.1:${port}: Success` });
  const dead = await freePort();
  const r = await run(tcpProbe('127.0.0.1', dead));
  t.equal(r.status, 'critical');
  t.match(r.output, new RegExp(`^dial tcp 127\\.0\\.0\\.1:${dead}: .*ECONNREFUSED`));
  const ac = new AbortController();
  ac.abort();
  t.same(await tcpProbe('::1', 1)(ac.signal), { status: 'critical', output: 'TCP connect [::1]:1: canceled' });
});

t.test('exec: exit 0 passing, 1 warning, other critical; killed at the deadline with its children', async (t) => {
  t.same(await run(execProbe(['/bin/sh', '-c', 'echo fine'])), { status: 'passing', output: 'fine\n' });
  t.same(await run(execProbe(['/bin/sh', '-c', 'echo slow >&2; exit 1'])), { status: 'warning', output: 'slow\n' });
  t.same(await run(execProbe(['/bin/sh', '-c', 'echo broken; exit 3'])), { status: 'critical', output: 'exit status 3\nbroken\n' });
  const missing = await run(execProbe(['/no/such/check']));
  t.equal(missing.status, 'critical');
  t.match(missing.output, /^exec \/no\/such\/check: .*ENOENT/);
  const started = Date.now();
  // The shell's child (sleep) holds the output pipe: only killing the group ends the run.
  const r = await run(execProbe(['/bin/sh', '-c', 'sleep 30; echo never']), 200);
  t.equal(r.status, 'critical');
  t.match(r.output, /^killed by SIGKILL/);
  t.ok(Date.now() - started < 5000, 'the run ended at its deadline');
});

t.test('interval loop: runs at once, then every interval; a run past its timeout is critical', async (t) => {
  const clock = new ManualClock();
  const results: CheckResult[] = [];
  let answer: CheckResult = { status: 'passing', output: 'ok' };
  let hang = false;
  let runs = 0;
  const aborted: boolean[] = [];
  const probe: Probe = (signal) => {
    runs++;
    if (!hang) return Promise.resolve(answer);
    return new Promise((resolve) =>
      signal.addEventListener('abort', () => {
        aborted.push(true);
        resolve({ status: 'passing', output: 'late' });
      }),
    );
  };
  const loop = new IntervalCheck(probe, 1000, 300, clock, (r) => results.push(r));
  await loop.start();
  t.same([runs, results], [1, [answer]], 'first run at once');
  await clock.advance(999);
  t.equal(runs, 1);
  await clock.advance(1);
  t.equal(runs, 2);
  answer = { status: 'critical', output: 'down' };
  await clock.advance(1000);
  t.same(results.map((r) => r.status), ['passing', 'passing', 'critical']);
  hang = true;
  await clock.advance(1000);
  t.equal(results.length, 3, 'a hung run has not reported yet');
  await clock.advance(300);
  t.same(results[3], { status: 'critical', output: 'Timeout exceeded (300ms)' });
  t.same(aborted, [true], 'the hung run was aborted');
  await clock.advance(700);
  t.equal(runs, 5, 'the next run still starts one interval after the previous start');
  loop.stop();
  await clock.advance(300);
  t.equal(results.length, 4, 'a stopped loop reports nothing more');
  t.equal(clock.timers, 0, 'no timer left');
});

t.test('interval loop: a probe that throws is critical', async (t) => {
  const clock = new ManualClock();
  const results: CheckResult[] = [];
  const loop = new IntervalCheck(() => Promise.reject(new Error('boom')), 1000, 100, clock, (r) => results.push(r));
  await loop.start();
  t.same(results, [{ status: 'critical', output: 'check failed: boom' }]);
  loop.stop();
});

t.test('TTL: the reported status holds for one TTL, then critical', async (t) => {
  const clock = new ManualClock();
  const results: CheckResult[] = [];
  const ttl = new TtlCheck(5000, clock, (r) => results.push(r));
  ttl.report('passing', 'alive');
  await clock.advance(4000);
  ttl.report('warning', 'slow');
  await clock.advance(4999);
  t.same(results, [
    { status: 'passing', output: 'alive' },
    { status: 'warning', output: 'slow' },
  ]);
  await clock.advance(1);
  t.same(results[2], { status: 'critical', output: 'TTL expired (no report within 5s)' });
  ttl.stop();
  ttl.report('passing', 'too late');
  t.equal(results.length, 3);
  t.equal(clock.timers, 0);
});

t.test('startCheck builds the runner of each type', async (t) => {
  const clock = new ManualClock();
  const srv = await testHttpServer(200);
  t.teardown(() => srv.close());
  const inst = validateDefinition(
    {
      Name: 'web',
      Address: '127.0.0.1',
      Port: srv.port,
      Checks: [
        { Type: 'http', Target: srv.url },
        { Type: 'tcp', Target: `127.0.0.1:${srv.port}` },
        { Type: 'exec', Target: '/bin/true' },
        { Type: 'ttl', Interval: '10s' },
      ],
    },
    { node: 'm1' },
  );
  const got: string[] = [];
  const running = inst.Checks.map((c) => startCheck(c, clock, (r) => got.push(`${c.Type}:${r.status}`)));
  await Promise.all(running.map((r) => r.started));
  running[3]!.report!('passing', '');
  t.same(got.sort(), ['exec:passing', 'http:passing', 'tcp:passing', 'ttl:passing']);
  for (const r of running) r.stop();
});
