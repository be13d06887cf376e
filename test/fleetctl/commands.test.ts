// fleetctl against a real single-member kvd: every command's output as it prints it, with a fake
// fleet (engine and agents) that answers desired states through the registry as fleetd would, and
// a fake agent API for journals. Blocking is tested both ways: the limit of --block-attempts
// reached (the fake is paused), and a wait that ends when the test writes the machine's state.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { unitHash } from '../../src/fleet/unit/index.js';
import { freePort, tempDir } from '../raft/cluster.js';
import { FakeAgent, FakeFleet, fleetctl, M1, M2, machine, until, type RunOptions } from './helpers.js';

const agent = new FakeAgent();
await agent.start();
t.teardown(() => agent.close());
const fleet = await FakeFleet.create([
  machine(M1, '10.0.0.1', { metadata: { region: 'us-east', disk: 'ssd' }, agentUrl: agent.url }),
  machine(M2, '10.0.0.2'),
]);
t.teardown(() => fleet.close());
const dir = await tempDir('flotilla-fleetctl-');
t.teardown(() => rm(dir, { recursive: true, force: true }));

const L1 = '01234567.../10.0.0.1';
const L2 = 'fedcba98.../10.0.0.2';
const NOW = 1_700_000_000_000 + 123_000;

const HELLO = '[Unit]\nDescription=Hello World\n\n[Service]\nExecStart=/bin/sh -c "while true; do echo hi; sleep 1; done"\n';
const WEB = '[Unit]\nDescription=Web server %i\n\n[Service]\nExecStart=/usr/bin/web --port 80%i\n';
const GLOBAL = '[Unit]\nDescription=Everywhere\n\n[Service]\nExecStart=/bin/true\n\n[X-Fleet]\nGlobal=true\n';
const plain = (desc: string) => `[Unit]\nDescription=${desc}\n\n[Service]\nExecStart=/bin/sleep 1000\n`;

async function unitFile(name: string, text: string, sub = ''): Promise<string> {
  await mkdir(join(dir, sub), { recursive: true });
  const path = join(dir, sub, name);
  await writeFile(path, text);
  return path;
}

/** `fleetctl <args>` in the units' directory, against the test's store. */
const ctl = (args: string[], opts: RunOptions = {}) => fleetctl([...args, ...fleet.flags], { cwd: dir, now: () => NOW, ...opts });
const h7 = (text: string) => unitHash(text).slice(0, 7);

await unitFile('hello.service', HELLO);
await unitFile('web@.service', WEB);
await unitFile('global.service', GLOBAL);

t.test('submit: files become inactive units; the same file again is not an error', async (t) => {
  t.same(await ctl(['submit', 'hello.service']), { code: 0, stdout: 'Unit hello.service inactive\n', stderr: '' });
  t.same(await ctl(['submit', 'hello.service']), { code: 0, stdout: '', stderr: '' }, 'identical: nothing to do');
  t.same(await ctl(['submit', 'hello']), { code: 0, stdout: '', stderr: '' }, 'the .service suffix is implied');
  t.same(await ctl(['submit', '--replace', 'hello.service']), { code: 0, stdout: 'Found same Unit(hello.service) in Registry, nothing to do\n', stderr: '' });
  t.same(await ctl(['submit', 'web@.service']), { code: 0, stdout: 'Unit web@.service inactive\n', stderr: '' }, 'a template is submitted');
  t.same(await ctl(['cat', 'hello.service']), { code: 0, stdout: HELLO, stderr: '' }, 'cat prints the file as stored');
  t.same(await ctl(['cat', 'hello']), { code: 0, stdout: HELLO, stderr: '' });

  const other = await unitFile('hello.service', HELLO.replace('echo hi', 'echo bye'), 'v2');
  const r = await ctl(['submit', other]);
  t.same(r, { code: 1, stdout: '', stderr: `Error creating units: Unit hello.service in registry differs from local unit file ${other}. Add --replace to override.\n` });
  t.equal((await ctl(['cat', 'hello.service'])).stdout, HELLO, 'unchanged');
});

