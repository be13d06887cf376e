// kvd as real processes, the checks of its store's integrity: HashKV, the periodic and the
// start-up corruption checks, and the space quota with its alarm. (Split from
// kvd-process.test.ts so that the two files run side by side under tap's two jobs.)
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import t from 'tap';
import { decodeRecord, encodeRecord } from '../../src/kv/record-codec.js';
import { revKey } from '../../src/kv/revision.js';
import { KvdCluster, b64, hashesAtCommonRevision, type KvdProc } from './kvd-harness.js';

type Header = { revision?: string; member_id: string; cluster_id: string; raft_term: string };

async function changeRecordOnDisk(m: KvdProc, rev: number): Promise<number> {
  await m.stop();
  const storeDir = join(m.spec.dataDir, 'kv');
  const db = new Level<Uint8Array, Uint8Array>(join(storeDir, (await readFile(join(storeDir, 'CURRENT'), 'utf8')).trim()), { keyEncoding: 'view', valueEncoding: 'view' });
  let changed = 0;
  for await (const [k, v] of db.iterator({ gte: revKey(rev, 0), lt: revKey(rev + 1, 0) })) {
    await db.put(k, encodeRecord({ ...decodeRecord(rev, v).kv!, value: Buffer.from('X') }));
    changed++;
  }
  await db.close();
  return changed;
}

t.test('HashKV tells a member whose store was changed behind its back from the others', async (t) => {
  const c = await KvdCluster.create(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) statuses.push((await leader.call('/v3/kv/put', { key: b64(`h/${i}`), value: b64(`v${i}`) })).status);
  t.same(new Set(statuses), new Set([200]), '20 puts');
  const before = await hashesAtCommonRevision(c);
  t.equal(new Set(before.hashes).size, 1, 'the members agree');
  const victim = c.members.find((m) => m !== leader)!;
  t.equal(await changeRecordOnDisk(victim, 10), 1, 'the record of revision 10');
  await victim.start();
  const after = await hashesAtCommonRevision(c);
  const odd = c.members.map((m, i) => [m, after.hashes[i]] as const).filter(([, h]) => after.hashes.filter((x) => x === h).length === 1);
  t.same(odd.map(([m]) => m.spec.name), [victim.spec.name], `only the changed member hashes differently: ${after.hashes.join(', ')}`);
});

t.test('--experimental-corrupt-check-time: the leader finds the member whose store was changed and raises a CORRUPT alarm', async (t) => {
  const c = await KvdCluster.create(3, ['--experimental-corrupt-check-time', '200ms']);
  t.teardown(() => c.close());
  let leader = await c.leader();
  for (let i = 0; i < 20; i++) await leader.call('/v3/kv/put', { key: b64(`h/${i}`), value: b64(`v${i}`) });
  const victim = c.members.find((m) => m !== leader)!;
  const victimId = (await victim.call<{ header: Header }>('/v3/maintenance/status')).body.header.member_id;
  t.same((await leader.call('/v3/maintenance/alarm', { action: 'GET' })).body, {}, 'healthy members: no alarm');
  t.equal(await changeRecordOnDisk(victim, 10), 1);
  await victim.start();
  leader = await c.leader();
  await leader.waitForLog(/corruption check: the members hold different histories/, 20_000);
  for (const m of c.members) {
    await m.call('/v3/kv/range', { key: b64('h/0') }); // linearizable: this member applied the alarm
    t.same((await m.call('/v3/maintenance/alarm', { action: 'GET' })).body, { alarms: [{ memberID: victimId, alarm: 'CORRUPT' }] }, `${m.spec.name}: the changed member is blamed`);
  }
  t.same((await leader.call('/v3/kv/put', { key: b64('after'), value: b64('1') })).body, { error: 'etcdserver: corrupt cluster', message: 'etcdserver: corrupt cluster', code: 15 }, 'writes are refused');
  t.equal((await leader.call('/v3/kv/range', { key: b64('h/1') })).status, 200, 'reads are served');
});

