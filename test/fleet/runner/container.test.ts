// Container units: `docker run` is an ordinary command. A fake `docker` on PATH stands in for the
// engine: one that fails as a client whose daemon is down, one that "runs" a container until
// `docker stop` stops it.
import t, { type Test } from 'tap';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../../src/fleet/runner/journal.js';
import { UnitProcess, type RunnableSpec } from '../../../src/fleet/runner/unit-process.js';
import { cmd, makeSpec, tempDir, texts, waitForLine, waitForStatus, writeExecutable } from './helpers.js';

const DAEMON_DOWN = `#!/bin/sh
echo "docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
echo "See 'docker run --help'." >&2
exit 125
`;

// Records its calls; `run` stays up (as the attached client does) until `stop` ends it.
const FAKE_ENGINE = `#!/bin/sh
dir=$(dirname "$0")
echo "$(basename "$0") $*" >> "$dir/calls"
case "$1" in
  run|container)
    echo $$ > "$dir/run.pid"
    trap 'echo "container stopped"; exit 0' TERM
    echo "container up"
    while :; do sleep 0.05; done ;;
  stop)
    kill -TERM "$(cat "$dir/run.pid")"
    echo "$2" ;;
esac
`;

function fakeEngine(t: Test, script: string, name = 'docker'): string {
  const bin = join(tempDir(t, 'fake-engine-'), 'bin');
  mkdirSync(bin);
  writeExecutable(join(bin, name), script);
  return bin;
}

function unitOf(t: Test, spec: RunnableSpec, name = 'web.service') {
  const journal = new Journal(name);
  const unit = new UnitProcess(name, spec, { journal, baseEnv: { PATH: '/usr/bin:/bin' } });
  t.teardown(() => unit.kill());
  return { unit, journal };
}

t.test('no reachable daemon: the unit fails with the engine error in its journal, no hang', async (t) => {
  const bin = fakeEngine(t, DAEMON_DOWN);
  const { unit, journal } = unitOf(
    t,
    makeSpec({ start: 'docker run --rm --name web nginx:alpine', environment: { PATH: `${bin}:/usr/bin:/bin` } }),
  );
  await unit.start();
  const failed = await waitForStatus(unit, (s) => s.sub === 'failed');
  t.match(failed, { active: 'failed', result: 'exit-code', exitCode: 125 });
  const error = await waitForLine(journal, 'Cannot connect to the Docker daemon');
  t.equal(error.stream, 'stderr');
  t.ok(texts(journal).includes('web.service: Main process exited, code=exited, status=125/n/a'));
});

t.test('no container engine installed: 203/EXEC with "Failed to locate executable docker"', async (t) => {
  const empty = tempDir(t);
  const { unit, journal } = unitOf(t, makeSpec({ start: 'docker run --name web nginx', environment: { PATH: empty } }));
  t.match(await unit.start(), { active: 'failed', result: 'exit-code', exitCode: 203 });
  t.ok(texts(journal).some((l) => l.startsWith('web.service: Failed to locate executable docker: No such file or directory')));
});

t.test('docker run --name N without ExecStop is stopped with docker stop N', async (t) => {
  const bin = fakeEngine(t, FAKE_ENGINE);
  const { unit, journal } = unitOf(
    t,
    makeSpec({ start: 'docker run --rm --name web nginx:alpine', environment: { PATH: `${bin}:/usr/bin:/bin` } }),
  );
  await unit.start();
  await waitForLine(journal, 'container up');
  await unit.stop();
  t.same(readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n'), ['docker run --rm --name web nginx:alpine', 'docker stop web']);
  const lines = texts(journal);
  t.ok(lines.includes('web.service: Stopping container web with docker stop.'));
  t.ok(lines.includes('container stopped'), 'the container ended through the engine, not by our SIGTERM');
  t.match(unit.status(), { sub: 'dead', result: 'success', exitCode: 0 });
});

t.test('podman, `container run` and --name=N are recognised too', async (t) => {
  const bin = fakeEngine(t, FAKE_ENGINE, 'podman');
  const { unit, journal } = unitOf(
    t,
    makeSpec({ start: 'podman container run --name=db postgres', environment: { PATH: `${bin}:/usr/bin:/bin` } }),
  );
  await unit.start();
  await waitForLine(journal, 'container up');
  await unit.stop();
  t.match(readFileSync(join(bin, 'calls'), 'utf8'), /\npodman stop db\n$/);
});

t.test('with ExecStop, or without --name, no docker stop is made up', async (t) => {
  const bin = fakeEngine(t, FAKE_ENGINE);
  const env = { PATH: `${bin}:/usr/bin:/bin` };
  const own = unitOf(
    t,
    makeSpec({ start: 'docker run --name web nginx', execStop: [cmd(`/bin/sh -c 'echo own stop'`)], environment: env }),
    'own.service',
  );
  await own.unit.start();
  await waitForLine(own.journal, 'container up');
  await own.unit.stop();
  t.ok(texts(own.journal).includes('own stop'));
  t.notMatch(readFileSync(join(bin, 'calls'), 'utf8'), /docker stop/);

  const anonymous = unitOf(t, makeSpec({ start: 'docker run nginx', environment: env }), 'anon.service');
  await anonymous.unit.start();
  await waitForLine(anonymous.journal, 'container up');
  await anonymous.unit.stop();
  t.notMatch(readFileSync(join(bin, 'calls'), 'utf8'), /docker stop/);
  t.ok(texts(anonymous.journal).includes('container stopped'), 'stopped by SIGTERM to its group');

  const ps = unitOf(t, makeSpec({ type: 'oneshot', start: 'docker ps --filter name=web', environment: env }), 'ps.service');
  t.match(await ps.unit.start(), { sub: 'dead', result: 'success' });
  t.match(readFileSync(join(bin, 'calls'), 'utf8'), /\ndocker ps --filter name=web\n$/, 'only `run` makes a container unit');
});