t.test('submit: bad files are refused with file and line, and nothing is written', async (t) => {
  await unitFile('good.service', plain('Good'));
  await unitFile('broken.service', '[Unit]\nDescription=Broken\nExecStart /bin/true\n');
  await unitFile('badfleet.service', '[Service]\nExecStart=/bin/true\n\n[X-Fleet]\nGlobal=true\nMachineID=abc\n');
  const broken = await ctl(['submit', 'good.service', 'broken.service']);
  t.equal(broken.code, 1);
  t.equal(broken.stdout, '');
  t.match(broken.stderr, /^Error creating units: broken\.service:3: missing "=" in "ExecStart \/bin\/true"/);
  t.same(await ctl(['cat', 'good.service']), { code: 1, stdout: '', stderr: 'Unit good.service not found\n' }, 'the good file was not submitted either');
  const bad = await ctl(['submit', join(dir, 'badfleet.service')]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, new RegExp(`^Error creating units: ${join(dir, 'badfleet.service').replace(/\./g, '\\.')}:6: `), 'the path as given, the line of the clash');
  t.same(await ctl(['submit', 'nothere.service']), { code: 1, stdout: '', stderr: 'Error creating units: unable to find Unit(nothere.service) in Registry or on filesystem\n' });
  t.same(await ctl(['submit', 'nothere@1.service']), {
    code: 1,
    stdout: '',
    stderr: 'Error creating units: unable to find Unit(nothere@1.service) or template Unit(nothere@.service) in Registry or on filesystem\n',
  });
  t.same(await ctl(['submit', 'bad!name.service']), {
    code: 1,
    stdout: '',
    stderr: 'Error creating units: invalid unit name "bad!name.service": the character "!" is not allowed (letters, digits and :_.\\@- are)\n',
  });
  await mkdir(join(dir, 'adir.service'), { recursive: true });
  const isDir = await ctl(['submit', 'adir.service']);
  t.match(isDir.stderr, /^Error creating units: failed reading adir\.service: EISDIR/);
  await unitFile('badsvc.service', '[Service]\nExecStart=/bin/true\n\n[X-Service]\nPort=http\nMeta=host=%H\n');
  t.same(await ctl(['submit', 'good.service', 'badsvc.service']), {
    code: 1,
    stdout: '',
    stderr: 'Error creating units: badsvc.service: invalid [X-Service]: line 5: Port=http: not a port (an integer 1-65535)\n',
  }, 'a broken [X-Service] is refused at submit, not found later by the agent');
  t.same(await ctl(['cat', 'good.service']), { code: 1, stdout: '', stderr: 'Unit good.service not found\n' }, 'and nothing was written');
  await unitFile('oksvc.service', '[Service]\nExecStart=/bin/true\n\n[X-Service]\nPort=8080\nMeta=host=%H\nCheck=http://%H:8080/health\n');
  t.equal((await ctl(['submit', 'oksvc.service'])).code, 0, "the machine's specifiers pass the check");
  t.equal((await ctl(['destroy', 'oksvc.service'])).code, 0);
  await unitFile('warn.service', '[Service]\nExecStart=/bin/true\nNice=5\n');
  const warn = await ctl(['submit', 'warn.service']);
  t.equal(warn.code, 0);
  t.equal(warn.stdout, 'Unit warn.service inactive\n');
  t.match(warn.stderr, /^WARNING: warn\.service:3: /, 'settings the runner ignores are shown');
});

t.test('load and start block until the machine reports the unit', async (t) => {
  t.same(await ctl(['load', 'hello.service']), { code: 0, stdout: `Unit hello.service loaded on ${L1}\n`, stderr: '' });
  t.same(await ctl(['start', 'hello.service']), { code: 0, stdout: `Unit hello.service launched on ${L1}\n`, stderr: '' });
  t.same(await ctl(['start', 'hello.service']), { code: 0, stdout: '', stderr: '' }, 'already launched: nothing to wait for');
  await unitFile('fresh.service', plain('Fresh'));
  t.same(await ctl(['start', 'fresh.service']), { code: 0, stdout: `Unit fresh.service inactive\nUnit fresh.service launched on ${L1}\n`, stderr: '' }, 'submitted first');
});

t.test('list-units, list-unit-files, list-machines: fleet\'s tables', async (t) => {
  await fleet.settled();
  const hello = h7(HELLO);
  const fresh = h7(plain('Fresh'));
  t.same(await ctl(['list-units']), {
    code: 0,
    stdout: `UNIT\t\tMACHINE\t\t\tACTIVE\tSUB\nfresh.service\t${L1}\tactive\trunning\nhello.service\t${L1}\tactive\trunning\n`,
    stderr: '',
  });
  t.equal((await ctl(['list-units', '--no-legend'])).stdout, `fresh.service\t${L1}\tactive\trunning\nhello.service\t${L1}\tactive\trunning\n`);
  t.equal(
    (await ctl(['list-units', '-l', '--fields=unit,machine'])).stdout,
    `UNIT\t\tMACHINE\nfresh.service\t${M1}/10.0.0.1\nhello.service\t${M1}/10.0.0.1\n`,
  );
  t.equal(
    (await ctl(['list-units', '--fields', 'unit,load,active,sub,desc,machine,hash'])).stdout,
    'UNIT\t\tLOAD\tACTIVE\tSUB\tDESC\t\tMACHINE\t\t\tHASH\n' +
      `fresh.service\tloaded\tactive\trunning\tFresh\t\t${L1}\t${fresh}\n` +
      `hello.service\tloaded\tactive\trunning\tHello World\t${L1}\t${hello}\n`,
  );
  const files = await ctl(['list-unit-files']);
  t.equal(files.code, 0);
  t.equal(
    files.stdout,
    'UNIT\t\tHASH\tDSTATE\t\tSTATE\t\tTARGET\n' +
      `fresh.service\t${fresh}\tlaunched\tlaunched\t${L1}\n` +
      `hello.service\t${hello}\tlaunched\tlaunched\t${L1}\n` +
      `warn.service\t${h7('[Service]\nExecStart=/bin/true\nNice=5\n')}\tinactive\tinactive\t-\n` +
      `web@.service\t${h7(WEB)}\tinactive\tinactive\t-\n`,
  );
  t.equal(
    (await ctl(['list-unit-files', '--full', '--no-legend', '--fields=unit,hash,global,desc,tmachine'])).stdout,
    `fresh.service\t${unitHash(plain('Fresh'))}\tfalse\tFresh\t\t${M1}/10.0.0.1\n` +
      `hello.service\t${unitHash(HELLO)}\tfalse\tHello World\t${M1}/10.0.0.1\n` +
      `warn.service\t${unitHash('[Service]\nExecStart=/bin/true\nNice=5\n')}\tfalse\t-\t\t-\n` +
      `web@.service\t${unitHash(WEB)}\tfalse\tWeb server \t-\n`,
  );
  t.equal((await ctl(['list-unit-files', '--fields=unit,tmachine'])).stderr, 'WARNING: The "tmachine" field is deprecated. Use "target" instead\n');
  t.same(await ctl(['list-machines']), { code: 0, stdout: `MACHINE\t\tIP\t\tMETADATA\n01234567...\t10.0.0.1\tdisk=ssd,region=us-east\nfedcba98...\t10.0.0.2\t-\n`, stderr: '' });
  t.equal((await ctl(['list-machines', '--full', '--no-legend'])).stdout, `${M1}\t10.0.0.1\tdisk=ssd,region=us-east\n${M2}\t10.0.0.2\t-\n`);
  t.equal((await ctl(['list-machines', '--fields=ip'])).stdout, 'IP\n10.0.0.1\n10.0.0.2\n');
  t.equal((await ctl(['list-m', '--fields=ip', '--no-legend'])).stdout, '10.0.0.1\n10.0.0.2\n', 'an unambiguous prefix names the command, as in fleet');
});

