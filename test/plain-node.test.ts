// The test helper that starts node children without tap's loader keeps every other option.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { plainNode, withoutTapLoader } from './plain-node.js';

t.test('withoutTapLoader drops the process-info loader, quoted or not, and keeps the rest', async (t) => {
  t.equal(withoutTapLoader('--import=/a/b.mjs "--import=file:///x/@tapjs/processinfo/i.mjs" --max-old-space-size=100'), '--import=/a/b.mjs --max-old-space-size=100');
  t.equal(withoutTapLoader('--import=file:///x/@tapjs/processinfo/i.mjs'), '');
  t.equal(withoutTapLoader('"--import=/with space/e.mjs"'), '"--import=/with space/e.mjs"');
  t.equal(withoutTapLoader(''), '');
});

t.test("a plain child: no tap loader, the parent's other options, the same pid as spawned", async (t) => {
  const [cmd, args] = plainNode(['-e', 'console.log(JSON.stringify({ options: process.env.NODE_OPTIONS ?? "", pid: process.pid }))']);
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const child = JSON.parse(r.stdout) as { options: string; pid: number };
  t.notMatch(child.options, /@tapjs\/processinfo/, 'no process-info loader');
  t.equal(child.options, withoutTapLoader(process.env.NODE_OPTIONS ?? ''), "the parent's other options (npm test's exit-with-parent)");
  t.equal(child.pid, r.pid, "env execs node: the pid spawned is node's");
});
