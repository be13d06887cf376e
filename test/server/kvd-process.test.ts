// kvd as real processes: etcd's gateway examples, faults (kill -9 of the leader or a follower),
// catch-up through a snapshot, membership changes, and bad input against a live member. The
// integrity checks (HashKV, corruption checks, the quota) are in kvd-integrity.test.ts.
import t from 'tap';
import { KvdCluster, b64, hashesAtCommonRevision, openWatch, unb64, type KvdProc } from './kvd-harness.js';

type Header = { revision?: string; member_id: string; cluster_id: string; raft_term: string };
type Kv = { key: string; value?: string; create_revision: string; mod_revision: string; version: string; lease?: string };

t.test("the curl examples of etcd's gRPC gateway page work unchanged, with etcd's shapes", async (t) => {
  const c = await KvdCluster.create(1);
  t.teardown(() => c.close());
  const m = c.members[0]!;
  const put = await m.call<{ header: Header }>('/v3/kv/put', { key: 'Zm9v', value: 'YmFy' });
  t.equal(put.status, 200);
  t.same(Object.keys(put.body), ['header']);
  t.same(Object.keys(put.body.header).sort(), ['cluster_id', 'member_id', 'raft_term', 'revision']);
  t.equal(put.body.header.revision, '2', 'the first write of a fresh store is revision 2, as in etcd');

  const range = await m.call<{ kvs: Kv[]; count: string }>('/v3/kv/range', { key: 'Zm9v' });
  t.same(range.body.kvs, [{ key: 'Zm9v', create_revision: '2', mod_revision: '2', version: '1', value: 'YmFy' }]);
  t.equal(range.body.count, '1');
  const prefix = await m.call<{ kvs: Kv[] }>('/v3/kv/range', { key: 'Zm9v', range_end: 'Zm9w' });
  t.equal(prefix.body.kvs.length, 1, 'prefix range');

  // watch, as `curl http://localhost:2379/v3/watch -X POST -d '{"create_request": {"key":"Zm9v"} }' &`
  const w = await openWatch(m, { key: 'Zm9v' });
  t.teardown(() => w.close());
  const created = await w.next();
  t.equal(created.result.created, true);
  t.equal(created.result.header.revision, '2');
  await m.call('/v3/kv/put', { key: 'Zm9v', value: 'YmFy' });
  const ev = await w.next();
  t.same(ev.result.events, [{ kv: { key: 'Zm9v', create_revision: '2', mod_revision: '3', version: '2', value: 'YmFy' } }]);

  // txn with camelCase input, as on etcd's page
  const txn = await m.call<{ succeeded: boolean; responses: unknown[]; header: Header }>('/v3/kv/txn', {
    compare: [{ target: 'CREATE', key: 'Zm9v', createRevision: '2' }],
    success: [{ requestPut: { key: 'Zm9v', value: 'YmFy' } }],
  });
  t.equal(txn.body.succeeded, true);
  t.same(txn.body.responses, [{ response_put: { header: { revision: '4' } } }]);
  const txn2 = await m.call<{ succeeded: boolean; responses: any[] }>('/v3/kv/txn', {
    compare: [{ version: '3', result: 'EQUAL', target: 'VERSION', key: 'Zm9v' }],
    success: [{ requestRange: { key: 'Zm9v' } }],
  });
  t.equal(txn2.body.succeeded, true);
  t.equal(txn2.body.responses[0].response_range.count, '1');
  const failed = await m.call<Record<string, unknown>>('/v3/kv/txn', { compare: [{ version: '99', result: 'EQUAL', target: 'VERSION', key: 'Zm9v' }] });
  t.notOk('succeeded' in failed.body, 'a failed txn has no succeeded field');

  // lease: grant, attach, keep alive, time to live, revoke
  const grant = await m.call<{ ID: string; TTL: string }>('/v3/lease/grant', { TTL: 30 });
  t.equal(grant.body.TTL, '30');
  await m.call('/v3/kv/put', { key: b64('leased'), value: b64('v'), lease: grant.body.ID });
  const ka = await m.call<{ result: { ID: string; TTL: string } }>('/v3/lease/keepalive', { ID: grant.body.ID });
  t.same([ka.body.result.ID, ka.body.result.TTL], [grant.body.ID, '30'], 'keepalive answers with the TTL');
  const ttl = await m.call<{ TTL: string; grantedTTL: string; keys: string[] }>('/v3/lease/timetolive', { ID: grant.body.ID, keys: true });
  t.equal(ttl.body.grantedTTL, '30');
  t.ok(Number(ttl.body.TTL) <= 30 && Number(ttl.body.TTL) >= 28);
  t.same(ttl.body.keys.map(unb64), ['leased']);
  await m.call('/v3/lease/revoke', { ID: grant.body.ID });
  const gone = await m.call<{ kvs?: Kv[] }>('/v3/kv/range', { key: b64('leased') });
  t.notOk(gone.body.kvs, 'revoking the lease deleted its key');
});