t.test('status and journal, through the agent API', async (t) => {
  agent.journals.set('hello.service', Array.from({ length: 12 }, (_, i) => `Nov 14 22:13:${String(20 + i)} 01234567 hello.service[4242]: hi ${i + 1}`));
  const procs = [
    { pid: 4242, command: '/bin/sh -c while :; do echo hi; sleep 1; done', threads: 1, rssBytes: 1_572_864, cpuMs: 1230 },
    { pid: 4250, command: 'sleep 1', threads: 1, rssBytes: 786_432, cpuMs: 4 },
  ];
  agent.processes.set('hello.service', { name: 'hello.service', machine: M1, cgroup: '/flotilla-1b2c', processes: procs });
  const st = await ctl(['status', 'hello.service']);
  t.equal(st.code, 0);
  t.equal(st.stderr, '');
  t.equal(
    st.stdout,
    '● hello.service - Hello World\n' +
      `   Loaded: loaded (fleet: content ${h7(HELLO)}; desired launched)\n` +
      '   Active: active (running) since Tue 2023-11-14 22:13:20 UTC; 2min 3s ago\n' +
      ' Main PID: 4242\n' +
      `  Machine: ${M1}/10.0.0.1\n` +
      '    Tasks: 2\n' +
      '   Memory: 2.2M\n' +
      '      CPU: 1.234s\n' +
      '   CGroup: /flotilla-1b2c\n' +
      '           ├─4242 /bin/sh -c while :; do echo hi; sleep 1; done\n' +
      '           └─4250 sleep 1\n' +
      '\n' +
      agent.journals.get('hello.service')!.slice(2).map((l) => `${l}\n`).join(''),
  );
  t.ok(agent.requests.includes('/fleet/v1/units/hello.service/journal?lines=10'), 'the last 10 lines, as systemctl status shows');
  t.ok(agent.requests.includes('/fleet/v1/units/hello.service/processes'));

  // Where the agent makes no cgroups, the processes are listed all the same; an agent of an older
  // version, which sends no threads and memory, gets no Tasks and Memory lines.
  agent.processes.set('hello.service', { cgroup: null, processes: [{ pid: 4242, command: procs[0]!.command }] });
  t.notMatch((await ctl(['status', 'hello.service'])).stdout, /Tasks:|Memory:|CPU:/);
  t.match((await ctl(['status', 'hello.service'])).stdout, /\n {2}Machine: \S+\n {3}CGroup: \(none\)\n {11}└─4242 \/bin\/sh -c while :; do echo hi; sleep 1; done\n\nNov 14/);
  agent.processes.set('hello.service', { cgroup: null, processes: [{ pid: 4242, command: procs[0]!.command, threads: 3, rssBytes: 2048 }] });
  t.match((await ctl(['status', 'hello.service'])).stdout, /\n {4}Tasks: 3\n {3}Memory: 2\.0K\n {3}CGroup: \(none\)\n/, 'an agent that sends no CPU time: no CPU line');
  // Nothing running: no CGroup block, as systemctl status shows none.
  agent.processes.set('hello.service', { cgroup: null, processes: [] });
  const idle = await ctl(['status', 'hello.service']);
  t.match(idle.stdout, /\n {2}Machine: \S+\n\nNov 14/);
  t.equal(idle.stderr, '');
  // An answer that is not a process list: a warning, and the rest as usual.
  for (const [answer, why] of [['{"processes": [{"pid": -1, "command": "x"}], "cgroup": null}', 'the answer is not a process list'], ['<html>', 'the answer is not JSON']]) {
    agent.processes.set('hello.service', answer);
    const bad = await ctl(['status', 'hello.service']);
    t.equal(bad.code, 0);
    t.equal(bad.stderr, `WARNING: Error reading the processes of hello.service from ${agent.url}/fleet/v1/units/hello.service/processes: ${why}\n`);
    t.match(bad.stdout, /\n {2}Machine: \S+\n\nNov 14/);
  }
  agent.processes.set('hello.service', { cgroup: '/flotilla-1b2c', processes: procs });

  const two = await ctl(['status', 'hello.service', 'fresh.service']);
  t.equal(two.code, 0);
  t.match(two.stdout, /hi 12\n\n● fresh\.service - Fresh\n/, 'a blank line between units');
  t.match(
    two.stderr,
    /^WARNING: Error reading the processes of fresh\.service from http:\/\/127\.0\.0\.1:\d+\/fleet\/v1\/units\/fresh\.service\/processes: 404 no such endpoint\nWARNING: Error reading the journal of fresh\.service from http:\/\/127\.0\.0\.1:\d+\/fleet\/v1\/units\/fresh\.service\/journal\?lines=10: 404 unit fresh\.service is not known here\n$/,
  );

  t.same(await ctl(['journal', 'hello.service']), { code: 0, stdout: agent.journals.get('hello.service')!.slice(2).map((l) => `${l}\n`).join(''), stderr: '' });
  t.equal((await ctl(['journal', '--lines', '2', 'hello'])).stdout, 'Nov 14 22:13:30 01234567 hello.service[4242]: hi 11\nNov 14 22:13:31 01234567 hello.service[4242]: hi 12\n');
  t.equal((await ctl(['journal', '-n', '0', 'hello'])).stdout, '');

  // Each line the agent sends is printed as it comes; Ctrl-C ends the follow.
  const ac = new AbortController();
  let printed = (_: string) => {};
  const later = new Promise<void>((resolve) => (printed = (all) => all.includes('later\n') && resolve()));
  const follow = ctl(['journal', '-f', '-n', '1', 'hello.service'], { interrupt: ac, onStdout: (all) => printed(all) });
  await agent.followed(1);
  agent.append('Nov 14 22:13:40 01234567 hello.service[4242]: later');
  await later;
  ac.abort();
  const f = await follow;
  t.equal(f.code, 130);
  t.equal(f.stdout, 'Nov 14 22:13:31 01234567 hello.service[4242]: hi 12\nNov 14 22:13:40 01234567 hello.service[4242]: later\n');
  t.ok(agent.requests.includes('/fleet/v1/units/hello.service/journal?lines=1&follow=true'));

  const ended = ctl(['journal', '--follow', 'hello.service']);
  await agent.followed(2);
  agent.append('last words');
  agent.endFollowers();
  const e = await ended;
  t.equal(e.code, 0, 'the agent ending the stream ends the follow');
  t.match(e.stdout, /last words\n$/);

  t.same(await ctl(['journal', 'fresh.service']), {
    code: 1,
    stdout: '',
    stderr: `Error reading the journal of fresh.service from ${agent.url}/fleet/v1/units/fresh.service/journal?lines=10: 404 unit fresh.service is not known here\n`,
  });
  t.same(await ctl(['status', 'nope.service']), { code: 1, stdout: '', stderr: 'Unit nope.service does not exist.\n' });
  t.same(await ctl(['journal', 'nope.service']), { code: 1, stdout: '', stderr: 'Unit nope.service does not exist.\n' });
  t.same(await ctl(['status', 'web@.service']), { code: 1, stdout: '', stderr: 'Unit web@.service does not appear to be loaded.\n' });
  t.same(await ctl(['journal', 'web@.service']), { code: 1, stdout: '', stderr: 'Unit web@.service does not appear to be running.\n' });
  t.same(await ctl(['cat', 'nope.service']), { code: 1, stdout: '', stderr: 'Unit nope.service not found\n' });
});

