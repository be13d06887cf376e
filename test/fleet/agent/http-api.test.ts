// The agent's HTTP API over a real Runner running real processes: journal (lines, follow), status,
// processes, the machine record, errors, and mounted handlers.
import t from 'tap';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { AgentHttpApi, DEFAULT_JOURNAL_LINES, type AgentApiSource } from '../../../src/fleet/agent/http-api.js';
import { journalLine, journalTime } from '../../../src/fleet/agent/journal-lines.js';
import type { LocalUnit } from '../../../src/fleet/agent/reconciler.js';
import type { MachineRecord } from '../../../src/fleet/registry/index.js';
import { Runner } from '../../../src/fleet/runner/index.js';
import { ownCgroupDir } from '../../../src/fleet/runner/command-cgroup.js';
import { parseUnitFile, serviceSpec } from '../../../src/fleet/unit/index.js';
import { tempDir, until } from './helpers.js';

const ME = 'd'.repeat(32);

t.test('journal lines look like journalctl', async (t) => {
  const ts = new Date(2024, 10, 9, 7, 5, 3).getTime();
  t.equal(journalTime(ts), 'Nov 09 07:05:03');
  t.equal(journalLine('hello.service', ME, { ts, stream: 'stdout', pid: 42, text: 'hi' }), `Nov 09 07:05:03 dddddddd hello.service[42]: hi\n`);
  t.equal(journalLine('hello.service', ME, { ts, stream: 'runner', pid: 7, text: 'Starting hello.service...' }), `Nov 09 07:05:03 dddddddd fleetd[7]: Starting hello.service...\n`);
});

