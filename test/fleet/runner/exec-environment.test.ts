// What a unit's commands run with: the environment (base, EnvironmentFile=, Environment=),
// WorkingDirectory= and User=.
import t, { type Test } from 'tap';
import { writeFileSync, mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../../src/fleet/runner/journal.js';
import { UnitProcess, type RunnableSpec, type UnitProcessOptions } from '../../../src/fleet/runner/unit-process.js';
import { baseEnv, makeSpec, tempDir, texts } from './helpers.js';

function oneshot(t: Test, spec: Partial<RunnableSpec> & { start?: string }, opts: Partial<UnitProcessOptions> = {}) {
  const journal = new Journal('env.service');
  const unit = new UnitProcess('env.service', makeSpec({ type: 'oneshot', ...spec }), { journal, baseEnv, ...opts });
  t.teardown(() => unit.kill());
  return { unit, journal };
}

t.test('base env, then EnvironmentFile files in order, then Environment=: later wins', async (t) => {
  const dir = tempDir(t);
  const f1 = join(dir, 'one.env');
  const f3 = join(dir, 'three.env');
  writeFileSync(f1, '# first\nB=file1\nC=file1\nD=file1\nbroken line\n');
  writeFileSync(f3, 'D="file 3"\n');
  const { unit, journal } = oneshot(
    t,
    {
      start: `/bin/sh -c 'echo "A=$A B=$B C=$C D=$D"'`,
      environmentFiles: [
        { path: f1, optional: false },
        { path: join(dir, 'absent.env'), optional: true },
        { path: f3, optional: false },
      ],
      environment: { C: 'environment' },
    },
    { baseEnv: { ...baseEnv, A: 'base', B: 'base', C: 'base', D: 'base' } },
  );
  t.match(await unit.start(), { sub: 'dead', result: 'success' });
  const lines = texts(journal);
  t.ok(lines.includes('A=base B=file1 C=environment D=file 3'), lines.join('\n'));
  t.ok(lines.includes(`env.service: ${f1}:5: ignoring line without "=": broken line`), 'a bad line is journaled, not fatal');
});

t.test('a missing required EnvironmentFile fails the start with result resources; nothing runs', async (t) => {
  const dir = tempDir(t);
  const marker = join(dir, 'ran');
  const { unit, journal } = oneshot(t, {
    start: `/bin/touch ${marker}`,
    environmentFiles: [{ path: join(dir, 'missing.env'), optional: false }],
  });
  t.match(await unit.start(), { active: 'failed', result: 'resources' });
  const lines = texts(journal);
  t.ok(lines.includes(`env.service: Failed to load environment file ${join(dir, 'missing.env')}: No such file or directory`));
  t.ok(lines.includes("env.service: Failed with result 'resources'."));
  t.ok(lines.includes('Failed to start env.service.'));
  const { existsSync } = await import('node:fs');
  t.notOk(existsSync(marker));

  // An unreadable one (a directory) fails even when optional: only a missing file may be skipped.
  const bad = oneshot(t, { start: '/bin/true', environmentFiles: [{ path: dir, optional: true }] });
  t.match(await bad.unit.start(), { active: 'failed', result: 'resources' });
  t.ok(texts(bad.journal).some((l) => l.startsWith(`env.service: Failed to load environment file ${dir}: `)));
});

t.test('WorkingDirectory: used when it exists, a clear 200/CHDIR failure when it does not', async (t) => {
  const dir = realpathSync(tempDir(t));
  const work = join(dir, 'work');
  mkdirSync(work);
  const ok = oneshot(t, { start: '/bin/pwd', workingDirectory: work });
  t.match(await ok.unit.start(), { result: 'success' });
  t.ok(texts(ok.journal).includes(work));

  const dflt = oneshot(t, { start: '/bin/pwd' });
  await dflt.unit.start();
  t.ok(texts(dflt.journal).includes('/'), 'the default is /, as for systemd system services');

  const missing = join(dir, 'nope');
  const bad = oneshot(t, { start: '/bin/pwd', workingDirectory: missing });
  t.match(await bad.unit.start(), { active: 'failed', result: 'exit-code', exitCode: 200 });
  t.ok(texts(bad.journal).includes(`env.service: Changing to the requested working directory ${missing} failed: No such file or directory`));

  const file = join(dir, 'file');
  writeFileSync(file, '');
  const notDir = oneshot(t, { start: '/bin/pwd', workingDirectory: file });
  t.match(await notDir.unit.start(), { exitCode: 200 });
  t.ok(texts(notDir.journal).includes(`env.service: Changing to the requested working directory ${file} failed: Not a directory`));

  const optional = oneshot(t, { start: '/bin/pwd', workingDirectory: `-${missing}` });
  t.match(await optional.unit.start(), { result: 'success' });
  t.ok(texts(optional.journal).includes('/'), 'a missing "-" directory falls back to /');

  const relative = oneshot(t, { start: '/bin/pwd', workingDirectory: 'rel/dir' });
  t.match(await relative.unit.start(), { exitCode: 200 });
  t.ok(texts(relative.journal).includes('env.service: WorkingDirectory=rel/dir is not an absolute path'));

  const home = oneshot(t, { start: '/bin/pwd', workingDirectory: '~' }, { baseEnv: { ...baseEnv, HOME: work } });
  await home.unit.start();
  t.ok(texts(home.journal).includes(work), '~ is the home directory');
});

const asRoot = process.getuid?.() === 0;

t.test('User=nobody really runs as nobody (fleetd as root)', { skip: !asRoot && 'not running as root' }, async (t) => {
  const { unit, journal } = oneshot(t, { start: `/bin/sh -c 'echo "uid=$(id -u) gid=$(id -g) home=$HOME user=$USER"'`, user: 'nobody' });
  t.match(await unit.start(), { result: 'success' });
  t.ok(texts(journal).includes('uid=65534 gid=65534 home=/nonexistent user=nobody'), texts(journal).join('\n'));

  const numeric = oneshot(t, { start: '/usr/bin/id -u', user: '65534' });
  await numeric.unit.start();
  t.ok(texts(numeric.journal).includes('65534'), 'a numeric User= is a uid');

  const simple = new UnitProcess('s.service', makeSpec({ start: '/bin/sleep 1000', user: 'nobody' }), { journal: new Journal('s.service'), baseEnv });
  t.teardown(() => simple.kill());
  const { mainPid } = await simple.start();
  const { readFileSync } = await import('node:fs');
  t.match(readFileSync(`/proc/${mainPid}/status`, 'utf8'), /\nUid:\t65534\t/);
  await simple.stop();
  t.equal(simple.status().sub, 'dead', 'root stops the unit of another user');
});

t.test('User= when fleetd is not root fails the start clearly (217/USER)', async (t) => {
  const { unit, journal } = oneshot(t, { start: '/bin/true', user: 'nobody' }, { agentUid: 1000 });
  t.match(await unit.start(), { active: 'failed', result: 'exit-code', exitCode: 217 });
  t.ok(texts(journal).includes('env.service: User=nobody needs fleetd to run as root'));

  // The user fleetd already runs as needs no privilege.
  const own = oneshot(t, { start: '/usr/bin/id -u', user: 'nobody' }, { agentUid: 65534 });
  t.match(await own.unit.start(), { result: 'success' });
});

t.test('an unknown user or an unreadable passwd file fails with 217/USER', async (t) => {
  const dir = tempDir(t);
  const passwd = join(dir, 'passwd');
  writeFileSync(passwd, '# comment\nroot:x:0:0:root:/root:/bin/sh\nshort:line\nbad:x:NaN:0::/:/bin/sh\n');
  const unknown = oneshot(t, { start: '/bin/true', user: 'ghost' }, { passwdPath: passwd });
  t.match(await unknown.unit.start(), { exitCode: 217, result: 'exit-code' });
  t.ok(texts(unknown.journal).includes(`env.service: Failed to determine user credentials: no user "ghost" in ${passwd}`));

  const bad = oneshot(t, { start: '/bin/true', user: 'bad' }, { passwdPath: passwd });
  t.match(await bad.unit.start(), { exitCode: 217 }, 'an entry with a bad uid is no entry');

  const unreadable = oneshot(t, { start: '/bin/true', user: 'root' }, { passwdPath: join(dir, 'none') });
  t.match(await unreadable.unit.start(), { exitCode: 217 });
  t.ok(texts(unreadable.journal).includes(`env.service: Failed to read ${join(dir, 'none')}: No such file or directory`));
});
