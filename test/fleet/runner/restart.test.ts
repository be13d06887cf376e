// Restart=, RestartSec= and the start-rate limit. RestartSec and the limit's window run on a fake
// clock that the test advances; the processes are real.
import t, { type Test } from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../../src/fleet/runner/journal.js';
import { UnitProcess, type RunnableSpec } from '../../../src/fleet/runner/unit-process.js';
import { FakeClock } from '../../support/fake-clock.js';
import { baseEnv, makeSpec, recordStatuses, subs, tempDir, texts, waitForStatus } from './helpers.js';

function unitOf(t: Test, spec: RunnableSpec, clock: FakeClock, name = 'crash.service') {
  const journal = new Journal(name, { now: () => clock.now() });
  const unit = new UnitProcess(name, spec, { journal, baseEnv, clock });
  t.teardown(() => unit.kill());
  return { unit, journal };
}

t.test('Restart=on-failure: restarted after RestartSec, counted in restarts', async (t) => {
  const clock = new FakeClock();
  const { unit, journal } = unitOf(t, makeSpec({ start: `/bin/sh -c 'exit 1'`, restart: 'on-failure', restartSecMs: 5000 }), clock);
  const statuses = recordStatuses(unit);
  await unit.start();
  const waiting = await waitForStatus(unit, (s) => s.sub === 'auto-restart');
  t.match(waiting, { active: 'activating', result: 'exit-code', exitCode: 1, restarts: 0 });
  t.same(clock.pendingDelays(), [5000], 'the restart waits RestartSec');
  clock.advance(4999);
  t.equal(unit.status().sub, 'auto-restart');
  clock.advance(1);
  const again = await waitForStatus(unit, (s) => s.restarts === 1 && s.sub === 'auto-restart');
  t.equal(again.result, 'exit-code');
  t.ok(texts(journal).includes('crash.service: Scheduled restart job, restart counter is at 1.'));
  t.same(subs(statuses), ['start', 'running', 'auto-restart', 'start', 'running', 'auto-restart']);
  // stop() during auto-restart cancels the restart.
  await unit.stop();
  t.match(unit.status(), { active: 'failed', sub: 'failed', result: 'exit-code' });
  t.same(clock.pendingDelays(), [], 'no restart is left pending');
});

t.test('Restart=on-failure does not restart a clean exit; Restart=no never restarts', async (t) => {
  const clock = new FakeClock();
  const clean = unitOf(t, makeSpec({ start: '/bin/true', restart: 'on-failure' }), clock, 'clean.service');
  await clean.unit.start();
  t.match(await waitForStatus(clean.unit, (s) => s.sub === 'dead'), { result: 'success', restarts: 0 });
  t.same(clock.pendingDelays(), []);

  const no = unitOf(t, makeSpec({ start: '/bin/false', restart: 'no' }), clock, 'no.service');
  await no.unit.start();
  t.match(await waitForStatus(no.unit, (s) => s.sub === 'failed'), { result: 'exit-code' });
  t.same(clock.pendingDelays(), []);
});

t.test('Restart=always restarts a clean exit too, until stopped; a manual start resets the count', async (t) => {
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  const clock = new FakeClock();
  const { unit } = unitOf(t, makeSpec({ start: `/bin/sh -c 'echo run >> ${runs}'`, restart: 'always', restartSecMs: 100 }), clock);
  await unit.start();
  for (let n = 1; n <= 2; n++) {
    await waitForStatus(unit, (s) => s.sub === 'auto-restart' && s.restarts === n - 1);
    t.equal(unit.status().result, 'success');
    clock.advance(100);
  }
  await waitForStatus(unit, (s) => s.sub === 'auto-restart' && s.restarts === 2);
  t.equal(readFileSync(runs, 'utf8'), 'run\nrun\nrun\n');
  await unit.stop();
  t.match(unit.status(), { sub: 'dead', result: 'success', restarts: 2 });
  t.same(clock.pendingDelays(), []);
  await unit.start();
  t.equal(unit.status().restarts, 0, 'an explicit start begins a new count');
  await unit.stop();
});