t.test('the API', async (t) => {
  const dir = await tempDir();
  const runner = new Runner({ stateDir: dir.path, baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  const units = new Map<string, LocalUnit>();
  const machine: MachineRecord = { id: ME, publicIp: '127.0.0.1', metadata: { a: 'b' }, agentUrl: '', cpus: 1, memTotal: 1, memFree: 1, load: 0, version: 't', startedAt: 0 };
  const source: AgentApiSource = { machine: () => machine, unit: (n) => units.get(n), units: () => [...units.values()], runner };
  const api = new AgentHttpApi(source);
  const addr = await api.listen('127.0.0.1', 0);
  const base = `http://127.0.0.1:${addr.port}`;
  t.teardown(async () => {
    await api.close();
    await runner.killAll();
    await dir.remove();
  });

  const add = async (name: string, text: string) => {
    await runner.load(name, serviceSpec(parseUnitFile(name, text)).spec);
    units.set(name, { name, hash: 'h-' + name, load: 'loaded', global: false, started: true, starting: false, loadedAt: 0 });
  };
  // 15 numbered lines, then waits for a line on a fifo-less stdin: sleep keeps it running.
  await add('talk.service', "[Service]\nExecStart=/bin/sh -c 'for i in $(seq 1 15); do echo line $i; done; exec sleep 1000'\n");
  await runner.start('talk.service');
  await until(() => runner.journal('talk.service').tail().some((e) => e.text === 'line 15'), 'output journaled');
  units.set('broken.service', { name: 'broken.service', hash: 'h', load: 'error', loadError: 'broken.service:2: nope', global: false, started: false, starting: false, loadedAt: 5 });

  t.test('journal: the last N lines as text', async (t) => {
    const r = await fetch(`${base}/fleet/v1/units/talk.service/journal?lines=3`);
    t.equal(r.status, 200);
    t.match(r.headers.get('content-type'), /^text\/plain/);
    const lines = (await r.text()).trimEnd().split('\n');
    t.equal(lines.length, 3);
    t.match(lines[2], /^[A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} dddddddd talk\.service\[\d+\]: line 15$/);
    t.match(lines[0], /: line 13$/);
    const all = await (await fetch(`${base}/fleet/v1/units/talk.service/journal`)).text();
    t.equal(all.trimEnd().split('\n').length, DEFAULT_JOURNAL_LINES, 'ten lines by default');
    const none = await fetch(`${base}/fleet/v1/units/talk.service/journal?lines=0`);
    t.equal(await none.text(), '');
    const head = await fetch(`${base}/fleet/v1/units/talk.service/journal?lines=2`, { method: 'HEAD' });
    t.equal(head.status, 200);
    t.ok(Number(head.headers.get('content-length')) > 0);
  });

  t.test('journal: follow streams new lines until the client goes', async (t) => {
    const ac = new AbortController();
    const r = await fetch(`${base}/fleet/v1/units/talk.service/journal?lines=1&follow=true`, { signal: ac.signal });
    t.equal(r.status, 200);
    const reader = r.body!.getReader();
    let text = '';
    const readUntil = async (re: RegExp) => {
      while (!re.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${re}: ${text}`);
        text += Buffer.from(value).toString();
      }
    };
    await readUntil(/line 15\n/);
    // New lines: the runner's own, written as the unit is stopped.
    const stopping = runner.stop('talk.service');
    await readUntil(/fleetd\[\d+\]: Stopping talk\.service\.\.\.\n/);
    await stopping;
    t.match(text.split('\n')[0], /talk\.service\[\d+\]: line 15$/, 'starts with the tail');
    ac.abort();
    await reader.cancel().catch(() => undefined);
    await t.resolves(runner.start('talk.service'), 'the journal keeps working after the follower left');
  });

  t.test('journal: follow ends when the API closes', async (t) => {
    const api2 = new AgentHttpApi(source);
    const a2 = await api2.listen('127.0.0.1', 0);
    const r = await fetch(`http://127.0.0.1:${a2.port}/fleet/v1/units/talk.service/journal?lines=0&follow=1`);
    const reader = r.body!.getReader();
    const closed = api2.close();
    const ended = (async () => {
      for (;;) {
        const x = await reader.read().catch(() => ({ done: true }));
        if (x.done) return true;
      }
    })();
    await closed;
    t.equal(await ended, true);
  });

  t.test('journal of a unit that is not loaded: empty', async (t) => {
    const r = await fetch(`${base}/fleet/v1/units/broken.service/journal?follow=true`);
    t.equal(r.status, 200);
    t.equal(await r.text(), '');
  });

  t.test('status', async (t) => {
    const r = await fetch(`${base}/fleet/v1/units/talk.service/status`);
    t.equal(r.status, 200);
    const body = (await r.json()) as Record<string, unknown>;
    t.match(body, { name: 'talk.service', machine: ME, hash: 'h-talk.service', load: 'loaded', active: 'active', sub: 'running', result: 'success', restarts: 0 });
    t.type(body.mainPid, 'number');
    const bad = (await (await fetch(`${base}/fleet/v1/units/broken.service/status`)).json()) as Record<string, unknown>;
    t.same(bad, { name: 'broken.service', machine: ME, hash: 'h', load: 'error', active: 'inactive', sub: 'dead', loadError: 'broken.service:2: nope' });
    const list = (await (await fetch(`${base}/fleet/v1/units`)).json()) as { units: { name: string }[] };
    t.same(list.units.map((u) => u.name).sort(), ['broken.service', 'talk.service']);
  });

  t.test('processes: every process of the unit, with its command line, and its cgroup', async (t) => {
    // One process stays in the command's group (the shell exec'ed into sleep), one leaves it (setsid).
    await add('tree.service', "[Service]\nExecStart=/bin/sh -c 'setsid sleep 1001 & exec sleep 1002'\n");
    await runner.start('tree.service');
    type Listing = { name: string; machine: string; cgroup: string | null; processes: { pid: number; command: string }[] };
    const read = async (unit: string) => (await (await fetch(`${base}/fleet/v1/units/${unit}/processes`)).json()) as Listing;
    await until(async () => (await read('tree.service')).processes.length === 2, 'both sleeps running');
    const body = await read('tree.service');
    const main = runner.status('tree.service')!.mainPid!;
    t.same(
      body.processes.map((p) => p.command).sort(),
      ['sleep 1001', 'sleep 1002'],
    );
    t.ok(body.processes.some((p) => p.pid === main && p.command === 'sleep 1002'), 'the main process, by its pid');
    t.same(body.processes.map((p) => p.pid), [...body.processes.map((p) => p.pid)].sort((a, b) => a - b), 'ordered by pid');
    t.match(body, { name: 'tree.service', machine: ME });
    const cgroupDir = ownCgroupDir();
    if (cgroupDir !== undefined && process.env.FLOTILLA_UNIT_CGROUPS !== '0') {
      t.match(body.cgroup, /^\/(.*\/)?flotilla-tree\.service-[0-9a-f]{8}$/, 'the command cgroup, as a path in the hierarchy');
      t.ok(existsSync(`${cgroupDir}/${body.cgroup!.split('/').pop()}`), 'a cgroup that exists');
    } else {
      t.equal(body.cgroup, null, 'no cgroups here');
    }
    await runner.stop('tree.service');
    t.same(await read('tree.service'), { name: 'tree.service', machine: ME, cgroup: null, processes: [] }, 'nothing runs once stopped');
    t.same(await read('broken.service'), { name: 'broken.service', machine: ME, cgroup: null, processes: [] }, 'a unit that did not load');
  });

  t.test('machine', async (t) => {
    const r = await fetch(`${base}/fleet/v1/machine`);
    t.same(await r.json(), machine);
  });

  t.test('errors: JSON, with the right status', async (t) => {
    const cases: [string, RequestInit, number, RegExp][] = [
      ['/fleet/v1/units/nope.service/status', {}, 404, /unit nope\.service is not on this machine/],
      ['/fleet/v1/units/nope.service/journal', {}, 404, /not on this machine/],
      ['/fleet/v1/units/nope.service/processes', {}, 404, /not on this machine/],
      ['/fleet/v1/units/talk.service/other', {}, 404, /no such endpoint/],
      ['/fleet/v2/x', {}, 404, /no such endpoint: \/fleet\/v2\/x/],
      ['/elsewhere', {}, 404, /no such endpoint: \/elsewhere/],
      ['/fleet/v1/machine', { method: 'POST' }, 405, /method POST not allowed/],
      ['/fleet/v1/units/talk.service/journal?lines=-1', {}, 400, /lines must be an integer from 0/],
      ['/fleet/v1/units/talk.service/journal?lines=abc', {}, 400, /got "abc"/],
      ['/fleet/v1/units/talk.service/journal?follow=maybe', {}, 400, /follow must be true or false/],
      ['/fleet/v1/units/%E0%A4%A/status', {}, 400, /bad unit name/],
    ];
    for (const [path, init, status, re] of cases) {
      const r = await fetch(`${base}${path}`, init);
      t.equal(r.status, status, path);
      t.match(r.headers.get('content-type'), /application\/json/);
      t.match(((await r.json()) as { error: string }).error, re, path);
      if (status === 405) t.equal(r.headers.get('allow'), 'GET, HEAD');
    }
  });

  t.test('mounted handlers answer what they recognize; /fleet/ stays the agent’s', async (t) => {
    api.mount((req, res) => {
      if (!req.url?.startsWith('/v1/agent/')) return false;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"consul":true}');
      return true;
    });
    t.same(await (await fetch(`${base}/v1/agent/self`)).json(), { consul: true });
    t.equal((await fetch(`${base}/v1/other`)).status, 404);
    t.equal((await fetch(`${base}/fleet/v1/machine`)).status, 200);
  });

  t.test('a handler that throws after answering does not take the server down', async (t) => {
    const api3 = new AgentHttpApi({ ...source, machine: () => { throw new Error('boom'); } });
    const server = http.createServer(api3.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const r = await fetch(`http://127.0.0.1:${port}/fleet/v1/machine`);
    t.equal(r.status, 500);
    t.same(await r.json(), { error: 'boom' });
    await new Promise((r) => server.close(r));
    await api3.close();
  });
});
