// UnitProcess with real processes: start, output, stop (SIGTERM, SIGKILL after TimeoutStopSec,
// ExecStop with $MAINPID), ExecStartPre/Post, oneshot, commands that cannot run, timeouts.
import t, { type Test } from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../../src/fleet/runner/journal.js';
import { UnitProcess, type RunnableSpec, type UnitProcessOptions } from '../../../src/fleet/runner/unit-process.js';
import {
  baseEnv,
  cmd,
  makeSpec,
  pollUntil,
  processAlive,
  recordStatuses,
  subs,
  tempDir,
  texts,
  waitForLine,
  waitForStatus,
  writeExecutable,
} from './helpers.js';

function pgrpOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

function unitOf(
  t: Test,
  spec: RunnableSpec,
  name = 'hello.service',
  opts: Partial<UnitProcessOptions> = {},
): { unit: UnitProcess; journal: Journal } {
  const journal = opts.journal ?? new Journal(name);
  const unit = new UnitProcess(name, spec, { journal, baseEnv, ...opts });
  // Whatever a test leaves running is killed, so that no process outlives the test.
  t.teardown(() => unit.kill());
  return { unit, journal };
}

t.test('simple: running once spawned, output journaled with the pid, stop with SIGTERM', async (t) => {
  const { unit, journal } = unitOf(t, makeSpec({ start: `/bin/sh -c 'echo hello; echo oops >&2; exec sleep 1000'` }));
  const statuses = recordStatuses(unit);
  t.match(unit.status(), { active: 'inactive', sub: 'dead', result: 'success', restarts: 0 });
  const started = await unit.start();
  t.match(started, { active: 'active', sub: 'running', result: 'success' });
  const pid = started.mainPid!;
  t.ok(processAlive(pid));
  const hello = await waitForLine(journal, /^hello$/);
  const oops = await waitForLine(journal, /^oops$/);
  t.match(hello, { stream: 'stdout', pid });
  t.match(oops, { stream: 'stderr', pid });
  t.same(subs(statuses), ['start', 'running']);
  t.same(await unit.start(), unit.status(), 'start of a running unit changes nothing');

  await unit.stop();
  t.notOk(processAlive(pid), 'the main process is gone when stop resolves');
  t.match(unit.status(), { active: 'inactive', sub: 'dead', result: 'success', exitSignal: 'SIGTERM' });
  t.equal(unit.status().mainPid, undefined);
  t.same(subs(statuses).slice(2), ['stop-sigterm', 'dead']);
  const lines = texts(journal);
  t.equal(lines[0], 'Starting hello.service...');
  t.ok(lines.includes('Started hello.service.'));
  t.ok(lines.includes('Stopping hello.service...'));
  t.ok(lines.includes('Stopped hello.service.'));
  await unit.stop(); // stopping a dead unit is a no-op
  t.equal(unit.status().sub, 'dead');
});

t.test('simple: every process the unit started is stopped, not only the main one', async (t) => {
  const { unit, journal } = unitOf(t, makeSpec({ start: `/bin/sh -c 'sleep 1000 & echo bg=$!; exec sleep 1000'` }));
  await unit.start();
  const bg = Number((await waitForLine(journal, /^bg=/)).text.slice(3));
  t.ok(processAlive(bg));
  await unit.stop();
  t.notOk(processAlive(bg), 'the background child died with the unit');
});

t.test("processes that left the group (setsid, a daemon's double fork) are stopped with the unit", async (t) => {
  // The shell's background setsid is not a group leader, so it calls setsid() and execs sleep: $! is the sleep.
  const { unit, journal } = unitOf(t, makeSpec({ start: `/bin/sh -c 'setsid sleep 1000 & echo esc=$!; (setsid sh -c "sleep 1000 & echo dd=$$!" &); exec sleep 1000'` }));
  await unit.start();
  const esc = Number((await waitForLine(journal, /^esc=/)).text.slice(4));
  const dd = Number((await waitForLine(journal, /^dd=/)).text.slice(3));
  const group = unit.status().mainPid!;
  await pollUntil(() => pgrpOf(esc) !== group && pgrpOf(dd) !== group, 'both to leave the group', 5_000);
  t.ok(processAlive(esc) && processAlive(dd), "both run outside the unit's process group");
  t.match(readFileSync(`/proc/${esc}/environ`, 'latin1'), /(^|\0)FLOTILLA_FENCE_ID=[0-9a-f-]{36}\0/, 'the mark they carry');
  await unit.stop();
  t.notOk(processAlive(esc), 'the setsid process was stopped with the unit');
  t.notOk(processAlive(dd), 'and the double-forked one (its parent gone, reparented)');
  t.match(unit.status(), { sub: 'dead', result: 'success' });

  // A unit whose main process exits leaving an escaped process: as in a cgroup, the rest is killed.
  const left = unitOf(t, makeSpec({ start: `/bin/sh -c 'setsid sleep 1000 & echo esc=$!; sleep 0.2'` }), 'left.service');
  await left.unit.start();
  const e2 = Number((await waitForLine(left.journal, /^esc=/)).text.slice(4));
  await waitForStatus(left.unit, (st) => st.sub === 'dead');
  t.notOk(processAlive(e2), 'the escaped process did not outlive its unit');
});

