// Failover against real kvd processes: kill -9 of the member a client is connected to. Reads keep
// working; each write either succeeds or is reported OutcomeUnknown; a watch open through the
// client resumes on another member and delivers every revision exactly once.
import t from 'tap';
import { Client, ClientError, EventType } from '../../src/client/index.js';
import { KvdCluster, type KvdProc } from '../server/kvd-harness.js';
import { until } from './helpers.js';

const c = await KvdCluster.create(3);
t.teardown(() => c.close());

/** Writes distinct keys until stopped; records acknowledged revisions and unknown outcomes. */
function writer(client: Client, prefix: string) {
  const acked: number[] = [];
  const unknown: number[] = [];
  const other: Error[] = [];
  let stop = false;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        const r = await client.put(`${prefix}${String(i).padStart(6, '0')}`, `v${i}`);
        acked.push(r.header.revision!);
      } catch (e) {
        if (e instanceof ClientError && e.kind === 'OutcomeUnknown') unknown.push(i);
        else other.push(e as Error);
      }
    }
  })();
  return {
    acked,
    unknown,
    other,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

const memberAt = (url: string): KvdProc => c.members.find((m) => m.url === url)!;

t.test('watch resume: kill -9 of the watched member while a writer writes; every revision exactly once', async (t) => {
  // The watcher is given the leader only (it learns the others); the writer prefers another member.
  const leader = await c.leader();
  const others = c.members.filter((m) => m !== leader);
  const watchClient = new Client({ endpoints: [leader.url], watchHeartbeatMs: 1000 });
  const writeClient = new Client({ endpoints: [others[0]!.url, others[1]!.url, leader.url] });
  t.teardown(() => {
    watchClient.close();
    writeClient.close();
  });
  await until(() => watchClient.endpoints().length === 3);

  const w = watchClient.watch('resume/', { prefix: true });
  const connected: string[] = [];
  w.on('connected', (ep) => connected.push(ep));
  const startRev = await w.ready();
  const seen: number[] = [];
  let deletes = 0;
  const consumer = (async () => {
    for await (const r of w) {
      for (const e of r.events) {
        if (e.type === EventType.DELETE) deletes++;
        seen.push(e.kv.mod_revision);
      }
    }
  })();

  const wr = writer(writeClient, 'resume/');
  await until(() => wr.acked.length >= 100 && seen.length >= 50, 20000);
  t.equal(connected[0], leader.url);
  const disconnected = new Promise<string>((r) => w.once('disconnected', (ep) => r(ep)));
  await leader.kill9();
  t.equal(await disconnected, leader.url, 'the watcher lost its member');
  const ackedAtKill = wr.acked.length;
  await until(() => connected.length >= 2 && wr.acked.length >= ackedAtKill + 100, 30000);
  await wr.stop();
  t.not(connected[1], leader.url, 'resumed on another member');

  const final = await writeClient.get('resume/', { prefix: true });
  const applied = final.kvs.map((kv) => kv.mod_revision).sort((a, b) => a - b);
  await until(() => seen.length >= applied.length && seen.at(-1)! >= applied.at(-1)!, 15000);
  w.cancel();
  await consumer;

  t.equal(deletes, 0);
  t.ok(seen.every((r, i) => i === 0 || r > seen[i - 1]!), 'strictly increasing: no duplicate, in order');
  t.same(seen, applied, "the watcher's revisions are exactly the writes the store holds: no gap");
  t.ok(wr.acked.every((r) => applied.includes(r)), 'every acknowledged write is there');
  t.ok(seen[0]! > startRev);
  t.equal(wr.other.length, 0, `no other errors: ${wr.other.map((e) => e.message).join('; ')}`);
  t.ok(applied.length >= wr.acked.length && applied.length <= wr.acked.length + wr.unknown.length, 'unknown outcomes: applied or not');
  t.comment(`writes: ${wr.acked.length} acknowledged, ${wr.unknown.length} outcome unknown; watcher reconnected to ${connected[1]}`);

  await leader.start();
});

t.test('kill -9 of the connected member: reads keep working, writes succeed or are OutcomeUnknown', async (t) => {
  await c.leader();
  const client = new Client({ endpoints: c.members.map((m) => m.url), requestTimeoutMs: 5000 });
  t.teardown(() => client.close());
  await client.put('fo/k', 'v0');
  const victim = memberAt(client.currentEndpoint());
  let reads = 0;
  let readErrors: Error[] = [];
  let stop = false;
  const readers = (async () => {
    while (!stop) {
      try {
        const r = await client.get('fo/k');
        if (r.kvs.length === 1) reads++;
        await client.get('fo/k', { serializable: true });
      } catch (e) {
        readErrors.push(e as Error);
      }
    }
  })();
  const wr = writer(client, 'fo/w/');
  await until(() => reads >= 50 && wr.acked.length >= 30, 20000);
  await victim.kill9();
  const readsAtKill = reads;
  const ackedAtKill = wr.acked.length;
  await until(() => reads >= readsAtKill + 50 && wr.acked.length >= ackedAtKill + 30, 20000);
  stop = true;
  await readers;
  await wr.stop();
  t.not(client.currentEndpoint(), victim.url, 'failed over');
  t.same(readErrors.map((e) => e.message), [], 'no read failed');
  t.same(wr.other.map((e) => e.message), [], 'writes: success or OutcomeUnknown only');
  const applied = (await client.get('fo/w/', { prefix: true, countOnly: true })).count;
  t.ok(applied >= wr.acked.length && applied <= wr.acked.length + wr.unknown.length);
  t.comment(`writes: ${wr.acked.length} acknowledged, ${wr.unknown.length} outcome unknown, ${applied} applied`);
  readErrors = [];
  await victim.start();
});
