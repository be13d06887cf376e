// A linearizable read whose ReadIndex lands in the same Ready as the write before it: the read must
// be answered at once, not left waiting for the next write. (The node compared the read's index
// with the core's applied index, which moves only at advance(), after the read states of that Ready
// were handled: on a single member, a get sent with a put waited until its deadline.)
import t from 'tap';
import { Client } from '../../src/client/index.js';
import { KvdCluster } from './kvd-harness.js';

t.test('reads sent together with writes on a single member are answered', async (t) => {
  const cluster = await KvdCluster.create(1);
  const client = new Client({ endpoints: [cluster.members[0]!.url], autoSyncMembers: false });
  t.teardown(async () => {
    client.close();
    await cluster.close();
  });
  await client.put('warm', 'up');
  let failures = 0;
  for (let i = 0; i < 50; i++) {
    // Nothing is written after this pair: a read left waiting for "the next apply" would time out.
    const [, got] = await Promise.all([
      client.put('k', String(i)),
      client.get('other', { timeoutMs: 3000 }).catch(() => {
        failures++;
        return undefined;
      }),
    ]);
    if (got) t.equal(got.count, 0);
  }
  t.equal(failures, 0, 'no read timed out');
});

// Two followers asking for a ReadIndex at the same moment: each read must be answered. (Every
// member numbered its read contexts from 1, and the leader ignores a context it already holds, so
// the second follower's read was lost until its deadline.)
t.test('concurrent reads from two followers are both answered', async (t) => {
  const cluster = await KvdCluster.create(3);
  t.teardown(() => cluster.close());
  const leader = await cluster.leader();
  const followers = cluster.members.filter((m) => m !== leader);
  for (let round = 0; round < 5; round++) {
    const answers = await Promise.all(followers.map((m) => fetch(`${m.url}/health`, { signal: AbortSignal.timeout(5000) }).then((r) => r.status)));
    t.same(answers, [200, 200], `round ${round}: both followers are healthy (each /health is a ReadIndex)`);
  }
});