t.test('simple: main exits on its own, leftovers are killed; success is dead, failure is failed', async (t) => {
  const ok = unitOf(t, makeSpec({ start: `/bin/sh -c 'sleep 1000 & echo bg=$!; exit 0'` }), 'ok.service');
  await ok.unit.start();
  const bg = Number((await waitForLine(ok.journal, /^bg=/)).text.slice(3));
  const end = await waitForStatus(ok.unit, (s) => s.sub === 'dead');
  t.match(end, { active: 'inactive', result: 'success', exitCode: 0 });
  t.notOk(processAlive(bg), 'the leftover background process was killed');
  t.ok(texts(ok.journal).includes('ok.service: Deactivated successfully.'));

  const bad = unitOf(t, makeSpec({ start: `/bin/sh -c 'echo bye; exit 3'` }), 'bad.service');
  await bad.unit.start();
  const failed = await waitForStatus(bad.unit, (s) => s.sub === 'failed');
  t.match(failed, { active: 'failed', result: 'exit-code', exitCode: 3 });
  const lines = texts(bad.journal);
  t.ok(lines.includes('bye'));
  t.ok(lines.includes('bad.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED'));
  t.ok(lines.includes("bad.service: Failed with result 'exit-code'."));
  t.ok(lines.indexOf('bye') < lines.indexOf('bad.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED'), 'output comes before the exit line');

  const killed = unitOf(t, makeSpec({ start: `/bin/sh -c 'kill -SEGV $$$$'` }), 'segv.service');
  await killed.unit.start();
  const dumped = await waitForStatus(killed.unit, (s) => s.sub === 'failed');
  t.match(dumped, { result: 'core-dump', exitSignal: 'SIGSEGV' });
  t.ok(texts(killed.journal).includes('segv.service: Main process exited, code=dumped, status=11/SEGV'));

  const usr1 = unitOf(t, makeSpec({ start: `/bin/sh -c 'kill -USR1 $$$$'` }), 'usr1.service');
  await usr1.unit.start();
  t.match(await waitForStatus(usr1.unit, (s) => s.sub === 'failed'), { result: 'signal', exitSignal: 'SIGUSR1' });
  t.ok(texts(usr1.journal).includes('usr1.service: Main process exited, code=killed, status=10/USR1'));
});

t.test('stop: a process ignoring SIGTERM is killed after TimeoutStopSec', async (t) => {
  const { unit, journal } = unitOf(
    t,
    makeSpec({ start: `/bin/sh -c 'trap "" TERM; echo ready; while :; do sleep 1; done'`, timeoutStopMs: 300 }),
  );
  const statuses = recordStatuses(unit);
  const { mainPid } = await unit.start();
  await waitForLine(journal, 'ready');
  const began = Date.now();
  await unit.stop();
  t.ok(Date.now() - began >= 290, 'SIGTERM was given its time');
  t.notOk(processAlive(mainPid!));
  t.match(unit.status(), { active: 'failed', sub: 'failed', result: 'timeout', exitSignal: 'SIGKILL' });
  t.same(subs(statuses).filter((s) => s.startsWith('stop')), ['stop-sigterm', 'stop-sigkill']);
  const lines = texts(journal);
  t.ok(lines.includes("hello.service: State 'stop-sigterm' timed out. Killing."));
  t.ok(lines.includes(`hello.service: Killing process group ${mainPid} with signal SIGKILL.`));
  t.ok(lines.includes("hello.service: Failed with result 'timeout'."));
});

