// Finding a command's processes by the mark in their environment: whole entries only.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { FENCE_ID_VARIABLE, markedPids, newFenceId, signalMarked } from '../../../src/fleet/runner/marked-processes.js';
import { pollUntil, processAlive } from './helpers.js';

function sleeper(env: Record<string, string>): ChildProcess {
  const child = spawn('/bin/sleep', ['1000'], { env: { PATH: '/usr/bin:/bin', ...env }, stdio: 'ignore' });
  child.on('error', () => undefined);
  return child;
}

t.test('the marked processes: the exact entry, not a longer name or value', async (t) => {
  const id = newFenceId();
  t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  t.not(newFenceId(), id, 'a new id for every command');
  const marked = [sleeper({ [FENCE_ID_VARIABLE]: id }), sleeper({ A: '1', [FENCE_ID_VARIABLE]: id, B: '2' })];
  const others = [sleeper({ [`X${FENCE_ID_VARIABLE}`]: id }), sleeper({ [FENCE_ID_VARIABLE]: `${id}0` }), sleeper({ [FENCE_ID_VARIABLE]: newFenceId() })];
  const all = [...marked, ...others];
  t.teardown(() => all.forEach((c) => c.kill('SIGKILL')));
  await pollUntil(() => all.every((c) => c.pid !== undefined && processAlive(c.pid)), 'the sleepers to run');
  t.same(markedPids(id).sort(), marked.map((c) => c.pid!).sort(), 'the two carrying the mark, wherever it is in the environment');

  t.equal(signalMarked(id, 'SIGTERM'), 2);
  await pollUntil(() => marked.every((c) => !processAlive(c.pid!)), 'the marked ones to end');
  t.ok(others.every((c) => processAlive(c.pid!)), 'the others run on');
  t.same(markedPids(id), [], 'none left');
  t.equal(signalMarked(id, 'SIGTERM'), 0);
});
