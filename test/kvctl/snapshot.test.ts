// snapshot save from a running 3-member kvd cluster, snapshot restore into new data directories,
// kvd started on them: the keys, their revisions, the history since the compaction, the compacted
// revision and the leases are the snapshot's; the restored cluster is a new one (new IDs) of the
// members given to restore, and it takes writes from the snapshot's revision on.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { Client, CompactedError } from '../../src/client/index.js';
import { freePort, tempDir } from '../raft/cluster.js';
import { KvdCluster, KvdProc, type KvdSpec } from '../server/kvd-harness.js';
import { kvctl } from './helpers.js';

const cluster = await KvdCluster.create(3);
t.teardown(() => cluster.close());
await cluster.leader();
const eps = cluster.members.map((m) => m.url);
const client = new Client({ endpoints: eps, autoSyncMembers: false });
t.teardown(() => client.close());
const dir = await tempDir('flotilla-kvctl-snap-');
t.teardown(() => rm(dir, { recursive: true, force: true }));
const started: KvdProc[] = [];
t.teardown(async () => {
  for (const p of started) if (p.alive) await p.kill9();
});

// History: puts, overwrites, deletes, a lease with two keys, a compaction.
await client.put('app/a', '1');
await client.put('app/b', '1');
await client.put('app/a', '2');
const compactAt = (await client.put('app/c', 'x')).header.revision!;
await client.delete('app/c');
const lease = await client.leaseGrant(600);
await client.put('svc/1', 'up', { lease: lease.ID });
await client.put('svc/2', 'up', { lease: lease.ID });
await client.compact(compactAt);
const mid = (await client.put('app/b', '2')).header.revision!;
await client.put('app/a', '3');
for (let i = 0; i < 50; i++) await client.put(`bulk/${String(i).padStart(3, '0')}`, `v${i}`);
const before = await client.get('', { fromKey: true });
const history = await client.get('app/', { prefix: true, revision: mid });
const snap = join(dir, 'backup.db');

async function serve(spec: KvdSpec, args: string[]): Promise<KvdProc> {
  const p = new KvdProc(spec, () => args);
  started.push(p);
  await p.start();
  return p;
}

t.test('snapshot save and status', async (t) => {
  const save = await kvctl(['snapshot', 'save', snap, `--endpoints=${eps[1]}`]);
  t.same(save, { code: 0, stdout: `Snapshot saved at ${snap}\n`, stderr: '' });
  const st = await kvctl(['snapshot', 'status', snap, '-w', 'json']);
  const s = JSON.parse(st.stdout) as { revision: number; totalKey: number; totalSize: number; hash: number };
  t.equal(s.revision, before.header.revision, 'the revision of the cluster when it was saved');
  t.ok(s.totalKey >= 56, 'a record per revision since the compaction');
  t.ok(s.totalSize > 0 && s.hash > 0);
  const simple = await kvctl(['snapshot', 'status', snap]);
  t.match(simple.stdout, new RegExp(`^[0-9a-f]+, ${s.revision}, ${s.totalKey}, \\d+(\\.\\d)? k?B\\n$`));
});

t.test('restore into one member, start kvd on it: keys and revisions are the snapshot\'s', async (t) => {
  const [cport, pport] = [await freePort(), await freePort()];
  const dataDir = join(dir, 'r1.kvd');
  const peer = `http://127.0.0.1:${pport}`;
  const r = await kvctl(['snapshot', 'restore', snap, '--data-dir', dataDir, '--name', 'r1', '--initial-cluster', `r1=${peer}`, '--initial-advertise-peer-urls', peer]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '');
  t.match(r.stderr, new RegExp(`^restored snapshot .* \\(revision ${before.header.revision}\\) into ${dataDir}: member [0-9a-f]+ of a new cluster [0-9a-f]+ of 1\\n$`));
  const again = await kvctl(['snapshot', 'restore', snap, '--data-dir', dataDir, '--name', 'r1', '--initial-cluster', `r1=${peer}`, '--initial-advertise-peer-urls', peer]);
  t.same([again.code, again.stderr], [1, `Error: data-dir ${JSON.stringify(dataDir)} exists\n`]);

  const m = await serve({ name: 'r1', clientPort: cport, peerPort: pport, dataDir }, [
    '--name', 'r1', '--data-dir', dataDir,
    '--listen-client-urls', `http://127.0.0.1:${cport}`, '--advertise-client-urls', `http://127.0.0.1:${cport}`,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
  ]);
  const c = new Client({ endpoints: [m.url], autoSyncMembers: false });
  t.teardown(() => c.close());
  const after = await c.get('', { fromKey: true });
  t.equal(after.header.revision, before.header.revision, 'same revision');
  t.same(after.kvs, before.kvs, 'same keys, values, create/mod revisions, versions and leases');
  t.not(after.header.cluster_id, before.header.cluster_id, 'a new cluster');
  t.same((await c.get('app/', { prefix: true, revision: mid })).kvs, history.kvs, 'history after the compaction is kept');
  await t.rejects(c.get('app/', { prefix: true, revision: compactAt - 1 }), CompactedError, 'and the compaction too');
  const leases = await c.leaseLeases();
  t.same(leases.leases.map((l) => l.ID), [lease.ID], 'the lease survives');
  const ttl = await c.leaseTimeToLive(lease.ID, { keys: true });
  t.same(ttl.keys.map((k) => Buffer.from(k).toString()).sort(), ['svc/1', 'svc/2']);
  const put = await c.put('after', 'restore');
  t.equal(put.header.revision, before.header.revision! + 1, 'writes go on from the snapshot revision');
  const ml = await kvctl(['member', 'list', `--endpoints=${m.url}`]);
  t.match(ml.stdout, new RegExp(`^[0-9a-f]+, started, r1, ${peer}, ${m.url}, false\\n$`));
  await m.stop();
});