t.test('--experimental-initial-corrupt-check=true: a member whose store differs from its peers refuses to start; a healthy one starts', async (t) => {
  const c = await KvdCluster.create(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  for (let i = 0; i < 20; i++) await leader.call('/v3/kv/put', { key: b64(`h/${i}`), value: b64(`v${i}`) });
  const [healthy, victim] = c.members.filter((m) => m !== leader);
  // Both followers have applied every put (a linearizable read on each returns once they have).
  for (const m of [healthy!, victim!]) await m.call('/v3/kv/range', { key: b64('h/0') });
  await healthy!.stop();
  await healthy!.start(['--experimental-initial-corrupt-check=true']);
  t.ok(healthy!.alive, 'a member that agrees with its peers starts');
  t.equal(await changeRecordOnDisk(victim!, 10), 1);
  const refused = await victim!.start(['--experimental-initial-corrupt-check=true']).then(
    () => 'started',
    (e: Error) => e.message,
  );
  t.match(refused, /kvd: cannot start: initial corruption check: this member's history up to revision \d+ hashes to \d+, member [0-9a-f]+'s to \d+: found data inconsistency with peers/);
  t.equal(victim!.alive, false, 'and exits');
  t.equal((await leader.call('/v3/kv/put', { key: b64('after'), value: b64('1') })).status, 200, 'the two others go on');
});

t.test('--quota-backend-bytes: a NOSPACE alarm on every member, writes refused until space is freed and the alarm disarmed', async (t) => {
  const c = await KvdCluster.create(3, ['--quota-backend-bytes', '100000']);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const follower = c.members.find((m) => m !== leader)!;
  const value = b64('v'.repeat(1000));
  let refused: { status: number; body: unknown } | undefined;
  let i = 0;
  for (; i < 200 && !refused; i++) {
    const r = await follower.call('/v3/kv/put', { key: b64(`q/${i}`), value });
    if (r.status !== 200) refused = r;
  }
  t.ok(i > 50 && i < 200, `refused after ${i - 1} puts of 1 KB`);
  t.same(refused, { status: 429, body: { error: 'etcdserver: mvcc: database space exceeded', message: 'etcdserver: mvcc: database space exceeded', code: 8 } }, "etcd's error");
  const followerId = (await follower.call<{ header: Header }>('/v3/maintenance/status')).body.header.member_id;
  for (const m of c.members) {
    await m.call('/v3/kv/range', { key: b64('q/0') }); // linearizable: this member applied the alarm
    const a = await m.call('/v3/maintenance/alarm', { action: 'GET' });
    t.same(a.body, { alarms: [{ memberID: followerId, alarm: 'NOSPACE' }] }, `${m.spec.name} lists the alarm the member over its quota raised`);
    const st = await m.call<{ errors?: string[] }>('/v3/maintenance/status');
    t.same(st.body.errors, [`memberID:${followerId} alarm:NOSPACE `], `${m.spec.name}: status lists it as etcd does`);
  }
  // Reads, deletes and compaction go on: they are how space is freed.
  const del = await leader.call<{ deleted?: string }>('/v3/kv/deleterange', { key: b64('q/'), range_end: b64('q0') });
  t.equal(del.body.deleted, String(i - 1));
  const rev = Number((await leader.call<{ header: Header }>('/v3/kv/range', { key: b64('x') })).body.header.revision);
  t.equal((await leader.call('/v3/kv/compaction', { revision: rev, physical: true })).status, 200);
  // The alarm is replicated state: with the space back, every member still refuses until disarmed,
  // also after a restart.
  await follower.kill9();
  await follower.start();
  // Each member removes the compacted records in the background (the restarted one at its start):
  // wait until every member's store is under the quota again, so that what refuses is the alarm.
  for (const m of c.members) {
    const size = async () => Number((await m.call<{ dbSize?: string }>('/v3/maintenance/status')).body.dbSize ?? 0);
    const deadline = Date.now() + 10_000;
    while ((await size()) >= 50_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const now = await size();
    t.ok(now < 50_000, `${m.spec.name}: the store is back under half the quota (${now} bytes)`);
  }
  for (const m of c.members) t.equal((await m.call('/v3/kv/put', { key: b64('small'), value: b64('1') })).status, 429, `${m.spec.name} still refuses`);
  const off = await leader.call('/v3/maintenance/alarm', { action: 'DEACTIVATE', memberID: followerId, alarm: 'NOSPACE' });
  t.same(off.body, { alarms: [{ memberID: followerId, alarm: 'NOSPACE' }] });
  for (const m of c.members) t.equal((await m.call('/v3/kv/put', { key: b64('small'), value: b64('1') })).status, 200, `${m.spec.name} writes again`);
});