t.test('stop: ExecStop runs with $MAINPID, then the group gets SIGTERM', async (t) => {
  const dir = tempDir(t);
  const marker = join(dir, 'stopped');
  const { unit, journal } = unitOf(
    t,
    makeSpec({
      start: `/bin/sleep 1000`,
      execStop: [cmd(`/bin/sh -c 'echo stop-for $1 main=$MAINPID; touch ${marker}; kill $1' stopper $MAINPID`)],
    }),
  );
  const statuses = recordStatuses(unit);
  const { mainPid } = await unit.start();
  await unit.stop();
  t.ok(texts(journal).includes(`stop-for ${mainPid} main=${mainPid}`));
  t.ok(existsSync(marker));
  t.match(unit.status(), { sub: 'dead', result: 'success' });
  t.ok(statuses.some((s) => s.sub === 'stop'));
});

t.test('stop: a failing ExecStop fails the unit; one that hangs is cut by TimeoutStopSec', async (t) => {
  const failing = unitOf(t, makeSpec({ execStop: [cmd('/bin/sh -c "exit 4"')] }), 'f.service');
  await failing.unit.start();
  await failing.unit.stop();
  t.match(failing.unit.status(), { sub: 'failed', result: 'exit-code' });
  t.ok(texts(failing.journal).includes('f.service: Control process exited, code=exited, status=4/NOPERMISSION'));

  const ignored = unitOf(t, makeSpec({ execStop: [cmd('/bin/false', true)] }), 'i.service');
  await ignored.unit.start();
  await ignored.unit.stop();
  t.match(ignored.unit.status(), { sub: 'dead', result: 'success' });

  const hanging = unitOf(t, makeSpec({ execStop: [cmd('/bin/sleep 1000')], timeoutStopMs: 200 }), 'h.service');
  await hanging.unit.start();
  await hanging.unit.stop();
  t.match(hanging.unit.status(), { sub: 'failed', result: 'timeout' });
  t.ok(texts(hanging.journal).includes('h.service: Stopping timed out. Terminating.'));
});

t.test('ExecStop also runs when the main process exits by itself (without $MAINPID)', async (t) => {
  const { unit, journal } = unitOf(
    t,
    makeSpec({ start: '/bin/true', execStop: [cmd(`/bin/sh -c 'echo cleanup main=[$MAINPID]'`)] }),
  );
  await unit.start();
  await waitForStatus(unit, (s) => s.sub === 'dead');
  t.ok(texts(journal).includes('cleanup main=[]'));
});

t.test('ExecStartPre in order; a failure fails the start unless prefixed with -', async (t) => {
  const dir = tempDir(t);
  const log = join(dir, 'log');
  const pre = (n: number) => cmd(`/bin/sh -c 'echo pre${n} >> ${log}'`);
  const ok = unitOf(
    t,
    makeSpec({
      execStartPre: [pre(1), cmd('/bin/false', true), cmd('/nonexistent/tool', true), pre(2)],
      start: `/bin/sh -c 'echo main >> ${log}; exec sleep 1000'`,
    }),
    'ok.service',
  );
  const statuses = recordStatuses(ok.unit);
  const started = await ok.unit.start();
  t.equal(started.sub, 'running');
  await pollUntil(() => existsSync(log) && readFileSync(log, 'utf8').includes('main'), 'main to write');
  t.equal(readFileSync(log, 'utf8'), 'pre1\npre2\nmain\n');
  t.same(subs(statuses), ['start-pre', 'start', 'running']);
  t.ok(texts(ok.journal).includes('ok.service: Control process exited, code=exited, status=1/FAILURE'), 'an ignored failure is still journaled');
  await ok.unit.stop();

  const marker = join(dir, 'main-ran');
  const bad = unitOf(
    t,
    makeSpec({ execStartPre: [cmd('/bin/sh -c "exit 2"')], start: `/bin/touch ${marker}` }),
    'bad.service',
  );
  const result = await bad.unit.start();
  t.match(result, { active: 'failed', sub: 'failed', result: 'exit-code' });
  t.notOk(existsSync(marker), 'ExecStart never ran');
  const lines = texts(bad.journal);
  t.ok(lines.includes('bad.service: Control process exited, code=exited, status=2/INVALIDARGUMENT'));
  t.ok(lines.includes('Failed to start bad.service.'));
});