t.test('restore the same snapshot into three members of a new cluster', async (t) => {
  const specs: KvdSpec[] = [];
  for (const name of ['n1', 'n2', 'n3']) specs.push({ name, clientPort: await freePort(), peerPort: await freePort(), dataDir: join(dir, `${name}.kvd`) });
  const initial = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
  for (const s of specs) {
    const r = await kvctl(['snapshot', 'restore', snap, `--data-dir=${s.dataDir}`, `--name=${s.name}`, `--initial-cluster=${initial}`, `--initial-advertise-peer-urls=http://127.0.0.1:${s.peerPort}`, '--initial-cluster-token=restored']);
    t.equal(r.code, 0, r.stderr);
  }
  const procs = await Promise.all(
    specs.map((s) =>
      serve(s, [
        '--name', s.name, '--data-dir', s.dataDir,
        '--listen-client-urls', `http://127.0.0.1:${s.clientPort}`, '--advertise-client-urls', `http://127.0.0.1:${s.clientPort}`,
        '--listen-peer-urls', `http://127.0.0.1:${s.peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${s.peerPort}`,
      ]),
    ),
  );
  const c = new Client({ endpoints: procs.map((p) => p.url), autoSyncMembers: false });
  t.teardown(() => c.close());
  const after = await c.get('', { fromKey: true });
  t.same(after.kvs, before.kvs);
  t.equal(after.header.revision, before.header.revision);
  const put = await c.put('n', 'x');
  t.equal(put.header.revision, before.header.revision! + 1);
  for (const p of procs) {
    const local = await c.get('n', { serializable: true, timeoutMs: 5000 });
    t.equal(local.kvs.length, 1, `${p.spec.name} serves it`);
  }
  const status = await kvctl(['endpoint', 'status', `--endpoints=${procs.map((p) => p.url).join(',')}`]);
  t.equal(status.stdout.split('\n').filter((l) => l.includes(', true, false, ')).length, 1, 'one leader among the three');
  t.equal(status.stdout.trim().split('\n').length, 3);
  await Promise.all(procs.map((p) => p.stop()));
});

t.test('restore refuses what it cannot use', async (t) => {
  const bolt = join(dir, 'etcd.db');
  await writeFile(bolt, Buffer.alloc(4096, 7));
  const r = await kvctl(['snapshot', 'restore', bolt, '--data-dir', join(dir, 'x')]);
  t.same([r.code, r.stderr], [1, `Error: ${bolt} is not a kvd snapshot (kvctl restores snapshots saved from kvd; an etcd snapshot needs etcdctl)\n`]);
  const st = await kvctl(['snapshot', 'status', bolt]);
  t.equal(st.code, 1);
  const name = await kvctl(['snapshot', 'restore', snap, '--data-dir', join(dir, 'y'), '--name', 'zz', '--initial-cluster', 'r1=http://127.0.0.1:1']);
  t.same([name.code, name.stderr], [128, 'Error: couldn\'t find local name "zz" in the initial cluster configuration\n']);
  const urls = await kvctl(['snapshot', 'restore', snap, '--data-dir', join(dir, 'y'), '--name', 'r1', '--initial-cluster', 'r1=http://127.0.0.1:1']);
  t.same([urls.code, urls.stderr], [128, 'Error: --initial-cluster has r1=http://127.0.0.1:1 but missing from --initial-advertise-peer-urls=http://127.0.0.1:2380\n']);
  const bad = await kvctl(['snapshot', 'restore', snap, '--data-dir', join(dir, 'y'), '--initial-cluster', 'nonsense']);
  t.same([bad.code, bad.stderr], [128, 'Error: invalid --initial-cluster entry "nonsense" (want name=peerURL)\n']);
  const corrupt = join(dir, 'corrupt.db');
  const data = await readFile(snap);
  await writeFile(corrupt, data.subarray(0, data.length - 3));
  const c = await kvctl(['snapshot', 'restore', corrupt, '--data-dir', join(dir, 'z')]);
  t.equal(c.code, 1);
  t.match(c.stderr, /^Error: snapshot file is corrupt: /);
  await mkdir(join(dir, 'taken'));
  const taken = await kvctl(['snapshot', 'restore', snap, '--data-dir', join(dir, 'taken')]);
  t.equal(taken.code, 1);
  // Defaults: --name default, data in default.kvd of the working directory.
  const cwd = join(dir, 'cwd');
  await mkdir(cwd);
  const def = await kvctl(['snapshot', 'restore', snap], { cwd });
  t.equal(def.code, 0, def.stderr);
  const identity = JSON.parse(await readFile(join(cwd, 'default.kvd', 'member.json'), 'utf8')) as { name: string };
  t.equal(identity.name, 'default');
});
