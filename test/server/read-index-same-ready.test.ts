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