t.test('bad input against a live member gets etcd errors and the member keeps serving', async (t) => {
  const c = await KvdCluster.create(1);
  t.teardown(() => c.close());
  const m = c.members[0]!;
  const cases: [string, string, number, number | undefined, RegExp][] = [
    ['/v3/kv/put', '{"key": bad}', 400, 3, /invalid character/],
    ['/v3/kv/put', '{"key": "!!!"}', 400, 3, /illegal base64 data at input byte 0/],
    ['/v3/kv/range', '{"key": "Zm9v", "limit": "abc"}', 400, 3, /invalid character 'a'/],
    ['/v3/kv/put', JSON.stringify({ key: b64('big'), value: Buffer.alloc(1600 * 1024).toString('base64') }), 400, 3, /request is too large/],
    ['/v3/kv/txn', JSON.stringify({ success: Array.from({ length: 200 }, (_, i) => ({ request_put: { key: b64(`k${i}`) } })) }), 400, 3, /too many operations in txn request/],
    ['/v3/kv/put', JSON.stringify({ key: b64('x'), lease: '12345' }), 404, 5, /requested lease not found/],
  ];
  for (const [path, body, status, code, msg] of cases) {
    const r = await m.call<{ error: string; code: number; message: string }>(path, body);
    t.equal(r.status, status, `${path} ${body.slice(0, 40)}: status`);
    t.equal(r.body.code, code, 'grpc code');
    t.match(r.body.error, msg);
    t.equal(r.body.message, r.body.error);
  }
  const unknown = await fetch(`${m.url}/v3/kv/nope`, { method: 'POST', body: '{}' });
  t.equal(unknown.status, 404);
  t.equal(await unknown.text(), 'Not Found\n');
  // a watch from a compacted revision is cancelled with the compact revision
  for (let i = 0; i < 5; i++) await m.call('/v3/kv/put', { key: b64('c'), value: b64(String(i)) });
  await m.call('/v3/kv/compaction', { revision: 4 });
  const ac = new AbortController();
  const res = await fetch(`${m.url}/v3/watch`, { method: 'POST', body: JSON.stringify({ create_request: { key: b64('c'), start_revision: 2 } }), signal: ac.signal });
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes('canceled')) text += Buffer.from((await reader.read()).value!).toString();
  ac.abort();
  t.match(text, /"canceled":true,"compact_revision":"4"/);
  const ka = await m.call<{ result: Record<string, unknown> }>('/v3/lease/keepalive', { ID: '777' });
  t.equal(ka.body.result.ID, '777');
  t.notOk('TTL' in ka.body.result, 'keepalive of an unknown lease: the ID and no TTL');
  const ok = await m.call<{ header: Header }>('/v3/kv/put', { key: b64('after'), value: b64('ok') });
  t.equal(ok.status, 200, 'still serving');
});

