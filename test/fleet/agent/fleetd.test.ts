// fleetd as a whole: in-process (the engine places a submitted unit, the agent runs it, its journal
// and status come over HTTP and fleetctl status shows them, a stop revokes the lease), and as real
// processes from dist/ (exit codes for bad flags, SIGTERM, the persisted machine id, the embedded
// default `flotilla`).
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client } from '../../../src/client/index.js';
import { parseFleetdArgs, type FleetdConfig } from '../../../src/fleet/config.js';
import { baseEnvironment, startFleetd } from '../../../src/fleet/fleetd.js';
import { runUntilSignal } from '../../../src/util/daemon-main.js';
import { Registry, RegistryView, type RegistrySnapshot } from '../../../src/fleet/registry/index.js';
import { ownCgroupDir } from '../../../src/fleet/runner/command-cgroup.js';
import { parseUnitFile } from '../../../src/fleet/unit/index.js';
import { plainNode } from '../../plain-node.js';
import { freePort } from '../../raft/cluster.js';
import { KvdCluster } from '../../server/kvd-harness.js';
import { fleetctl } from '../../fleetctl/helpers.js';
import { alive, sleeperUnit, tempDir, untilView } from './helpers.js';

const dist = (name: string) => fileURLToPath(new URL(`../../../dist/bin/${name}.js`, import.meta.url));

function config(argv: string[]): FleetdConfig {
  const r = parseFleetdArgs(argv, {});
  if (r.kind !== 'config') throw new Error('not a config');
  return r.config;
}

const running = (s: RegistrySnapshot, name: string, machine: string) => s.states.get(name)?.get(machine)?.sub === 'running';

t.test('baseEnvironment keeps only what units should inherit', async (t) => {
  t.same(baseEnvironment({ PATH: '/bin', HOME: '/root', SECRET_TOKEN: 'x', FLEETD_METADATA: 'a=b' }), { PATH: '/bin', HOME: '/root' });
});

t.test('runUntilSignal: stop on the first signal, exit at once on the second', async (t) => {
  const { EventEmitter } = await import('node:events');
  const proc = Object.assign(new EventEmitter(), {
    exits: [] as number[],
    err: '',
    stderr: { write: (s: string) => ((proc.err += s), true) },
    exit: (code: number) => void proc.exits.push(code),
  });
  let release!: () => void;
  runUntilSignal('x', () => new Promise<void>((r) => (release = r)), proc as unknown as NodeJS.Process);
  proc.emit('SIGTERM', 'SIGTERM');
  proc.emit('SIGINT', 'SIGINT');
  t.same(proc.exits, [1], 'the second signal exits with 1');
  release();
  await new Promise((r) => setImmediate(r));
  t.same(proc.exits, [1, 0]);
  t.match(proc.err, 'x: SIGTERM: stopping\nx: SIGINT again: exiting now\n');

  const proc2 = Object.assign(new EventEmitter(), { exits: [] as number[], stderr: { write: () => true }, exit: (c: number) => void proc2.exits.push(c) });
  runUntilSignal('y', () => Promise.reject(new Error('nope')), proc2 as unknown as NodeJS.Process);
  proc2.emit('SIGINT', 'SIGINT');
  await new Promise((r) => setImmediate(r));
  t.same(proc2.exits, [1], 'a failed stop exits with 1');
});

