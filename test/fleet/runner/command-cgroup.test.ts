// A cgroup per command: it holds the processes that drop the environment mark (`env -i`) after
// leaving the process group, which the mark alone cannot find; it is removed when the command ends.
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { CommandCgroup, enterNew, ownCgroupDir, sweepEmptyCommandCgroups, type CgroupFs } from '../../../src/fleet/runner/command-cgroup.js';
import { Journal } from '../../../src/fleet/runner/journal.js';
import { FENCE_ID_VARIABLE } from '../../../src/fleet/runner/marked-processes.js';
import { SpawnedCommand } from '../../../src/fleet/runner/spawned-command.js';
import { UnitProcess } from '../../../src/fleet/runner/unit-process.js';
import { baseEnv, makeSpec, pollUntil, processAlive, startFixtureAgent, waitForLine } from './helpers.js';

/** Whether this process may make cgroups below its own (root, a writable cgroup2 hierarchy). */
function cgroupsUsable(): boolean {
  const dir = ownCgroupDir();
  if (dir === undefined) return false;
  try {
    mkdirSync(`${dir}/flotilla-test-probe-${process.pid}`);
    rmdirSync(`${dir}/flotilla-test-probe-${process.pid}`);
    return true;
  } catch {
    return false;
  }
}

const usable = cgroupsUsable();
const noCgroups = usable ? false : 'cgroup2 is not mounted here, or not writable by this user';

function ownCgroupLine(): string {
  return readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('0::'))!;
}

// The shell leaves a process that is in no group of the command's and has an empty environment:
// `setsid` makes it a session leader, `env -i` drops every variable, the mark with them.
const ESCAPE = 'setsid env -i /bin/sleep 1000 & echo esc=$!; exec sleep 1000';

/** `$!` is the forked shell at first: its environment is dropped only once `env -i` has run sleep. */
function execedSleep(pid: number): Promise<void> {
  return pollUntil(() => readFileSync(`/proc/${pid}/cmdline`, 'latin1').startsWith('/bin/sleep'), `process ${pid} to exec /bin/sleep`);
}

t.test('ownCgroupDir: the cgroup2 directory of this process', async (t) => {
  const dir = ownCgroupDir();
  if (dir === undefined) {
    t.notOk(readFileSync('/proc/self/mountinfo', 'utf8').includes(' - cgroup2 '), 'undefined only without a cgroup2 mount');
    return;
  }
  t.ok(existsSync(`${dir}/cgroup.procs`), `${dir} is a cgroup directory`);
  t.ok(readFileSync(`${dir}/cgroup.procs`, 'latin1').split('\n').includes(String(process.pid)), 'and this process is in it');
});

t.test('a command is born in a cgroup of its own, and the spawner moves back', { skip: noCgroups }, async (t) => {
  const before = ownCgroupLine();
  const journal = new Journal('c.service');
  const cmd = new SpawnedCommand({ argv: ['/bin/sh', '-c', 'env -i /bin/sleep 1000 & echo bg=$!; exec sleep 1000'], env: baseEnv, cwd: '/', journal });
  t.teardown(() => cmd.signal('SIGKILL'));
  t.equal(ownCgroupLine(), before, 'the spawner is back in its own cgroup');
  const cg = cmd.cgroup!;
  t.ok(cg, 'the command has a cgroup');
  t.match(cg.dir, /\/flotilla-c\.service-[0-9a-f]{8}$/, "named after the unit, as systemd's cgroups are");
  const bg = Number((await waitForLine(journal, /^bg=/)).text.slice(3));
  await execedSleep(bg);
  t.notMatch(readFileSync(`/proc/${bg}/environ`, 'latin1'), FENCE_ID_VARIABLE, 'the background process carries no mark');
  t.same(cg.pids().sort(), [cmd.pid!, bg].sort(), 'both processes are in the cgroup, the unmarked one too');
  t.ok(cg.populated());

  cmd.signal('SIGTERM');
  await cmd.exited;
  await pollUntil(() => !cmd.alive(), 'the command and its child to end');
  t.notOk(processAlive(bg), 'the unmarked child got the signal through the cgroup');
  t.ok(existsSync(cg.dir), 'the cgroup stays until the command is released');
  cmd.release();
  t.notOk(existsSync(cg.dir), 'release removes the cgroup');
  t.ok(cg.remove(), 'removing twice is fine');
});