/** Writes unique keys through whichever member answers, until `stop()`; returns the acknowledged keys. */
/** Acknowledged writes of several writers, counted, with a wait for the count to reach a number. */
class AckCount {
  private n = 0;
  private waiters: { at: number; resolve: () => void }[] = [];

  get count(): number {
    return this.n;
  }

  add(): void {
    this.n++;
    const due = this.waiters.filter((w) => w.at <= this.n);
    this.waiters = this.waiters.filter((w) => w.at > this.n);
    for (const w of due) w.resolve();
  }

  /** Resolves once `more` further writes are acknowledged; rejects after `timeoutMs`. */
  reached(more: number, timeoutMs: number): Promise<void> {
    const at = this.n + more;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`writes stalled at ${this.n} acknowledged (waiting for ${at})`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ at, resolve: done });
    });
  }
}

function writer(c: KvdCluster, name: string, acks: AckCount) {
  let stopped = false;
  const acked: string[] = [];
  const done = (async () => {
    let i = 0;
    while (!stopped) {
      const live = c.members.filter((m) => m.alive);
      const m = live[i % Math.max(1, live.length)];
      const key = `${name}/${i++}`;
      if (!m) {
        // Every member is down for a moment (a restart): wait for one to come back.
        await c.nextStart();
        continue;
      }
      try {
        const r = await m.call('/v3/kv/put', { key: b64(key), value: b64('v') }, 3000);
        if (r.status === 200) {
          acked.push(key);
          acks.add();
        }
      } catch {
        // connection refused or timed out: outcome unknown, not counted
      }
    }
  })();
  return {
    acked,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

async function countUnder(m: KvdProc, prefix: string, serializable = false): Promise<Set<string>> {
  const r = await m.call<{ kvs?: Kv[] }>('/v3/kv/range', {
    key: b64(prefix),
    range_end: b64(prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)),
    keys_only: true,
    serializable,
  });
  return new Set((r.body.kvs ?? []).map((kv) => unb64(kv.key)));
}


t.test('3 members: kill -9 of a follower and of the leader loses no acknowledged write', async (t) => {
  const c = await KvdCluster.create(3);
  t.teardown(() => c.close());
  const acks = new AckCount();
  const w = [writer(c, 'a', acks), writer(c, 'b', acks), writer(c, 'c', acks), writer(c, 'd', acks)];
  t.teardown(() => {
    for (const x of w) void x.stop();
  });
  const progress = (n: number) =>
    acks.reached(n, 60_000).catch((err: unknown) => {
      for (const m of c.members) t.comment(`${m.spec.name} alive=${m.alive}: ${m.log.join('').slice(-2000)}`);
      throw err;
    });
  await progress(200);
  const leader = await c.leader();
  const follower = c.members.find((m) => m !== leader)!;
  await follower.kill9();
  await progress(200);
  await follower.start();
  await progress(100);
  const l2 = await c.leader();
  await l2.kill9();
  await progress(200);
  await l2.start();
  await progress(100);
  for (const x of w) await x.stop();
  const acked = w.flatMap((x) => x.acked);
  t.ok(acked.length > 800, `${acked.length} writes acknowledged across the kills`);
  await c.leader();
  for (const m of c.members) {
    const keys = new Set<string>();
    for (const p of ['a/', 'b/', 'c/', 'd/']) for (const k of await countUnder(m, p)) keys.add(k);
    t.same(acked.filter((k) => !keys.has(k)), [], `${m.spec.name} holds every acknowledged write`);
  }
  const { rev, hashes } = await hashesAtCommonRevision(c);
  t.ok(rev > 800, `revision ${rev}`);
  t.equal(new Set(hashes).size, 1, `the three members' histories hash the same at revision ${rev} after the kills: ${hashes.join(', ')}`);
});

t.test('a member down while more than --snapshot-count entries commit catches up through a snapshot; kill -9 after a snapshot loses nothing', async (t) => {
  // No value cache: every value read below comes from the members' LevelDB.
  const c = await KvdCluster.create(3, ['--snapshot-count', '300', '--snapshot-catchup-entries', '50', '--log-level', 'info', '--value-cache-mb', '0']);
  t.teardown(() => c.close());
  const dump = (err: unknown) => {
    for (const m of c.members) t.comment(`${m.spec.name}: ${m.log.join('').split('\n').filter((l) => /snapshot|leader|compact/.test(l)).join('\n').slice(-3000)}`);
    throw err;
  };
  const leader = await c.leader();
  const down = c.members.find((m) => m !== leader)!;
  await down.stop();
  for (let i = 0; i < 1000; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => leader.call('/v3/kv/put', { key: b64(`s/${i + j}`), value: b64('x'.repeat(100)) })));
  }
  // The store is durable in LevelDB: the log's snapshots name its applied index and hold no data.
  await leader.waitForLog(/took a snapshot \(the state machine holds the state\)/).catch(dump);
  await down.start(['--log-level', 'info']);
  await down.waitForLog(/installed a snapshot from the leader/).catch(dump);
  t.match(leader.log.join(''), /sending a snapshot of the state/, 'the leader read its store for the returning member');
  // Linearizable: answered once the returning member applied everything the leader committed.
  t.equal((await countUnder(down, 's/')).size, 1000, 'the returning member has every key');
  // kill -9 of the leader, whose log is compacted behind a snapshot without data: its keys come
  // back from its own store.
  await leader.kill9();
  await leader.start();
  t.equal((await countUnder(leader, 's/')).size, 1000, 'the old leader has every key after kill -9');
  t.equal((await countUnder(leader, 's/', true)).size, 1000, 'in its own store (serializable)');
  for (const m of [leader, down]) {
    const r = await m.call<{ kvs?: Kv[]; count?: string }>('/v3/kv/range', { key: b64('s/'), range_end: b64('s0'), serializable: true });
    t.same(
      [r.body.count, (r.body.kvs ?? []).filter((kv) => unb64(kv.value) === 'x'.repeat(100)).length],
      ['1000', 1000],
      `${m.spec.name}: every value, read from its store`,
    );
  }  // The returning member's history came from a snapshot, the others' from their logs: HashKV
  // compares them record by record.
  const { hashes } = await hashesAtCommonRevision(c);
  t.equal(new Set(hashes).size, 1, `the member restored from a snapshot hashes like the others: ${hashes.join(', ')}`);
});

