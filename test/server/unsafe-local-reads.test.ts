// kvd's test-only --test-only-unsafe-local-reads (the deliberately broken server of the cluster
// tests, docs/testing.md): announced loudly at start, and linearizable reads really skip ReadIndex,
// shown where ReadIndex cannot succeed: a member that lost its quorum still answers them.
import t from 'tap';
import { KvdCluster, b64, unb64 } from './kvd-harness.js';

/** Writes k=v1 through a follower (answered once that follower applied it), then kills the others. */
async function loneFollower(flags: string[]) {
  const c = await KvdCluster.create(3, flags);
  const leader = await c.leader();
  const survivor = c.members.find((m) => m !== leader)!;
  const put = await survivor.call('/v3/kv/put', { key: b64('k'), value: b64('v1') });
  if (put.status !== 200) throw new Error(`put: ${JSON.stringify(put.body)}`);
  for (const m of c.members) if (m !== survivor) await m.kill9();
  return { c, survivor };
}

t.test('with the switch: a warning at start, and a member alone answers linearizable reads', async (t) => {
  const { c, survivor } = await loneFollower(['--test-only-unsafe-local-reads']);
  t.teardown(() => c.close());
  for (const m of c.members) t.match(m.log.join(''), /WARNING: --test-only-unsafe-local-reads is set: .*MAY RETURN STALE DATA/, `${m.spec.name} printed the warning`);
  const r = await survivor.call<{ kvs?: { value?: string }[] }>('/v3/kv/range', { key: b64('k') }, 3000);
  t.equal(r.status, 200, 'a linearizable range is answered without a quorum');
  t.equal(unb64(r.body.kvs?.[0]?.value), 'v1');
  const tx = await survivor.call<{ responses?: { response_range?: { kvs?: { value?: string }[] } }[] }>('/v3/kv/txn', { success: [{ request_range: { key: b64('k') } }] }, 3000);
  t.equal(tx.status, 200, 'and so is a txn of one linearizable range');
  t.equal(unb64(tx.body.responses?.[0]?.response_range?.kvs?.[0]?.value), 'v1');
});

t.test('without it (the default): the same read is refused', async (t) => {
  const { c, survivor } = await loneFollower([]);
  t.teardown(() => c.close());
  t.notMatch(survivor.log.join(''), /test-only-unsafe-local-reads/, 'no warning');
  // At once: each is refused only when its wait for a leader times out.
  const [r, tx, alarms] = await Promise.all([
    survivor.call<{ error?: string }>('/v3/kv/range', { key: b64('k') }, 10000),
    survivor.call<{ error?: string }>('/v3/kv/txn', { success: [{ request_range: { key: b64('k') } }] }, 10000),
    survivor.call<{ error?: string }>('/v3/maintenance/alarm', { action: 'GET' }, 10000),
  ]);
  t.not(r.status, 200, `refused: ${r.body.error}`);
  t.not(tx.status, 200, `a txn of one range too: ${tx.body.error}`);
  t.not(alarms.status, 200, `and the list of alarms (a linearizable read, as etcd's goes through the log): ${alarms.body.error}`);
});
