import t, { type Test } from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Runner, type RunnerOptions } from '../../../src/fleet/runner/runner.js';
import type { UnitStatus } from '../../../src/fleet/runner/unit-process.js';
import { FakeClock } from '../../support/fake-clock.js';
import { baseEnv, cmd, makeSpec, processAlive, tempDir, texts, waitForLine } from './helpers.js';

function runnerOf(t: Test, opts: RunnerOptions = {}): Runner {
  const runner = new Runner({ baseEnv, ...opts });
  t.teardown(() => runner.killAll());
  return runner;
}

t.test('load, start, status events, stop, unload', async (t) => {
  const runner = runnerOf(t);
  const events: [string, UnitStatus][] = [];
  runner.on('status', (name, status) => events.push([name, status]));
  await runner.load('hello.service', makeSpec());
  t.match(runner.status('hello.service'), { active: 'inactive', sub: 'dead' });
  t.same(runner.list().map((u) => u.name), ['hello.service']);
  t.same(runner.spec('hello.service'), makeSpec());

  const started = await runner.start('hello.service');
  t.match(started, { active: 'active', sub: 'running' });
  t.ok(events.some(([n, s]) => n === 'hello.service' && s.sub === 'running'));
  await runner.stop('hello.service');
  t.match(runner.status('hello.service'), { sub: 'dead' });
  t.notOk(processAlive(started.mainPid!));

  await runner.unload('hello.service');
  t.equal(runner.status('hello.service'), undefined);
  t.same(runner.list(), []);
  await t.rejects(runner.start('hello.service'), { message: 'Unit hello.service not loaded.' });
  await t.rejects(runner.stop('hello.service'), { message: 'Unit hello.service not loaded.' });
  await t.rejects(runner.unload('hello.service'), { message: 'Unit hello.service not loaded.' });
  const count = events.length;
  await runner.load('hello.service', makeSpec());
  t.equal(events.length, count, 'a fresh load emits nothing: the unit is simply dead');
});

t.test('invalid names and specs are refused and change nothing', async (t) => {
  const runner = runnerOf(t);
  t.throws(() => runner.load('../etc.service', makeSpec()), { message: /invalid unit name/ });
  await runner.load('a.service', makeSpec());
  await runner.start('a.service');
  const before = runner.status('a.service')!;
  await t.rejects(runner.load('a.service', makeSpec({ start: '/bin/echo "open' })), { message: /unterminated double quote/ });
  t.same(runner.status('a.service'), before, 'the running unit was not touched');
  t.same(runner.spec('a.service'), makeSpec());
});

t.test('loading the same spec again is a no-op; a new spec replaces a running unit (stop old, start new)', async (t) => {
  const runner = runnerOf(t);
  await runner.load('web.service', makeSpec({ start: `/bin/sh -c 'echo v1; exec sleep 1000'` }));
  const v1 = await runner.start('web.service');
  await waitForLine(runner.journal('web.service'), /^v1$/);
  await runner.load('web.service', makeSpec({ start: `/bin/sh -c 'echo v1; exec sleep 1000'` }));
  t.equal(runner.status('web.service')!.mainPid, v1.mainPid, 'same spec: untouched');

  await runner.load('web.service', makeSpec({ start: `/bin/sh -c 'echo v2; exec sleep 1000'` }));
  const v2 = runner.status('web.service')!;
  t.match(v2, { active: 'active', sub: 'running' });
  t.not(v2.mainPid, v1.mainPid);
  t.notOk(processAlive(v1.mainPid!), 'the old process is gone');
  const journal = runner.journal('web.service');
  await waitForLine(journal, /^v2$/);
  t.ok(texts(journal).includes('v1'), 'one journal across the replacement');
  t.ok(texts(journal).includes('Stopped web.service.'));

  // A unit that was not running is replaced without being started.
  await runner.stop('web.service');
  await runner.load('web.service', makeSpec({ start: '/bin/sleep 999' }));
  t.match(runner.status('web.service'), { sub: 'dead' });
});

t.test('operations on a unit wait for a replacement in progress', async (t) => {
  const runner = runnerOf(t);
  await runner.load('x.service', makeSpec({ execStop: [cmd('/bin/sleep 0.2')] }));
  await runner.start('x.service');
  const replacing = runner.load('x.service', makeSpec({ start: '/bin/sleep 999' }));
  const status = await runner.start('x.service');
  await replacing;
  t.match(status, { sub: 'running' });
  t.equal(runner.spec('x.service')!.execStart[0]!.text, '/bin/sleep 999', 'start ran on the new spec');
});

t.test('stopAll and killAll cover every unit', async (t) => {
  const dir = tempDir(t);
  const runner = runnerOf(t);
  const marker = join(dir, 'stopped');
  await runner.load('a.service', makeSpec({ execStop: [cmd(`/bin/touch ${marker}`)] }));
  await runner.load('b.service', makeSpec());
  const a = await runner.start('a.service');
  const b = await runner.start('b.service');
  await runner.stopAll();
  t.ok(existsSync(marker), 'stopAll runs ExecStop');
  t.same(runner.list().map((u) => [u.name, u.status.sub]), [['a.service', 'dead'], ['b.service', 'dead']]);
  t.notOk(processAlive(a.mainPid!) || processAlive(b.mainPid!));

  await runner.start('a.service');
  await runner.start('b.service');
  const [a2, b2] = [runner.status('a.service')!, runner.status('b.service')!];
  await runner.killAll();
  t.notOk(processAlive(a2.mainPid!) || processAlive(b2.mainPid!));
  t.same(runner.list().map((u) => [u.name, u.status.sub, u.status.result]), [
    ['a.service', 'failed', 'signal'],
    ['b.service', 'failed', 'signal'],
  ]);
});

t.test('journals persist under the state dir, across unload and a new Runner', async (t) => {
  const dir = tempDir(t);
  const runner = runnerOf(t, { stateDir: dir });
  await runner.load('log.service', makeSpec({ type: 'oneshot', start: `/bin/sh -c 'echo persisted'` }));
  await runner.start('log.service');
  await runner.unload('log.service');
  t.ok(readFileSync(join(dir, 'journal', 'log.service.log'), 'utf8').includes('"persisted"'));
  t.ok(texts(runner.journal('log.service')).includes('persisted'), 'readable after unload');
  const again = runnerOf(t, { stateDir: dir, journalCapBytes: 100_000 });
  t.ok(texts(again.journal('log.service')).includes('persisted'), 'readable by a restarted agent');
  t.same(again.journal('never.service').tail(), []);
});

t.test('the runner passes its clock and limits down', async (t) => {
  const clock = new FakeClock(1000);
  const runner = runnerOf(t, {
    clock,
    startLimit: { burst: 1, intervalMs: 60_000 },
  });
  await runner.load('c.service', makeSpec({ type: 'oneshot', start: '/bin/false' }));
  await runner.start('c.service');
  clock.advance(1);
  t.match(await runner.start('c.service'), { result: 'start-limit-hit' });
  t.equal(runner.journal('c.service').tail()[0]!.ts, 1000, 'journal timestamps come from the clock');
});