t.test('membership: add a member that joins, promote a learner, remove a member', async (t) => {
  const c = await KvdCluster.create(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  await leader.call('/v3/kv/put', { key: b64('before'), value: b64('1') });
  const fresh = await c.newMember('m4');
  const add = await leader.call<{ member: { ID: string; isLearner?: boolean }; members: unknown[] }>('/v3/cluster/member/add', {
    peerURLs: [`http://127.0.0.1:${fresh.spec.peerPort}`],
    isLearner: true,
  });
  t.equal(add.status, 200);
  t.equal(add.body.member.isLearner, true);
  t.equal(add.body.members.length, 4);
  await fresh.start(['--log-level', 'info']);
  t.teardown(() => {
    if (t.passing()) return;
    for (const m of c.members) t.comment(`${m.spec.name} alive=${m.alive}: ${m.log.join('').slice(-1500)}`);
  });
  let got: { kvs?: Kv[] } = {};
  for (let i = 0; i < 100 && !got.kvs; i++) {
    got = (await fresh.call<{ kvs?: Kv[] }>('/v3/kv/range', { key: b64('before'), serializable: true })).body;
    if (!got.kvs) await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(unb64(got.kvs?.[0]?.value), '1', 'the new member caught up');
  let promoted = await leader.call('/v3/cluster/member/promote', { ID: add.body.member.ID });
  for (let i = 0; i < 50 && promoted.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    promoted = await leader.call('/v3/cluster/member/promote', { ID: add.body.member.ID });
  }
  t.equal(promoted.status, 200, 'learner promoted');
  const list = await fresh.call<{ members: { name: string; isLearner?: boolean; clientURLs?: string[] }[] }>('/v3/cluster/member/list');
  const m4 = list.body.members.find((m) => m.name === 'm4');
  t.ok(m4, 'the new member published its name');
  t.notOk(m4?.isLearner);
  t.same(m4?.clientURLs, [fresh.url]);
  const victim = c.members.find((m) => m !== leader && m !== fresh)!;
  const vid = (await victim.call<{ header: Header }>('/v3/maintenance/status')).body.header.member_id;
  const rm = await leader.call<{ members: unknown[] }>('/v3/cluster/member/remove', { ID: vid });
  t.equal(rm.status, 200);
  t.equal(rm.body.members.length, 3);
  await victim.kill9();
  const after = await leader.call('/v3/kv/put', { key: b64('after'), value: b64('2') });
  t.equal(after.status, 200, 'the shrunk cluster keeps writing');
  // The joined member restarts from its data directory alone: --initial-cluster is ignored once
  // there is state, as in etcd (here every peer it names is down; one was even removed). It used
  // to ask them for the cluster again, and gave up.
  const others = c.members.filter((m) => m.alive && m !== fresh);
  await fresh.kill9();
  await Promise.all(others.map((m) => m.stop()));
  await fresh.start();
  t.pass('the joined member restarted with every peer it names down');
  await Promise.all(others.map((m) => m.start()));
  let seen: { kvs?: Kv[] } = {};
  for (let i = 0; i < 100 && !seen.kvs; i++) {
    seen = (await fresh.call<{ kvs?: Kv[] }>('/v3/kv/range', { key: b64('after') })).body;
    if (!seen.kvs) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(unb64(seen.kvs?.[0]?.value), '2', 'and serves linearizable reads once the others are back');
});

/**
 * Changes the value of the record of revision `rev` in a member's LevelDB while the member is
 * stopped (it is left stopped): nothing in Raft knows, and the member serves it as its data.
 * Resolves with the number of records changed.
 */
t.test('3 members: followers serve linearizable reads, health, version and metrics', async (t) => {
  const c = await KvdCluster.create(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const follower = c.members.find((m) => m !== leader)!;
  for (let i = 0; i < 20; i++) {
    await leader.call('/v3/kv/put', { key: b64('lin'), value: b64(String(i)) });
    const r = await follower.call<{ kvs: Kv[] }>('/v3/kv/range', { key: b64('lin') });
    t.equal(unb64(r.body.kvs[0]!.value), String(i), `follower read ${i} sees the write acknowledged before it`);
    const tx = await follower.call<{ responses: { response_range: { kvs: Kv[] } }[] }>('/v3/kv/txn', { success: [{ request_range: { key: b64('lin') } }] });
    t.equal(unb64(tx.body.responses[0]!.response_range.kvs[0]!.value), String(i), `and so does a txn of one range (${i})`);
  }
  // Those txns were served as reads: no log entry, on the follower or the leader.
  const raftIndex = async () => (await leader.call<{ raftIndex: string }>('/v3/maintenance/status', {})).body.raftIndex;
  const before = await raftIndex();
  for (const m of [leader, follower]) {
    const tx = await m.call<{ succeeded: boolean; header: { revision: string } }>('/v3/kv/txn', {
      compare: [{ target: 'VALUE', result: 'EQUAL', key: b64('lin'), value: b64('19') }],
      success: [{ request_range: { key: b64('lin'), serializable: true } }],
    });
    t.same([tx.status, tx.body.succeeded], [200, true], `a read-only txn with a compare on ${m.spec.name}`);
  }
  t.equal(await raftIndex(), before, 'no log entry for the read-only txns');
  const health = await fetch(`${follower.url}/health`);
  t.equal(health.status, 200);
  t.same(await health.json(), { health: 'true' });
  const version = (await (await fetch(`${follower.url}/version`)).json()) as Record<string, string>;
  t.match(version.etcdserver, /^3\.4\./);
  const metrics = await (await fetch(`${leader.url}/metrics`)).text();
  t.match(metrics, /^etcd_server_has_leader 1$/m);
  t.match(metrics, /^etcd_server_is_leader 1$/m);
  t.match(metrics, /^etcd_disk_wal_fsync_duration_seconds_count [1-9]/m);
  // Where the fsyncs ran depends on the disk's speed; together they are every one the member made.
  const fsyncs = [...metrics.matchAll(/^kvd_disk_wal_fsyncs_total\{where="(in_place|pool)"\} (\d+)$/gm)];
  t.same(fsyncs.map((m) => m[1]).sort(), ['in_place', 'pool']);
  t.ok(fsyncs.reduce((n, m) => n + Number(m[2]), 0) > 0, 'the member made fsyncs');
  t.match(metrics, /^kvd_raft_term \d+$/m);
  t.match(metrics, /^kvd_value_cache_bytes [1-9]\d*$/m, 'the values of the twenty puts are in memory');
  t.match(metrics, /^kvd_value_cache_budget_bytes 67108864$/m, 'the default budget, 64 MiB');
  // The Raft transport, per peer, labelled with the peer's member id in hex as etcd does.
  t.match(metrics, /^# TYPE etcd_network_peer_sent_bytes_total counter$/m);
  for (const m of c.members.filter((x) => x !== leader)) {
    const id = (await m.call<{ header: { member_id: string } }>('/v3/maintenance/status', {})).body.header.member_id;
    const to = BigInt(id).toString(16);
    const sent = new RegExp(`^etcd_network_peer_sent_bytes_total\\{To="${to}"\\} (\\d+)$`, 'm').exec(metrics);
    t.ok(sent && Number(sent[1]) > 0, `bytes sent to ${to}`);
    t.match(metrics, new RegExp(`^kvd_network_peer_sent_messages_total\\{To="${to}"\\} [1-9]\\d*$`, 'm'), `messages sent to ${to}`);
    t.match(metrics, new RegExp(`^kvd_network_peer_sent_frames_total\\{To="${to}"\\} [1-9]\\d*$`, 'm'), `frames sent to ${to}`);
    t.match(metrics, new RegExp(`^kvd_network_peer_connected\\{To="${to}"\\} 1$`, 'm'), `connected to ${to}`);
    t.match(metrics, new RegExp(`^etcd_network_peer_sent_failures_total\\{To="${to}"\\} \\d+$`, 'm'));
    // The receiving side, labelled From as in etcd: the followers' answers to the leader.
    const received = new RegExp(`^etcd_network_peer_received_bytes_total\\{From="${to}"\\} (\\d+)$`, 'm').exec(metrics);
    t.ok(received && Number(received[1]) > 0, `bytes received from ${to}`);
    t.match(metrics, new RegExp(`^kvd_network_peer_received_frames_total\\{From="${to}"\\} [1-9]\\d*$`, 'm'), `frames received from ${to}`);
    t.match(metrics, new RegExp(`^kvd_network_peer_received_messages_total\\{From="${to}"\\} [1-9]\\d*$`, 'm'), `messages received from ${to}`);
    // Each connection is pinged as it opens (then every 4 s): at least one round trip per peer,
    // in etcd's buckets (the first bound 0.1 ms, the last 3.2768 s).
    t.match(metrics, new RegExp(`^etcd_network_peer_round_trip_time_seconds_count\\{To="${to}"\\} [1-9]\\d*$`, 'm'), `round trips to ${to}`);
    t.match(metrics, new RegExp(`^etcd_network_peer_round_trip_time_seconds_bucket\\{le="0.0001",To="${to}"\\} \\d+$`, 'm'));
    t.match(metrics, new RegExp(`^etcd_network_peer_round_trip_time_seconds_bucket\\{le="3.2768",To="${to}"\\} [1-9]\\d*$`, 'm'));
  }
  t.equal((metrics.match(/^kvd_network_peer_connected\{/gm) ?? []).length, 2, 'two peers, not itself');
  // Requests are counted by method and code, and timed by method.
  t.equal((await leader.call('/v3/kv/put', { value: b64('no key') })).status, 400);
  const counted = await (await fetch(`${leader.url}/metrics`)).text();
  t.match(counted, /^kvd_requests_total\{method="kv\/put",code="0"\} 20$/m, 'the twenty puts');
  t.match(counted, /^kvd_requests_total\{method="kv\/put",code="3"\} 1$/m, 'the put without a key (InvalidArgument)');
  t.match(counted, /^kvd_request_duration_seconds_count\{method="kv\/put"\} 21$/m);
  const followerMetrics = await (await fetch(`${follower.url}/metrics`)).text();
  t.match(followerMetrics, /^kvd_requests_total\{method="kv\/range",code="0"\} 20$/m, 'the twenty reads, on the follower');
});

t.test('a lease expires on the leader, deleting its keys in one revision, and a new leader does not expire it early', async (t) => {
  const c = await KvdCluster.create(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const follower = c.members.find((m) => m !== leader)!;
  const ttl = 3;
  const grant = await follower.call<{ ID: string }>('/v3/lease/grant', { TTL: ttl });
  const grantedAt = Date.now();
  await follower.call('/v3/kv/put', { key: b64('eph/1'), value: b64('a'), lease: grant.body.ID });
  await follower.call('/v3/kv/put', { key: b64('eph/2'), value: b64('b'), lease: grant.body.ID });
  const w = await openWatch(follower, { key: b64('eph/'), range_end: b64('eph0') });
  t.teardown(() => w.close());
  await w.next(); // created
  // The leader dies: the new leader must give the lease its whole TTL again.
  await leader.kill9();
  const msg = await w.next();
  const deletedAfter = Date.now() - grantedAt;
  t.same(
    msg.result.events.map((e: any) => [e.type, unb64(e.kv.key)]),
    [
      ['DELETE', 'eph/1'],
      ['DELETE', 'eph/2'],
    ],
    'both keys deleted in one revision',
  );
  t.ok(deletedAfter >= ttl * 1000, `deleted ${deletedAfter} ms after the grant (TTL ${ttl} s), not earlier`);
  const ttlNow = await follower.call<{ TTL: string }>('/v3/lease/timetolive', { ID: grant.body.ID });
  t.equal(ttlNow.body.TTL, '-1', 'the lease is gone');
});

t.test('a keep-alive forwarded to a leader that hangs is given up when the follower sees the leader go, not at its timeout', async (t) => {
  // Election timeout 500 ms: the follower gives up on the stopped leader within 0.5-1 s; the
  // forward's own timeout is 5 s. (Before, the caller waited the 5 s, and a fleetd's lease
  // renewal stuck so could outlast its fencing deadline while a new leader was there to answer.)
  const c = await KvdCluster.create(3, ['--heartbeat-interval', '50', '--election-timeout', '500']);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const follower = c.members.find((m) => m !== leader)!;
  const grant = await follower.call<{ ID: string }>('/v3/lease/grant', { TTL: 30 });
  leader.child!.kill('SIGSTOP');
  t.teardown(() => leader.child?.kill('SIGCONT'));
  const sent = Date.now();
  const r = await follower.call<{ error?: string; result?: { TTL: string } }>('/v3/lease/keepalive', { ID: grant.body.ID });
  const ms = Date.now() - sent;
  leader.child!.kill('SIGCONT');
  t.comment(`answered after ${ms} ms: ${JSON.stringify(r.body)}`);
  // Either the follower saw the leader go while the forward hung ("leader changed"), or the new
  // leader was already there to renew it; not the forward's timeout ("request timed out"), which
  // is what waiting for the stopped leader would have ended in. (The reason, not a time bound:
  // on a loaded machine the election itself may take seconds.)
  const text = JSON.stringify(r.body);
  t.ok(/leader changed|no leader/.test(text) || r.body.result?.TTL === '30', text);
  t.notMatch(text, /request timed out/);
});