t.test('ExecStartPost runs after the main process is spawned, with $MAINPID; its failure stops the unit', async (t) => {
  const ok = unitOf(
    t,
    makeSpec({ execStartPost: [cmd(`/bin/sh -c 'echo post main=$MAINPID'`)] }),
    'ok.service',
  );
  const statuses = recordStatuses(ok.unit);
  const { mainPid } = await ok.unit.start();
  t.ok(texts(ok.journal).includes(`post main=${mainPid}`));
  t.same(subs(statuses), ['start', 'start-post', 'running']);
  await ok.unit.stop();

  const dir = tempDir(t);
  const marker = join(dir, 'stop-ran');
  const bad = unitOf(
    t,
    makeSpec({ execStartPost: [cmd('/bin/false')], execStop: [cmd(`/bin/touch ${marker}`)] }),
    'bad.service',
  );
  const result = await bad.unit.start();
  t.match(result, { sub: 'failed', result: 'exit-code' });
  t.ok(existsSync(marker), 'the main process had run: ExecStop runs');
  t.notOk(processAlive(statuses[0]?.mainPid ?? 0));
});

t.test('a main process that exits during ExecStartPost is acted on once the post is done', async (t) => {
  const { unit, journal } = unitOf(
    t,
    makeSpec({ start: `/bin/sh -c 'exit 5'`, execStartPost: [cmd('/bin/sleep 0.3')] }),
  );
  await unit.start();
  const end = await waitForStatus(unit, (s) => s.sub === 'failed');
  t.match(end, { result: 'exit-code', exitCode: 5 });
  t.ok(texts(journal).includes('hello.service: Main process exited, code=exited, status=5/NOTINSTALLED'));
});

t.test('oneshot: ExecStart lines in order, then back to inactive/dead (RemainAfterExit=no)', async (t) => {
  const dir = tempDir(t);
  const log = join(dir, 'log');
  const { unit, journal } = unitOf(
    t,
    makeSpec({
      type: 'oneshot',
      start: [`/bin/sh -c 'echo one >> ${log}'`, `/bin/sh -c 'echo two >> ${log}'`],
      execStop: [cmd(`/bin/sh -c 'echo stop >> ${log}'`)],
    }),
    'job.service',
  );
  const statuses = recordStatuses(unit);
  const end = await unit.start();
  t.match(end, { active: 'inactive', sub: 'dead', result: 'success', exitCode: 0 });
  t.equal(readFileSync(log, 'utf8'), 'one\ntwo\nstop\n', 'ExecStop runs after a successful oneshot, as in systemd');
  t.same(statuses.map((s) => s.active).filter((a, i, all) => a !== all[i - 1]), ['activating', 'deactivating', 'inactive']);
  const lines = texts(journal);
  t.ok(lines.includes('job.service: Deactivated successfully.'));
  t.ok(lines.includes('Finished job.service.'));
});

t.test('oneshot with RemainAfterExit stays active/exited until stopped', async (t) => {
  const dir = tempDir(t);
  const marker = join(dir, 'stopped');
  const { unit } = unitOf(
    t,
    makeSpec({ type: 'oneshot', remainAfterExit: true, start: '/bin/true', execStop: [cmd(`/bin/touch ${marker}`)] }),
  );
  t.match(await unit.start(), { active: 'active', sub: 'exited', result: 'success' });
  t.equal(unit.status().mainPid, undefined);
  t.notOk(existsSync(marker));
  await unit.stop();
  t.ok(existsSync(marker));
  t.match(unit.status(), { active: 'inactive', sub: 'dead' });
});

t.test('oneshot: a failing line stops the run, unless prefixed with -', async (t) => {
  const dir = tempDir(t);
  const marker = join(dir, 'second');
  const bad = unitOf(t, makeSpec({ type: 'oneshot', start: ['/bin/false', `/bin/touch ${marker}`] }), 'bad.service');
  t.match(await bad.unit.start(), { active: 'failed', result: 'exit-code', exitCode: 1 });
  t.notOk(existsSync(marker));
  t.ok(texts(bad.journal).includes('Failed to start bad.service.'));

  const spec = makeSpec({ type: 'oneshot', start: ['/bin/true', `/bin/touch ${marker}`] });
  spec.execStart[0] = cmd('/bin/false', true);
  const ok = unitOf(t, spec, 'ok.service');
  t.match(await ok.unit.start(), { sub: 'dead', result: 'success' });
  t.ok(existsSync(marker));
});