t.test('the longest unit name still gets a cgroup: the name is cut to fit a file name', { skip: noCgroups }, async (t) => {
  const unit = `${'a'.repeat(247)}.service`;
  const cmd = new SpawnedCommand({ argv: ['/bin/sleep', '1000'], env: baseEnv, cwd: '/', journal: new Journal(unit) });
  t.teardown(async () => {
    cmd.signal('SIGKILL');
    await cmd.exited;
    await pollUntil(() => !cmd.alive(), 'the command to end');
    cmd.release();
  });
  const name = cmd.cgroup!.dir.split('/').pop()!;
  t.equal(name.length, 'flotilla-'.length + 200 + 9);
  t.ok(name.startsWith(`flotilla-${'a'.repeat(200)}-`));
});

t.test('alive() counts what only the cgroup holds; SIGKILL goes through cgroup.kill', { skip: noCgroups }, async (t) => {
  const journal = new Journal('c.service');
  const cmd = new SpawnedCommand({ argv: ['/bin/sh', '-c', ESCAPE], env: baseEnv, cwd: '/', journal });
  t.teardown(() => cmd.signal('SIGKILL'));
  const esc = Number((await waitForLine(journal, /^esc=/)).text.slice(4));
  await execedSleep(esc);
  process.kill(cmd.pid!, 'SIGKILL');
  await cmd.exited;
  t.ok(processAlive(esc), 'the escaped process runs on after the main one');
  t.ok(cmd.alive(), 'and keeps the command alive');
  cmd.signal('SIGKILL');
  await pollUntil(() => !processAlive(esc), 'the escaped process to die');
  t.notOk(cmd.alive());
  cmd.release();
  t.notOk(existsSync(cmd.cgroup!.dir));
});

t.test('a command that cannot be executed leaves no cgroup behind', { skip: noCgroups }, async (t) => {
  const parent = ownCgroupDir()!;
  const before = new Set(commandCgroups(parent));
  const cmd = new SpawnedCommand({ argv: ['/nonexistent/program'], env: baseEnv, cwd: '/', journal: new Journal('x.service') });
  t.same(await cmd.exited, { code: 203, signal: null });
  t.match(cmd.execError, /No such file or directory/);
  t.same(
    commandCgroups(parent).filter((d) => !before.has(d)),
    [],
    'no new cgroup',
  );
});

function commandCgroups(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('flotilla-'));
}