t.test('start() during auto-restart starts at once', async (t) => {
  const clock = new FakeClock();
  const { unit, journal } = unitOf(t, makeSpec({ start: `/bin/sh -c 'exit 1'`, restart: 'on-failure', restartSecMs: 60_000 }), clock);
  await unit.start();
  await waitForStatus(unit, (s) => s.sub === 'auto-restart');
  await unit.start();
  await waitForStatus(unit, (s) => s.sub === 'auto-restart');
  t.equal(unit.status().restarts, 0);
  const lines = texts(journal);
  t.equal(lines.filter((l) => l === 'Starting crash.service...').length, 2, 'started again without the clock moving');
  t.notOk(lines.some((l) => l.includes('Scheduled restart job')), 'not by the restart timer');
  t.same(clock.pendingDelays().filter((d) => d === 60_000), [60_000], 'one restart pending, for the second failure');
  await unit.stop();
});

t.test('the start limit: 5 starts in 10 s, then failed with start-limit-hit', async (t) => {
  const clock = new FakeClock();
  const { unit, journal } = unitOf(t, makeSpec({ start: `/bin/sh -c 'exit 1'`, restart: 'always', restartSecMs: 100 }), clock);
  await unit.start();
  for (let n = 0; n < 5; n++) {
    await waitForStatus(unit, (s) => s.sub === 'auto-restart' && s.restarts === n);
    clock.advance(100);
  }
  const failed = await waitForStatus(unit, (s) => s.sub === 'failed');
  t.match(failed, { active: 'failed', result: 'start-limit-hit', restarts: 5 });
  t.same(clock.pendingDelays(), [], 'a unit over the limit is not restarted again');
  const lines = texts(journal);
  t.ok(lines.includes('crash.service: Start request repeated too quickly.'));
  t.ok(lines.includes("crash.service: Failed with result 'start-limit-hit'."));
  t.equal(lines.filter((l) => l === 'Starting crash.service...').length, 5, 'five starts ran');

  t.match(await unit.start(), { sub: 'failed', result: 'start-limit-hit' }, 'a manual start within the window is refused too');
  clock.advance(10_000);
  await unit.start();
  t.match(await waitForStatus(unit, (s) => s.sub === 'auto-restart'), { result: 'exit-code' }, 'once the window has passed, it runs again');
  await unit.stop();
});

t.test('resetFailed forgets the start history and the failed state', async (t) => {
  const clock = new FakeClock();
  const { unit } = unitOf(t, makeSpec({ start: '/bin/false' }), clock, 'r.service');
  for (let i = 0; i < 5; i++) {
    await unit.start();
    await waitForStatus(unit, (s) => s.sub === 'failed');
  }
  t.match(await unit.start(), { result: 'start-limit-hit' });
  unit.resetFailed();
  t.match(unit.status(), { active: 'inactive', sub: 'dead', result: 'success' });
  await unit.start();
  t.match(await waitForStatus(unit, (s) => s.sub === 'failed'), { result: 'exit-code' });
  unit.resetFailed();
  t.equal(unit.status().sub, 'dead');
  unit.resetFailed();
  t.equal(unit.status().sub, 'dead', 'a no-op on a dead unit');
});

t.test('a failure to set up the start is restarted by Restart=on-failure as well', async (t) => {
  const clock = new FakeClock();
  const dir = tempDir(t);
  const { unit } = unitOf(
    t,
    makeSpec({ restart: 'on-failure', workingDirectory: join(dir, 'missing') }),
    clock,
  );
  t.match(await unit.start(), { sub: 'auto-restart', result: 'exit-code', exitCode: 200 });
  t.notOk(existsSync(join(dir, 'missing')));
  await unit.stop();
  t.equal(unit.status().sub, 'failed');
});

t.test('kill() during auto-restart cancels the restart', async (t) => {
  const clock = new FakeClock();
  const { unit } = unitOf(t, makeSpec({ start: '/bin/false', restart: 'on-failure' }), clock);
  await unit.start();
  await waitForStatus(unit, (s) => s.sub === 'auto-restart');
  await unit.kill();
  t.match(unit.status(), { sub: 'failed', result: 'exit-code' });
  t.same(clock.pendingDelays(), []);
});