t.test('a machine without an agent API, an agent that does not answer', async (t) => {
  fleet.placeOn.set('onm2.service', M2);
  await unitFile('onm2.service', plain('On M2'));
  t.same(await ctl(['start', 'onm2.service']), { code: 0, stdout: `Unit onm2.service inactive\nUnit onm2.service launched on ${L2}\n`, stderr: '' });
  t.same(await ctl(['journal', 'onm2.service']), { code: 1, stdout: '', stderr: `Unable to read the journal of onm2.service: machine ${M2}/10.0.0.2 publishes no agent API\n` });
  const st = await ctl(['status', 'onm2.service']);
  t.equal(st.code, 0);
  t.match(st.stdout, /^● onm2\.service - On M2\n/);
  t.equal(st.stderr, `WARNING: Unable to read the processes and journal of onm2.service: machine ${M2}/10.0.0.2 publishes no agent API\n`);
  // An agent URL where nothing listens.
  const nobody = `http://127.0.0.1:${await freePort()}`;
  await fleet.putMachine(machine(M2, '10.0.0.2', { agentUrl: nobody }));
  const refused = await ctl(['journal', 'onm2.service']);
  t.equal(refused.code, 1);
  t.equal(refused.stderr, `Error reading the journal of onm2.service from ${nobody}/fleet/v1/units/onm2.service/journal?lines=10: connect ECONNREFUSED ${nobody.slice(7)}\n`);
  await fleet.putMachine(machine(M2, '10.0.0.2'));
});