t.test('a unit stop reaches the process that dropped the mark; without cgroups it escapes', { skip: noCgroups }, async (t) => {
  const journal = new Journal('escape.service');
  const unit = new UnitProcess('escape.service', makeSpec({ start: `/bin/sh -c '${ESCAPE}'` }), { journal, baseEnv });
  t.teardown(() => unit.kill());
  const mainPid = (await unit.start()).mainPid!;
  const esc = Number((await waitForLine(journal, /^esc=/)).text.slice(4));
  await execedSleep(esc);
  const listed = unit.processes();
  t.same(
    listed.processes.map((p) => p.pid),
    [mainPid, esc].sort((a, b) => a - b),
    'processes() lists the one only the cgroup holds',
  );
  t.equal(listed.processes.find((p) => p.pid === esc)?.command, '/bin/sleep 1000');
  t.match(listed.cgroup, /^\/(.*\/)?flotilla-escape\.service-[0-9a-f]{8}$/, "the main command's cgroup, as a path in the hierarchy");
  t.ok(existsSync(`${ownCgroupDir()}/${listed.cgroup!.split('/').pop()}`));
  await unit.stop();
  t.notOk(processAlive(esc), 'stopped with the unit');
  t.same(unit.processes(), { processes: [] }, 'nothing listed once stopped');
  t.match(unit.status(), { sub: 'dead', result: 'success' });

  // The same unit with cgroups turned off: the environment mark is all there is, and it is gone.
  process.env.FLOTILLA_UNIT_CGROUPS = '0';
  t.teardown(() => delete process.env.FLOTILLA_UNIT_CGROUPS);
  const j2 = new Journal('escape2.service');
  const u2 = new UnitProcess('escape2.service', makeSpec({ start: `/bin/sh -c '${ESCAPE}'` }), { journal: j2, baseEnv });
  t.teardown(() => u2.kill());
  await u2.start();
  const esc2 = Number((await waitForLine(j2, /^esc=/)).text.slice(4));
  t.teardown(() => {
    if (processAlive(esc2)) process.kill(esc2, 'SIGKILL');
  });
  await execedSleep(esc2);
  const listed2 = u2.processes();
  t.equal(listed2.cgroup, undefined, 'no cgroup to name');
  t.same(listed2.processes.map((p) => p.pid), [u2.status().mainPid], 'what only a cgroup would hold is not listed either');
  await u2.stop();
  t.ok(processAlive(esc2), 'without a cgroup the process that dropped its mark outlives the unit (the documented limit)');
});

t.test('the sweep removes empty command cgroups and leaves populated and foreign ones', { skip: noCgroups }, async (t) => {
  const parent = ownCgroupDir()!;
  const stale = [`flotilla-stale-a-${process.pid}`, `flotilla-stale-b-${process.pid}`];
  const foreign = `not-flotilla-${process.pid}`;
  for (const n of [...stale, foreign]) mkdirSync(`${parent}/${n}`);
  t.teardown(() => {
    for (const n of [...stale, foreign]) if (existsSync(`${parent}/${n}`)) rmdirSync(`${parent}/${n}`);
  });
  const journal = new Journal('s.service');
  const running = new SpawnedCommand({ argv: ['/bin/sleep', '1000'], env: baseEnv, cwd: '/', journal });
  t.teardown(async () => {
    running.signal('SIGKILL');
    await running.exited;
    await pollUntil(() => !running.alive(), 'the command to end');
    running.release();
  });
  const busy = running.cgroup!;
  t.ok(busy.populated(), 'a running command populates its cgroup');

  const removed = sweepEmptyCommandCgroups();
  for (const n of stale) {
    t.ok(removed.includes(n), `${n} is reported removed`);
    t.notOk(existsSync(`${parent}/${n}`), `${n} is gone`);
  }
  t.ok(existsSync(busy.dir), "the running command's cgroup stays");
  t.notOk(removed.some((n) => busy.dir.endsWith(`/${n}`)), 'and is not reported');
  t.ok(existsSync(`${parent}/${foreign}`), 'a cgroup not named flotilla-* stays');
  t.ok(busy.pids().length > 0, 'the command still runs in it');
});

t.test('FLOTILLA_UNIT_CGROUPS=0: no sweep either', { skip: noCgroups }, async (t) => {
  const parent = ownCgroupDir()!;
  const stale = `flotilla-stale-off-${process.pid}`;
  mkdirSync(`${parent}/${stale}`);
  t.teardown(() => {
    if (existsSync(`${parent}/${stale}`)) rmdirSync(`${parent}/${stale}`);
  });
  process.env.FLOTILLA_UNIT_CGROUPS = '0';
  t.teardown(() => delete process.env.FLOTILLA_UNIT_CGROUPS);
  t.same(sweepEmptyCommandCgroups(), [], 'nothing removed');
  t.ok(existsSync(`${parent}/${stale}`), 'the empty cgroup stays');
});

t.test('FLOTILLA_UNIT_CGROUPS=0: no cgroup, nothing moved', async (t) => {
  process.env.FLOTILLA_UNIT_CGROUPS = '0';
  t.teardown(() => delete process.env.FLOTILLA_UNIT_CGROUPS);
  const before = ownCgroupLine();
  let ran = false;
  const r = CommandCgroup.spawnInto('flotilla-unused', () => {
    ran = true;
    t.equal(ownCgroupLine(), before, 'the spawner stays where it is');
    return 7;
  });
  t.ok(ran);
  t.same(r, { child: 7, cgroup: undefined });
});