t.test('a command that cannot be executed fails the unit with 203/EXEC, never hangs', async (t) => {
  const dir = tempDir(t);
  const missing = unitOf(t, makeSpec({ start: '/nonexistent/server --flag' }), 'missing.service');
  t.match(await missing.unit.start(), { active: 'failed', result: 'exit-code', exitCode: 203 });
  let lines = texts(missing.journal);
  t.ok(lines.includes('missing.service: Failed at step EXEC spawning /nonexistent/server: No such file or directory'));
  t.ok(lines.includes('missing.service: Main process exited, code=exited, status=203/EXEC'));
  t.ok(lines.includes('Failed to start missing.service.'));

  const script = join(dir, 'not-executable');
  writeFileSync(script, '#!/bin/sh\necho hi\n');
  const noexec = unitOf(t, makeSpec({ start: script }), 'noexec.service');
  t.match(await noexec.unit.start(), { active: 'failed', exitCode: 203 });
  t.ok(texts(noexec.journal).includes(`noexec.service: Failed at step EXEC spawning ${script}: Permission denied`));

  const bare = unitOf(t, makeSpec({ start: 'no-such-program-anywhere' }), 'bare.service');
  t.match(await bare.unit.start(), { active: 'failed', exitCode: 203 });
  lines = texts(bare.journal);
  t.ok(lines.some((l) => l.startsWith('bare.service: Failed to locate executable no-such-program-anywhere: No such file or directory')));

  const oneshot = unitOf(t, makeSpec({ type: 'oneshot', start: '/nonexistent/job' }), 'job.service');
  t.match(await oneshot.unit.start(), { active: 'failed', exitCode: 203 });
});

t.test('a bare program name is found in the unit PATH', async (t) => {
  const dir = tempDir(t);
  writeExecutable(join(dir, 'greet'), '#!/bin/sh\necho "greetings $1"\n');
  const { unit, journal } = unitOf(
    t,
    makeSpec({ type: 'oneshot', start: 'greet world', environment: { PATH: `${dir}:/usr/bin:/bin` } }),
  );
  t.match(await unit.start(), { sub: 'dead', result: 'success' });
  t.ok(texts(journal).includes('greetings world'));
});

t.test('TimeoutStartSec bounds the start; the unit fails with result timeout', async (t) => {
  const pre = unitOf(t, makeSpec({ execStartPre: [cmd('/bin/sleep 1000')], timeoutStartMs: 200 }), 'pre.service');
  const began = Date.now();
  t.match(await pre.unit.start(), { active: 'failed', result: 'timeout' });
  t.ok(Date.now() - began >= 190);
  t.ok(texts(pre.journal).includes('pre.service: Start operation timed out. Terminating.'));

  const oneshot = unitOf(t, makeSpec({ type: 'oneshot', start: '/bin/sleep 1000', timeoutStartMs: 200 }), 'one.service');
  const end = await oneshot.unit.start();
  t.match(end, { active: 'failed', result: 'timeout' });
});

t.test('stop during ExecStartPre: the pre command is terminated, the unit is dead', async (t) => {
  const dir = tempDir(t);
  const marker = join(dir, 'main');
  const { unit, journal } = unitOf(t, makeSpec({ execStartPre: [cmd('/bin/sh -c "echo pre-up; exec sleep 1000"')], start: `/bin/touch ${marker}` }));
  const starting = unit.start();
  await waitForLine(journal, 'pre-up');
  t.equal(unit.status().sub, 'start-pre');
  await unit.stop();
  t.match(await starting, { sub: 'dead' });
  t.match(unit.status(), { active: 'inactive', sub: 'dead', result: 'success' });
  t.notOk(existsSync(marker));
});

t.test('start during a stop waits for the stop, then starts', async (t) => {
  const { unit } = unitOf(t, makeSpec({ execStop: [cmd('/bin/sleep 0.2')] }));
  const first = await unit.start();
  const stopping = unit.stop();
  t.equal(unit.status().sub, 'stop');
  const again = await unit.start();
  await stopping;
  t.match(again, { active: 'active', sub: 'running' });
  t.not(again.mainPid, first.mainPid);
  const concurrent = await Promise.all([unit.stop(), unit.stop()]);
  t.same(concurrent, [undefined, undefined]);
  t.equal(unit.status().sub, 'dead');
});