t.test('stop, unload, destroy', async (t) => {
  await unitFile('cycle.service', plain('Cycle'));
  t.equal((await ctl(['start', 'cycle.service'])).code, 0);
  t.same(await ctl(['stop', 'cycle.service']), { code: 0, stdout: `Unit cycle.service loaded on ${L1}\n`, stderr: 'Successfully stopped units [cycle.service].\n' });
  t.same(await ctl(['stop', 'cycle.service']), { code: 0, stdout: '', stderr: 'Successfully stopped units [].\n' }, 'already stopped');
  t.same(await ctl(['unload', 'cycle.service']), { code: 0, stdout: 'Unit cycle.service inactive\n', stderr: 'Successfully unloaded units [cycle.service].\n' });
  t.same(await ctl(['stop', 'cycle.service']), { code: 1, stdout: '', stderr: 'Unable to stop unit cycle.service in state inactive\n' });
  t.same(await ctl(['unload', 'cycle.service']), { code: 0, stdout: '', stderr: 'Successfully unloaded units [].\n' });
  t.same(await ctl(['stop', 'nope.service']), { code: 1, stdout: '', stderr: 'Unit nope.service does not exist.\n' });
  t.same(await ctl(['unload', 'cycle.service', 'nope.service']), { code: 1, stdout: '', stderr: 'Unit nope.service does not exist.\n' });
  t.same(await ctl(['restart', 'nope.service']), { code: 1, stdout: '', stderr: 'Unit nope.service does not exist.\n' });

  t.equal((await ctl(['start', 'cycle.service'])).code, 0);
  t.same(await ctl(['destroy', 'cycle.service', 'nope.service']), { code: 0, stdout: 'Destroyed cycle.service\n', stderr: '' });
  const snap = await fleet.registry.snapshot();
  t.notOk(snap.units.has('cycle.service'), 'gone from the registry');
  t.notOk(snap.states.has('cycle.service'), 'destroy waited for the machine to let it go');
  t.same(await ctl(['destroy', 'cycle.service']), { code: 0, stdout: '', stderr: 'Units not found in registry\n' }, 'destroying twice is not an error');
  t.same(await ctl(['cat', 'cycle.service']), { code: 1, stdout: '', stderr: 'Unit cycle.service not found\n' });
});

t.test('--no-block: triggered, not waited for', async (t) => {
  await unitFile('nb.service', plain('No block'));
  fleet.reacting = false;
  t.same(await ctl(['start', '--no-block', 'nb.service']), { code: 0, stdout: 'Unit nb.service inactive\nTriggered unit nb.service start\n', stderr: '' });
  t.same(await ctl(['load', '--no-block', 'nb.service']), { code: 0, stdout: 'Triggered unit nb.service load\n', stderr: '' });
  fleet.reacting = true;
  fleet.kick();
  await until(fleet.view, (s) => s.states.get('nb.service')?.get(M1)?.active === 'inactive');
  t.same(await ctl(['start', '--no-block', 'nb.service']), { code: 0, stdout: 'Triggered unit nb.service start\n', stderr: '' });
  await until(fleet.view, (s) => s.states.get('nb.service')?.get(M1)?.active === 'active');
  t.same(await ctl(['stop', '--no-block', 'nb.service']), { code: 0, stdout: 'Triggered unit nb.service stop\n', stderr: 'Successfully stopped units [nb.service].\n' });
  t.same(await ctl(['unload', '--no-block', 'nb.service']), { code: 0, stdout: 'Triggered unit nb.service unload\n', stderr: 'Successfully unloaded units [nb.service].\n' });
  t.same(await ctl(['destroy', '--no-block', 'nb.service']), { code: 0, stdout: 'Destroyed nb.service\n', stderr: '' });
  await fleet.settled();
});

t.test('--block-attempts: the limit is reached with a clear message', async (t) => {
  await unitFile('slow.service', plain('Slow'));
  fleet.reacting = false;
  t.teardown(() => {
    fleet.reacting = true;
    fleet.kick();
  });
  const started = Date.now();
  const r = await ctl(['start', '--block-attempts=2', 'slow.service']);
  const took = Date.now() - started;
  t.same(r, {
    code: 1,
    stdout: 'Unit slow.service inactive\n',
    stderr: 'Error waiting for units: timed out waiting for unit slow.service to report state launched\nError waiting for unit states, exit status: 1\n',
  });
  t.ok(took >= 1000, `2 attempts are a deadline of 1 s (took ${took} ms)`);
  const l = await ctl(['load', '--block-attempts=1', 'slow.service']);
  t.equal(l.code, 1);
  t.equal(l.stderr, 'Error waiting for units: timed out waiting for unit slow.service to report state loaded\nError waiting for unit states, exit status: 1\n');
});