t.test('kill -9 of the agent: the fence kills the cgroup and removes it', { skip: noCgroups }, async (t) => {
  const fixture = new URL('./fixtures/cgroup-agent.ts', import.meta.url).pathname;
  const { agent, line } = await startFixtureAgent(t, fixture);
  const { mainPid, esc, cgroup } = JSON.parse(line) as { mainPid: number; esc: number; cgroup: string };
  t.teardown(() => {
    for (const pid of [mainPid, esc]) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  t.ok(existsSync(cgroup), 'the command has a cgroup');
  await execedSleep(esc);
  t.notMatch(readFileSync(`/proc/${esc}/environ`, 'latin1'), FENCE_ID_VARIABLE, 'the escaped process carries no mark');

  const exited = new Promise((resolve) => agent.once('exit', (_code, signal) => resolve(signal)));
  process.kill(agent.pid!, 'SIGKILL');
  t.equal(await exited, 'SIGKILL');
  await pollUntil(() => !processAlive(esc) && !processAlive(mainPid), 'the command and the escaped process to die', 5_000);
  await pollUntil(() => !existsSync(cgroup), 'the watchdog to remove the cgroup', 5_000);
  t.pass('the cgroup is gone');
});

/** A file system whose cgroup.procs writes fail with the given codes, in turn, then succeed; it records every call. */
function scriptedFs(writeFailures: string[], mkdirFailure?: string): { fs: CgroupFs; calls: string[] } {
  const calls: string[] = [];
  const fail = (code: string): never => {
    throw Object.assign(new Error(code), { code });
  };
  const fs: CgroupFs = {
    mkdirSync: (dir) => {
      calls.push(`mkdir ${dir}`);
      if (mkdirFailure) fail(mkdirFailure);
    },
    writeFileSync: (path, data) => {
      calls.push(`write ${path} ${data}`);
      const code = writeFailures.shift();
      if (code) fail(code);
    },
    rmdirSync: (dir) => {
      calls.push(`rmdir ${dir}`);
      // The sweep got there first: already gone.
      fail('ENOENT');
    },
  };
  return { fs, calls };
}

t.test('enterNew: a cgroup swept away by another agent before this one entered it is made once more', async (t) => {
  const me = String(process.pid);
  const once = scriptedFs(['ENOENT']);
  t.equal(enterNew('/cg/flotilla-x', once.fs), true, 'entered at the second try');
  t.same(once.calls, ['mkdir /cg/flotilla-x', `write /cg/flotilla-x/cgroup.procs ${me}`, 'rmdir /cg/flotilla-x', 'mkdir /cg/flotilla-x', `write /cg/flotilla-x/cgroup.procs ${me}`]);

  const twice = scriptedFs(['ENOENT', 'ENOENT']);
  t.equal(enterNew('/cg/flotilla-y', twice.fs), false, 'swept twice: no cgroup (the command runs without one)');
  t.equal(twice.calls.filter((c) => c.startsWith('mkdir')).length, 2, 'two tries, no more');
  t.equal(twice.calls.at(-1), 'rmdir /cg/flotilla-y', 'and nothing left behind');

  const denied = scriptedFs(['EACCES']);
  t.equal(enterNew('/cg/flotilla-z', denied.fs), false, 'not allowed to enter: no retry');
  t.same(denied.calls, ['mkdir /cg/flotilla-z', `write /cg/flotilla-z/cgroup.procs ${me}`, 'rmdir /cg/flotilla-z']);

  const noMkdir = scriptedFs([], 'EACCES');
  t.equal(enterNew('/cg/flotilla-w', noMkdir.fs), false, 'not allowed to make it: nothing moved');
  t.same(noMkdir.calls, ['mkdir /cg/flotilla-w']);
});