t.test('concurrent starts share one start job', async (t) => {
  const { unit } = unitOf(t, makeSpec({ execStartPre: [cmd('/bin/sleep 0.1')] }));
  const [a, b] = await Promise.all([unit.start(), unit.start()]);
  t.equal(a.mainPid, b.mainPid);
  t.equal(a.sub, 'running');
});

t.test('kill: SIGKILL to every process at once, no ExecStop, failed, no restart', async (t) => {
  const dir = tempDir(t);
  const marker = join(dir, 'stop-ran');
  const { unit, journal } = unitOf(
    t,
    makeSpec({
      start: `/bin/sh -c 'trap "" TERM; sleep 1000 & echo bg=$!; exec sleep 1000'`,
      execStop: [cmd(`/bin/touch ${marker}`)],
      restart: 'always',
      restartSecMs: 0,
    }),
  );
  const { mainPid } = await unit.start();
  const bg = Number((await waitForLine(journal, /^bg=/)).text.slice(3));
  await unit.kill();
  t.notOk(processAlive(mainPid!));
  t.notOk(processAlive(bg));
  t.notOk(existsSync(marker));
  t.match(unit.status(), { active: 'failed', sub: 'failed', result: 'signal', exitSignal: 'SIGKILL' });
  t.ok(texts(journal).includes('hello.service: Killing all processes with signal SIGKILL.'));
  await unit.kill(); // nothing left: a no-op
  t.equal(unit.status().sub, 'failed');
});

t.test('kill during a stop: the stop resolves, the unit ends failed', async (t) => {
  const { unit } = unitOf(t, makeSpec({ start: `/bin/sh -c 'trap "" TERM; echo up; exec sleep 1000'`, execStop: [cmd('/bin/sleep 1000')] }));
  await unit.start();
  const stopping = unit.stop();
  await waitForStatus(unit, (s) => s.sub === 'stop');
  await unit.kill();
  await stopping;
  t.match(unit.status(), { sub: 'failed', result: 'signal' });
});

t.test('specs systemd would refuse are refused at construction', async (t) => {
  const journal = new Journal('x.service');
  const make = (spec: RunnableSpec) => () => new UnitProcess('x.service', spec, { journal });
  t.throws(make(makeSpec({ start: [] })), { message: 'x.service: Service has no ExecStart= setting. Refusing.' });
  t.throws(make(makeSpec({ start: ['/bin/a', '/bin/b'] })), { message: /more than one ExecStart= setting/ });
  t.throws(make(makeSpec({ type: 'oneshot', restart: 'always' })), { message: /Restart=always, which is not allowed for Type=oneshot/ });
  t.throws(make(makeSpec({ execStop: [cmd('/bin/echo "open')] })), {
    message: /^x\.service: ExecStop=\/bin\/echo "open: unterminated double quote \(column 11/,
  });
  t.throws(make(makeSpec({ start: '/bin/a ; /bin/b' })), { message: /multiple commands per line are not supported/ });
  t.throws(make(makeSpec({ environmentFiles: [{ path: 'rel.env', optional: false }] })), { message: /EnvironmentFile=rel.env is not an absolute path/ });
  t.throws(make(makeSpec({ timeoutStopMs: -1 })), { message: /TimeoutStopSec must be a non-negative duration/ });
  t.throws(make(makeSpec({ restartSecMs: NaN })), { message: /RestartSec/ });
});

t.test('TimeoutStopSec=0 waits for SIGTERM as long as it takes (no SIGKILL)', async (t) => {
  const { unit, journal } = unitOf(
    t,
    makeSpec({ start: `/bin/sh -c 'trap "echo term; sleep 0.3; exit 0" TERM; echo up; while :; do sleep 0.05; done'`, timeoutStopMs: 0 }),
  );
  await unit.start();
  await waitForLine(journal, 'up');
  await unit.stop();
  t.ok(texts(journal).includes('term'));
  t.match(unit.status(), { sub: 'dead', result: 'success', exitCode: 0 });
});

t.test('a bug while starting is journaled and fails the unit; it does not escape', async (t) => {
  // A malformed spec (from a caller outside TypeScript) that validation does not look at.
  const { unit, journal } = unitOf(t, makeSpec({ workingDirectory: 5 as unknown as string }));
  t.match(await unit.start(), { active: 'failed', result: 'resources' });
  t.ok(texts(journal).some((l) => l.startsWith('hello.service: Internal error while starting: TypeError')));
});