t.test('a blocked command returns when the machine reports the state', async (t) => {
  await unitFile('manual.service', plain('Manual'));
  t.equal((await ctl(['submit', 'manual.service'])).code, 0);
  fleet.reacting = false;
  t.teardown(() => {
    fleet.reacting = true;
    fleet.kick();
  });
  const hash = unitHash(plain('Manual'));
  const start = ctl(['start', 'manual.service']);
  await until(fleet.view, (s) => s.units.get('manual.service')?.desired === 'launched');
  // What the engine and the agent would write: a placement, then the state as it goes.
  await fleet.place('manual.service', M2, hash);
  await fleet.putState({ name: 'manual.service', machine: M2, hash, load: 'loaded', active: 'activating', sub: 'start', since: 1 });
  await fleet.putState({ name: 'manual.service', machine: M2, hash: 'old', load: 'loaded', active: 'active', sub: 'running', since: 1 });
  await fleet.putState({ name: 'manual.service', machine: M2, hash, load: 'loaded', active: 'active', sub: 'running', mainPid: 7, since: 2 });
  t.same(await start, { code: 0, stdout: `Unit manual.service launched on ${L2}\n`, stderr: '' }, 'only the active state of its own content ends the wait');

  const stop = ctl(['stop', 'manual.service']);
  await until(fleet.view, (s) => s.units.get('manual.service')?.desired === 'loaded');
  await fleet.putState({ name: 'manual.service', machine: M2, hash, load: 'loaded', active: 'deactivating', sub: 'stop-sigterm', since: 3 });
  await fleet.putState({ name: 'manual.service', machine: M2, hash, load: 'loaded', active: 'inactive', sub: 'dead', since: 4 });
  t.same(await stop, { code: 0, stdout: `Unit manual.service loaded on ${L2}\n`, stderr: 'Successfully stopped units [manual.service].\n' });

  t.same(await ctl(['load', 'manual.service']), { code: 0, stdout: '', stderr: '' }, 'already loaded: nothing to wait for');

  const unload = ctl(['unload', 'manual.service']);
  await until(fleet.view, (s) => s.units.get('manual.service')?.desired === 'inactive');
  await fleet.client.delete(fleet.registry.keys.state('manual.service', M2));
  t.same(await unload, { code: 0, stdout: 'Unit manual.service inactive\n', stderr: 'Successfully unloaded units [manual.service].\n' });

  const reload = ctl(['load', 'manual.service']);
  await until(fleet.view, (s) => s.units.get('manual.service')?.desired === 'loaded');
  await fleet.putState({ name: 'manual.service', machine: M2, hash, load: 'error', active: 'inactive', sub: 'dead', since: 6 });
  t.same(await reload, {
    code: 1,
    stdout: '',
    stderr: `Error waiting for units: unit manual.service could not be loaded on ${L2} (load state error)\nError waiting for unit states, exit status: 1\n`,
  });

  const vanishing = ctl(['start', 'manual.service']);
  await until(fleet.view, (s) => s.units.get('manual.service')?.desired === 'launched');
  await fleet.client.delete(fleet.registry.keys.unit('manual.service'));
  t.same(await vanishing, {
    code: 1,
    stdout: '',
    stderr: 'Error waiting for units: unit manual.service was destroyed while fleetctl waited for it\nError waiting for unit states, exit status: 1\n',
  });
  t.equal((await ctl(['submit', 'manual.service'])).code, 0);

  const destroy = ctl(['destroy', '--block-attempts=1', 'manual.service']);
  t.same(await destroy, {
    code: 1,
    stdout: 'Destroyed manual.service\n',
    stderr: 'Error waiting for units: timed out waiting for unit manual.service to report state destroyed\n',
  }, 'its machine still reports it');
  await fleet.client.delete(fleet.registry.keys.placement('manual.service'));
  await fleet.client.delete(fleet.registry.keys.state('manual.service', M2));
});

t.test('a unit that fails to start ends the wait with its result', async (t) => {
  await unitFile('bad.service', plain('Bad'));
  fleet.failing.add('bad.service');
  t.same(await ctl(['start', 'bad.service']), {
    code: 1,
    stdout: 'Unit bad.service inactive\n',
    stderr: `Error waiting for units: unit bad.service failed on ${L1} (result: exit-code)\nError waiting for unit states, exit status: 1\n`,
  });
  const st = await ctl(['status', 'bad.service']);
  t.match(st.stdout, /\n {3}Active: failed \(Result: exit-code\) since Tue 2023-11-14 22:13:20 UTC; 2min 3s ago\n Main PID: 4242 \(code=exited, status=1\)\n/);
  fleet.failing.delete('bad.service');
  t.equal((await ctl(['destroy', 'bad.service'])).code, 0);
});

t.test('templates: start web@1.service makes the instance from web@.service', async (t) => {
  t.same(await ctl(['start', 'web@1.service']), { code: 0, stdout: `Unit web@1.service inactive\nUnit web@1.service launched on ${L1}\n`, stderr: '' });
  t.same(await ctl(['cat', 'web@1.service']), { code: 0, stdout: WEB, stderr: '' }, "the template's text, under the instance's name");
  t.equal((await ctl(['list-unit-files', '--fields=unit,hash,desc', '--no-legend'])).stdout.split('\n').find((l) => l.startsWith('web@1')), `web@1.service\t${h7(WEB)}\tWeb server 1`, 'specifiers resolved for the instance');
  t.same(await ctl(['start', 'web@.service']), { code: 1, stdout: '', stderr: 'Unable to start template unit web@.service: start its instances instead (e.g. web@1.service)\n' });
  t.same(await ctl(['load', 'web@.service']), { code: 1, stdout: '', stderr: 'Unable to load template unit web@.service: load its instances instead (e.g. web@1.service)\n' });
  // A template only on disk, beside the instance's path.
  const tmpl = await unitFile('api@.service', '[Unit]\nDescription=API %i\n\n[Service]\nExecStart=/usr/bin/api %i\n', 'apis');
  t.same(await ctl(['start', '--no-block', join(dir, 'apis', 'api@7.service')]), { code: 0, stdout: 'Unit api@7.service inactive\nTriggered unit api@7.service start\n', stderr: '' });
  t.equal((await ctl(['cat', 'api@7'])).stdout, '[Unit]\nDescription=API %i\n\n[Service]\nExecStart=/usr/bin/api %i\n');
  t.equal((await ctl(['cat', 'api@.service'])).code, 1, 'the local template itself is not submitted');
  await writeFile(tmpl, '[Unit]\nDescription=API v2 %i\n\n[Service]\nExecStart=/usr/bin/api %i\n');
  t.same(await ctl(['start', join(dir, 'apis', 'api@7.service')]), {
    code: 1,
    stdout: '',
    stderr: `Error creating units: Unit api@7.service in registry differs from local template unit file ${join(dir, 'apis', 'api@.service')}. Add --replace to override.\n`,
  });
  const spec = await unitFile('spec@.service', '[Unit]\nDescription=As %u\n\n[Service]\nExecStart=/bin/true\n', 'apis');
  const badSpec = await ctl(['start', join(dir, 'apis', 'spec@1.service')]);
  t.equal(badSpec.code, 1);
  t.match(badSpec.stderr, `Error creating units: ${spec}:2: `, 'a specifier the instance cannot resolve: the template file and line');
  await unitFile('broken@.service', '[Service\n', 'apis');
  const broken = await ctl(['start', join(dir, 'apis', 'broken@1.service')]);
  t.match(broken.stderr, new RegExp(`^Error creating units: ${join(dir, 'apis', 'broken@.service').replace(/\./g, '\\.')}:1: section header`));
  await fleet.settled();
});

