// Every cluster-tests scenario has its short version in `npm test` (test/cluster/scenario-<name>.test.ts).
// The names come from the built command's usage text, not by importing the scenarios: importing
// them would load the whole harness into this process for nothing.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './scenario-process.js';

t.test('each scenario has a short test', async (t) => {
  const help = spawnSync(process.execPath, [join(root, 'dist', 'cluster-tests', 'run.js'), '--help'], {
    encoding: 'utf8',
    env: { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' },
  });
  t.equal(help.status, 0, 'run.js --help');
  const names = /^scenarios: (.*) \(default: all\)$/m.exec(help.stdout)?.[1]?.split(', ') ?? [];
  t.ok(names.length >= 8, `${names.length} scenarios: ${names.join(', ')}`);
  for (const name of names) t.ok(existsSync(join(root, 'test', 'cluster', `scenario-${name}.test.ts`)), `scenario-${name}.test.ts`);
});