t.test('with a kvd', async (t) => {
  const cluster = await KvdCluster.create(1);
  const url = cluster.members[0]!.url;
  const client = new Client({ endpoints: [url], autoSyncMembers: false });
  const registry = new Registry(client);
  const view = new RegistryView(registry);
  await view.start();
  t.teardown(async () => {
    await view.stop();
    client.close();
    await cluster.close();
  });

  t.test('in process: the engine places, the agent runs, HTTP shows, stop revokes', async (t) => {
    const dir = await tempDir();
    t.teardown(dir.remove);
    // An empty command cgroup an earlier run left behind (where this process may make cgroups).
    const stale = ownCgroupDir() === undefined ? undefined : `${ownCgroupDir()}/flotilla-stale-fleetd-${process.pid}`;
    let staleMade = false;
    try {
      if (stale !== undefined) mkdirSync(stale);
      staleMade = stale !== undefined;
    } catch {
      // not root, or cgroup2 read-only here: nothing to sweep
    }
    t.teardown(() => {
      if (staleMade && existsSync(stale!)) rmdirSync(stale!);
    });
    const fleetd = await startFleetd(
      config(['--endpoints', url, '--state-dir', dir.path, '--http-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--agent-ttl', '2', '--metadata', 'role=inproc', '--log-level', 'silent']),
      { readFacts: async () => ({ cpus: 2, memTotal: 2e9, memFree: 1e9, load: 0 }) },
    );
    await fleetd.ready();
    if (staleMade) t.notOk(existsSync(stale!), 'the empty cgroup left by an earlier run was removed at start');
    t.match(fleetd.agentUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    const id = fleetd.machineId;
    let s = await untilView(view, (s) => s.machines.has(id), 'machine announced');
    t.match(s.machines.get(id), { id, metadata: { role: 'inproc' }, agentUrl: fleetd.agentUrl, cpus: 2, version: '0.1.0' });

    await registry.submit(parseUnitFile('inproc.service', sleeperUnit('inproc', '\n[X-Fleet]\nMachineMetadata=role=inproc\n')), { desired: 'launched' });
    s = await untilView(view, (s) => running(s, 'inproc.service', id), 'placed by the engine and running');
    t.equal(s.placements.get('inproc.service')?.machine, id);
    const pid = s.states.get('inproc.service')!.get(id)!.mainPid;

    const journal = await (await fetch(`${fleetd.agentUrl}/fleet/v1/units/inproc.service/journal?lines=20`)).text();
    t.match(journal, new RegExp(`${id.slice(0, 8)} inproc\\.service\\[\\d+\\]: hello inproc\\n`));
    const status = (await (await fetch(`${fleetd.agentUrl}/fleet/v1/units/inproc.service/status`)).json()) as Record<string, unknown>;
    t.match(status, { name: 'inproc.service', machine: id, load: 'loaded', active: 'active', sub: 'running', mainPid: pid });
    // fleetctl status end to end: the state from the registry, the processes and journal from this agent.
    const ctl = await fleetctl(['status', 'inproc.service', `--endpoint=${url}`, '--request-timeout=30']);
    t.equal(ctl.stderr, '');
    t.match(ctl.stdout, new RegExp(`\\n {4}Tasks: 1\\n {3}Memory: \\d+\\.\\d[KM]\\n {6}CPU: \\d+(?:\\.\\d+)?m?s\\n {3}CGroup: \\S+\\n {11}└─${pid} sleep 1000\\n\\n`), 'the CGroup block lists the unit\'s one process, after its tasks, memory and CPU time');
    t.match(ctl.stdout, 'hello inproc');

    await fleetd.stop();
    await fleetd.stop();
    t.notOk(alive(pid), 'the unit was stopped');
    const left = await client.get(registry.keys.machine(id));
    t.equal(left.kvs.length, 0, 'the machine left the registry at once (lease revoked)');
    t.equal((await client.get(registry.keys.state('inproc.service', id))).kvs.length, 0);
    await registry.destroy('inproc.service');
  });

  t.test('in process: an HTTP address in use is an error, and nothing is left running', async (t) => {
    const dir = await tempDir();
    t.teardown(dir.remove);
    const port = await freePort();
    const http = await import('node:http');
    const blocker = http.createServer();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    t.teardown(() => new Promise((r) => blocker.close(r)));
    await t.rejects(startFleetd(config(['--endpoints', url, '--state-dir', dir.path, '--http-addr', `127.0.0.1:${port}`, '--dns-addr', '', '--log-level', 'silent'])), { code: 'EADDRINUSE' });
  });

  t.test('process: flags, SIGTERM, persisted machine id', async (t) => {
    const dir = await tempDir();
    t.teardown(dir.remove);
    const httpPort = await freePort();
    const args = ['--endpoints', url, '--state-dir', dir.path, '--http-addr', `127.0.0.1:${httpPort}`, '--dns-addr', '', '--agent-ttl', '2', '--log-level', 'warn'];
    const env = { ...process.env, FLEETD_METADATA: 'role=proc' };

    const first = await startProcess(dist('fleetd'), args, env, /fleetd: machine ([0-9a-f]{32}) /);
    const id = first.match[1]!;
    t.match(first.output(), `agent API on http://127.0.0.1:${httpPort}`);
    let s = await untilView(view, (s) => s.machines.get(id)?.metadata.role === 'proc', 'announced with FLEETD_METADATA');

    await registry.submit(parseUnitFile('proc.service', sleeperUnit('proc', '\n[X-Fleet]\nMachineMetadata=role=proc\n')), { desired: 'launched' });
    s = await untilView(view, (s) => running(s, 'proc.service', id), 'running in the fleetd process');
    const pid = s.states.get('proc.service')!.get(id)!.mainPid;
    t.ok(alive(pid));

    first.child.kill('SIGTERM');
    t.equal(await first.exit, 0, 'exit 0 after SIGTERM');
    t.notOk(alive(pid), 'its unit was stopped');
    t.equal((await client.get(registry.keys.machine(id))).kvs.length, 0, 'gone from the registry at once');
    t.match(first.output(), 'fleetd: SIGTERM: stopping');

    const second = await startProcess(dist('fleetd'), args, env, /fleetd: machine ([0-9a-f]{32}) /);
    t.equal(second.match[1], id, 'the same machine id after a restart (persisted in the state directory)');
    await untilView(view, (s) => running(s, 'proc.service', id), 'the unit runs again on the restarted machine');
    second.child.kill('SIGINT');
    t.equal(await second.exit, 0);
    await registry.destroy('proc.service');
  });

  t.test('process: the embedded default (flotilla) runs a kvd and a fleetd', async (t) => {
    const dir = await tempDir();
    t.teardown(dir.remove);
    const [clientPort, peerPort, httpPort, dnsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const env = {
      ...process.env,
      KVD_LISTEN_CLIENT_URLS: `http://127.0.0.1:${clientPort}`,
      KVD_ADVERTISE_CLIENT_URLS: `http://127.0.0.1:${clientPort}`,
      KVD_LISTEN_PEER_URLS: `http://127.0.0.1:${peerPort}`,
      KVD_INITIAL_ADVERTISE_PEER_URLS: `http://127.0.0.1:${peerPort}`,
      KVD_LOG_LEVEL: 'warn',
      FLEETD_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      FLEETD_DNS_ADDR: `127.0.0.1:${dnsPort}`,
      FLEETD_LOG_LEVEL: 'warn',
    };
    const p = await startProcess(dist('flotilla'), [], env, /flotilla: kvd serving clients on (\S+) .*fleetd machine ([0-9a-f]{8}) with its agent API on (\S+)/, dir.path);
    t.equal(p.match[1], `http://127.0.0.1:${clientPort}`);
    t.equal(p.match[3], `http://127.0.0.1:${httpPort}`);
    t.ok(existsSync(`${dir.path}/default.kvd`), 'kvd data in ./default.kvd');
    t.ok(existsSync(`${dir.path}/default.fleetd/machine-id`), 'fleetd state in ./default.fleetd');

    const c2 = new Client({ endpoints: [p.match[1]!], autoSyncMembers: false });
    const r2 = new Registry(c2);
    const v2 = new RegistryView(r2);
    await v2.start();
    await r2.submit(parseUnitFile('hello.service', sleeperUnit('embedded')), { desired: 'launched' });
    const s = await untilView(v2, (s) => [...(s.states.get('hello.service')?.values() ?? [])].some((st) => st.sub === 'running'), 'hello running');
    const machine = [...s.machines.keys()][0]!;
    t.equal(machine.slice(0, 8), p.match[2]);
    const journal = await (await fetch(`${p.match[3]}/fleet/v1/units/hello.service/journal`)).text();
    t.match(journal, 'hello embedded');
    await v2.stop();
    c2.close();

    p.child.kill('SIGTERM');
    t.equal(await p.exit, 0);
    t.match(p.output(), 'flotilla: SIGTERM: stopping');
  });

  t.test('process: unknown flags and bad values exit 2 with a precise error', async (t) => {
    for (const [args, message] of [
      [['--bogus'], "fleetd: Unknown option '--bogus'"],
      [['--agent-ttl', '0'], 'fleetd: --agent-ttl: must be a whole number of seconds from 1 to 3600 (got "0")'],
      [['--metadata', 'k'], 'fleetd: --metadata: "k" is not key=value'],
      [['--ca-file', '/nonexistent/ca.pem'], 'fleetd: --ca-file: cannot read "/nonexistent/ca.pem": no such file or directory'],
    ] as [string[], string][]) {
      const r = await run(dist('fleetd'), args);
      t.equal(r.code, 2, args.join(' '));
      t.match(r.stderr, message);
      t.match(r.stderr, "Run 'fleetd --help' for the flags.");
    }
    const help = await run(dist('fleetd'), ['--help']);
    t.equal(help.code, 0);
    t.match(help.stdout, 'Usage: fleetd [flags]');
    const version = await run(dist('fleetd'), ['--version']);
    t.equal(version.stdout, 'fleetd (flotilla) 0.1.0\n');
    const flotilla = await run(dist('flotilla'), ['--nope']);
    t.equal(flotilla.code, 2);
    t.match(flotilla.stderr, 'flotilla: unknown argument "--nope"');
    const flotillaHelp = await run(dist('flotilla'), ['--help']);
    t.equal(flotillaHelp.code, 0);
    t.match(flotillaHelp.stderr, 'Usage: flotilla');
    const badEnv = await run(dist('flotilla'), [], { FLEETD_AGENT_TTL: 'x' });
    t.equal(badEnv.code, 2);
    t.match(badEnv.stderr, 'flotilla: --agent-ttl: "x" is not a duration');
  });
});

/**
 * The processes run the compiled dist/ files: their coverage, mapped back to src/ through source maps,
 * does not merge with the coverage of the same files run from source by the tests (the statement maps
 * differ) and spoils the report, so tap's coverage is turned off in them.
 */

interface Started {
  child: ChildProcess;
  match: RegExpMatchArray;
  exit: Promise<number | null>;
  output(): string;
}

/** Starts a process and resolves once its stderr matches `ready`. */
function startProcess(script: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, cwd?: string): Promise<Started> {
  const child = spawn(...plainNode([script, ...args]), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script}: not ready in 20 s: ${out}`));
    }, 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m, exit, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}: ${out}`));
    });
  });
}

function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(...plainNode([script, ...args]), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