t.test('--replace: the new content replaces the old and the unit restarts with it', async (t) => {
  const path = await unitFile('app.service', plain('App v1'), 'app');
  t.same(await ctl(['start', path]), { code: 0, stdout: `Unit app.service inactive\nUnit app.service launched on ${L1}\n`, stderr: '' });
  await writeFile(path, plain('App v2'));
  t.same(await ctl(['start', '--replace', path]), { code: 0, stdout: `Unit app.service launched on ${L1}\n`, stderr: '' });
  t.equal((await ctl(['cat', 'app.service'])).stdout, plain('App v2'));
  const snap = await fleet.registry.snapshot();
  t.equal(snap.states.get('app.service')?.get(M1)?.hash, unitHash(plain('App v2')), 'the machine runs the new content');
  t.equal(snap.units.get('app.service')?.desired, 'launched');
  await writeFile(path, plain('App v3'));
  t.same(await ctl(['submit', '--replace', path]), { code: 0, stdout: '', stderr: '' });
  await until(fleet.view, (s) => s.states.get('app.service')?.get(M1)?.hash === unitHash(plain('App v3')));
  t.equal((await fleet.registry.snapshot()).units.get('app.service')?.desired, 'launched', 'submit --replace keeps it running');
  await writeFile(path, plain('App v4'));
  t.same(await ctl(['load', '--replace', path]), { code: 0, stdout: `Unit app.service loaded on ${L1}\n`, stderr: '' }, 'load: replaced and loaded');
});

t.test('restart: stopped, then started again', async (t) => {
  await fleet.settled();
  t.same(await ctl(['restart', 'hello.service']), { code: 0, stdout: `Unit hello.service loaded on ${L1}\nUnit hello.service launched on ${L1}\n`, stderr: '' });
  t.same(await ctl(['restart', 'app.service']), { code: 0, stdout: `Unit app.service launched on ${L1}\n`, stderr: '' }, 'a loaded unit is started');
  t.same(await ctl(['restart', 'web@.service']), { code: 1, stdout: '', stderr: 'Unable to restart unit web@.service in state inactive\n' });
  fleet.reacting = false;
  const r = await ctl(['restart', '--block-attempts=1', 'hello.service']);
  fleet.reacting = true;
  fleet.kick();
  t.equal(r.code, 1);
  t.equal(r.stderr, 'Error waiting for units: timed out waiting for unit hello.service to report state loaded\n');
  await fleet.settled();
  t.equal((await ctl(['start', 'hello.service'])).code, 0);
});

t.test('global units: one row per machine, never waited for', async (t) => {
  t.same(await ctl(['start', 'global.service']), { code: 0, stdout: 'Unit global.service inactive\nTriggered global unit global.service start\n', stderr: '' });
  await until(fleet.view, (s) => (s.states.get('global.service')?.size ?? 0) === 2);
  const units = await ctl(['list-units', '--fields=unit,machine,active']);
  t.match(units.stdout, `global.service\t${L1}\tactive\nglobal.service\t${L2}\tactive\n`);
  const files = await ctl(['list-unit-files', '--fields=unit,global,dstate,state,target', '--no-legend']);
  t.match(files.stdout, /\nglobal\.service\ttrue\tlaunched\t-\t+global\n/);
  t.same(await ctl(['status', 'global.service']), { code: 1, stdout: '', stderr: 'Unable to determine status of global unit global.service.\n' });
  t.same(await ctl(['journal', 'global.service']), { code: 1, stdout: '', stderr: 'Unable to retrieve journal of global unit global.service.\n' });
  t.same(await ctl(['restart', 'global.service']), { code: 0, stdout: 'Triggered global unit global.service start\n', stderr: '' });
  t.same(await ctl(['stop', 'global.service']), { code: 0, stdout: 'Triggered global unit global.service stop\n', stderr: 'Successfully stopped units [].\n' });
  t.same(await ctl(['load', 'global.service']), { code: 0, stdout: '', stderr: '' }, 'already loaded');
  t.same(await ctl(['unload', 'global.service']), { code: 0, stdout: 'Triggered global unit global.service unload\n', stderr: 'Successfully unloaded units [].\n' });
  t.same(await ctl(['load', 'global.service']), { code: 0, stdout: 'Triggered global unit global.service load\n', stderr: '' });
  t.same(await ctl(['destroy', 'global.service']), { code: 0, stdout: 'Destroyed global.service\n', stderr: '' });
  t.notOk((await fleet.registry.snapshot()).states.has('global.service'), 'destroy waited for every machine');
});

