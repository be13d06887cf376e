// The deliberately broken server is caught: kvd started with its test-only
// --test-only-unsafe-local-reads answers linearizable reads from its own copy, without ReadIndex.
// The partition scenario, run against it, must report stale reads: this proves, end to end, that
// the cluster tests catch a real server bug (not only crafted histories).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Anomaly } from '../../cluster-tests/checker/anomaly.js';
import type { History } from '../../cluster-tests/checker/history.js';
import { runScenarioProcess } from './scenario-process.js';

t.test('partition against the broken server: stale reads are reported', { timeout: 150_000 }, async (t) => {
  // A fixed seed: the assertion is that the bug IS caught, so the run must not depend on luck.
  const seed = Number(process.env.CT_BROKEN_SEED ?? 2026);
  const { code, output, result: r, outDir } = await runScenarioProcess(t, 'partition', 10, seed, ['--unsafe-local-reads']);
  t.equal(code, 1, 'the scenario fails');
  t.equal(r.error, undefined, 'because of anomalies, not because the run failed');
  if (r.error) t.comment(output);
  t.ok(r.anomalies > 0, `anomalies were found (${JSON.stringify(r.anomalyCounts)})`);
  t.same(
    Object.keys(r.anomalyCounts).filter((k) => k !== 'stale-revision' && k !== 'not-linearizable'),
    [],
    'all of them are read anomalies (stale revisions, non-linearizable histories)',
  );
  const { anomalies } = JSON.parse(readFileSync(join(outDir, 'report.json'), 'utf8')) as { anomalies: Anomaly[] };
  const history = JSON.parse(readFileSync(join(outDir, 'history.json'), 'utf8')) as History;
  const staleReads = anomalies.filter((a) => {
    if (a.type !== 'stale-revision') return false;
    const id = Number(/^#(\d+)/.exec(a.message)?.[1]);
    return history.ops.find((o) => o.id === id)?.kind === 'get';
  });
  t.ok(staleReads.length > 0, `a linearizable get saw an older revision than one already returned (${staleReads.length} times)`);
  if (staleReads[0]) t.comment(`${staleReads[0].message}\n${(staleReads[0].excerpt ?? []).join('\n')}`);
  t.match(readFileSync(join(outDir, 'm1.log'), 'utf8'), /WARNING: --test-only-unsafe-local-reads is set/, 'kvd announced the switch at start');
});