t.test('stop and unload that time out', async (t) => {
  await unitFile('stuck.service', plain('Stuck'));
  t.equal((await ctl(['start', 'stuck.service'])).code, 0);
  fleet.reacting = false;
  t.same(await ctl(['stop', '--block-attempts=1', 'stuck.service']), {
    code: 1,
    stdout: '',
    stderr: 'Error waiting for units: timed out waiting for unit stuck.service to report state loaded\nFailed to stop units [stuck.service]. exit == 1.\n',
  });
  t.same(await ctl(['unload', '--block-attempts=1', 'stuck.service']), {
    code: 1,
    stdout: '',
    stderr: 'Error waiting for units: timed out waiting for unit stuck.service to report state inactive\nFailed to unload units [stuck.service]. exit == 1.\n',
  });
  fleet.reacting = true;
  fleet.kick();
  await fleet.settled();
  t.equal((await ctl(['destroy', 'stuck.service'])).code, 0);
});

t.test('what the machine reports, as status shows it', async (t) => {
  await unitFile('killed.service', plain('Killed'));
  fleet.reacting = false;
  t.teardown(() => {
    fleet.reacting = true;
    fleet.kick();
  });
  t.equal((await ctl(['submit', 'killed.service'])).code, 0);
  const hash = unitHash(plain('Killed'));
  await fleet.place('killed.service', M1, hash);
  await fleet.putState({ name: 'killed.service', machine: M1, hash, load: 'loaded', active: 'failed', sub: 'failed', exitSignal: 'KILL', restarts: 3, since: NOW - 3_900_000 });
  const st = await ctl(['status', 'killed.service']);
  t.equal(
    st.stdout.split('\n').slice(2, 5).join('\n'),
    '   Active: failed (failed) since Tue 2023-11-14 21:10:23 UTC; 1h 5min ago\n Main PID: - (code=killed, signal=KILL)\n Restarts: 3',
  );
  await fleet.putState({ name: 'killed.service', machine: M1, hash, load: 'loaded', active: 'inactive', sub: 'dead', since: NOW });
  const dead = await ctl(['status', 'killed.service']);
  t.equal(dead.stdout.split('\n').slice(2, 4).join('\n'), `   Active: inactive (dead) since Tue 2023-11-14 22:15:23 UTC; 0s ago\n  Machine: ${M1}/10.0.0.1`);
  await fleet.client.delete(fleet.registry.keys.state('killed.service', M1));
});

t.test('records the registry should not hold', async (t) => {
  const keys = fleet.registry.keys;
  // A unit whose content is missing, one whose content does not parse, one with bad [X-Fleet].
  await fleet.client.put(keys.unit('lost.service'), JSON.stringify({ name: 'lost.service', hash: 'feedface', desired: 'inactive' }));
  await fleet.client.put(keys.content('0badc0de'), '[Unit\n');
  await fleet.client.put(keys.unit('garbled.service'), JSON.stringify({ name: 'garbled.service', hash: '0badc0de', desired: 'inactive' }));
  await fleet.client.put(keys.content('0ddba11'), '[Unit]\nDescription=Odd\n[X-Fleet]\nBogus=1\n');
  await fleet.client.put(keys.unit('odd.service'), JSON.stringify({ name: 'odd.service', hash: '0ddba11', desired: 'inactive' }));
  await fleet.client.put(keys.unit('lost@.service'), JSON.stringify({ name: 'lost@.service', hash: 'feedface', desired: 'inactive' }));
  await fleet.client.put(keys.unit('junk.service'), 'not json');
  const files = await ctl(['list-unit-files', '--fields=unit,global,desc', '--no-legend']);
  t.equal(files.code, 0);
  t.match(files.stdout, /\ngarbled\.service\tfalse\t-\n/);
  t.match(files.stdout, /\nlost\.service\tfalse\t-\n/);
  t.match(files.stdout, /\nodd\.service\tfalse\tOdd\n/);
  t.equal(files.stderr, 'WARNING: registry record /flotilla/fleet/unit/junk.service: not JSON (Unexpected token \'o\', "not json" is not valid JSON)\n');
  t.same(await ctl(['cat', 'lost.service']), { code: 1, stdout: '', stderr: 'Error retrieving Unit lost.service: unit content feedface is missing from the registry\n' });
  t.same(await ctl(['cat', 'junk.service']), { code: 1, stdout: '', stderr: 'registry record /flotilla/fleet/unit/junk.service: not JSON (Unexpected token \'o\', "not json" is not valid JSON)\n' });
  t.same(await ctl(['start', 'lost@1.service']), { code: 1, stdout: '', stderr: 'Error creating units: template Unit(lost@.service): its content feedface is missing from the registry\n' });
  await fleet.client.put(keys.unit('garbled@.service'), JSON.stringify({ name: 'garbled@.service', hash: '0badc0de', desired: 'inactive' }));
  const garbled = await ctl(['start', 'garbled@1.service']);
  t.equal(garbled.code, 1);
  t.match(garbled.stderr, /^Error creating units: garbled@\.service:1: section header "\[Unit" does not end with "\]"/);
  for (const name of ['lost.service', 'garbled.service', 'odd.service', 'lost@.service', 'garbled@.service', 'junk.service']) await fleet.client.delete(keys.unit(name));
});

t.test('another key prefix is another registry', async (t) => {
  t.same(await ctl(['list-unit-files', '--etcd-key-prefix=/other/', '--no-legend']), { code: 0, stdout: '', stderr: '' });
  t.same(await ctl(['list-units']), await ctl(['list-units'], { env: { FLEETCTL_ETCD_KEY_PREFIX: '/flotilla/fleet/' } }));
});
