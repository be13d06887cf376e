// Every command in-process (kvctl's run() with captured streams) against a real one-member kvd:
// the output formats, standard input, exec commands, Ctrl-C, and the server's errors.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { createServer } from 'node:http';
import { listenOnLoopback } from '../support/loopback-server.js';
import { pino } from 'pino';
import { Client, Op } from '../../src/client/index.js';
import { KvStore } from '../../src/kv/index.js';
import { tempDir } from '../raft/cluster.js';
import { KvdCluster } from '../server/kvd-harness.js';
import { inProcess, until } from './helpers.js';

const cluster = await KvdCluster.create(1);
t.teardown(() => cluster.close());
await cluster.leader();
const m = cluster.members[0]!;
const ep = `--endpoints=${m.url}`;
const client = new Client({ endpoints: [m.url], autoSyncMembers: false });
t.teardown(() => client.close());
const dir = await tempDir('flotilla-kvctl-cmd-');
t.teardown(() => rm(dir, { recursive: true, force: true }));

const k = (args: string[], opts: Parameters<typeof inProcess>[1] = {}) => inProcess([ep, ...args], opts);

async function watchers(): Promise<number> {
  const text = await (await fetch(`${m.url}/metrics`)).text();
  return Number(/^etcd_debugging_mvcc_watcher_total (\d+)/m.exec(text)?.[1] ?? 0);
}

/** Waits until the watches of earlier commands are gone on the server; resolves with 0. */
async function noWatchers(): Promise<number> {
  await until(async () => (await watchers()) === 0);
  return 0;
}

const running: AbortController[] = [];
t.teardown(() => {
  for (const ac of running) ac.abort();
});

/** Runs a long-lived command in-process; `stop()` sends Ctrl-C and resolves with its result. */
function background(args: string[], opts: { stdin?: string } = {}) {
  const ac = new AbortController();
  running.push(ac);
  const done = k(args, { ...opts, interrupt: ac });
  return {
    done,
    stop: async () => {
      ac.abort();
      return done;
    },
  };
}

t.test('put, get, del', async (t) => {
  t.same(await k(['put', 'k1', 'v1']), { code: 0, stdout: 'OK\n', stdoutBytes: Buffer.from('OK\n'), stderr: '' });
  t.equal((await k(['put', 'k2'], { stdin: 'from stdin\n' })).stdout, 'OK\n');
  t.equal((await k(['get', 'k2'])).stdout, 'k2\nfrom stdin\n\n', 'the value read from stdin keeps its newline');
  const bin = await k(['put', 'bin'], { stdin: Buffer.from([0xff, 0x00, 0x41]) });
  t.equal(bin.code, 0);
  const raw = await k(['get', 'bin', '--print-value-only']);
  t.same([...raw.stdoutBytes], [0xff, 0x00, 0x41, 0x0a], 'values are written as raw bytes');
  t.equal((await k(['get', 'bin', '--hex'])).stdout, '\\x62\\x69\\x6e\n\\xff\\x00\\x41\n');
  t.equal((await k(['put', 'k1', 'v2', '--prev-kv'])).stdout, 'OK\nk1\nv1\n');
  t.equal((await k(['put', 'k1', '--ignore-value'])).stdout, 'OK\n');
  t.equal((await k(['get', 'k1', '--print-value-only'])).stdout, 'v2\n');
  const missing = await k(['put', 'nope', '--ignore-value']);
  t.same([missing.code, missing.stderr], [1, 'Error: etcdserver: key not found\n']);
  const json = JSON.parse((await k(['put', 'k3', 'x', '-w', 'json'])).stdout) as { header: { revision: number } };
  t.ok(json.header.revision > 1);
  t.equal((await k(['get', 'k', '--prefix', '--count-only'])).stdout, '3\n');
  t.match((await k(['get', 'k', '--prefix', '--count-only', '-w', 'json'])).stdout, /"count":3\}\n$/);
  t.equal((await k(['get', 'k', '--prefix', '--keys-only', '--order=descend', '--consistency=s'])).stdout, 'k3\n\nk2\n\nk1\n\n');
  t.equal((await k(['get', 'k', '--prefix', '--sort-by=value', '--limit=1'])).stdout, 'k2\nfrom stdin\n\n');
  t.equal((await k(['get', 'k', '--prefix', '--sort-by=key', '--order=ASCEND', '--limit=1'])).stdout, 'k1\nv2\n');
  t.equal((await k(['get', 'k2', '--from-key', '--keys-only'])).stdout, 'k2\n\nk3\n\n');
  t.equal((await k(['get', 'k1', 'k3', '--keys-only'])).stdout, 'k1\n\nk2\n\n');
  const future = await k(['get', 'k1', '--rev=100000']);
  t.same([future.code, future.stderr], [1, 'Error: etcdserver: mvcc: required revision is a future revision\n']);
  t.equal((await k(['del', 'k', '--prefix', '--prev-kv'])).stdout, '3\nk1\nv2\nk2\nfrom stdin\n\nk3\nx\n');
  t.equal((await k(['del', 'k1'])).stdout, '0\n');
  t.equal((await k(['del', 'bin', '--from-key', '-w', 'json'])).code, 0);
  t.equal((await k(['del', 'a', 'b'])).stdout, '0\n');
  const empty = await k(['put', '', 'x']);
  t.same([empty.code, empty.stderr], [1, 'Error: etcdserver: key is not provided\n']);
});

t.test('txn from standard input, in both formats', async (t) => {
  await client.put('user1', 'bad');
  const input = 'value("user1") = "bad"\nversion("user1") > "0"\n\nget user1\nput user1 good --prev-kv\ndel nothing\n\nput user1 other\n\n';
  t.equal((await k(['txn'], { stdin: input })).stdout, 'SUCCESS\n\nuser1\nbad\n\nOK\nuser1\nbad\n\n0\n');
  const j = await k(['txn', '-w', 'json'], { stdin: input });
  t.match(j.stdout, /^\{"header":\{.*\},"responses":\[\{"Response":\{"ResponsePut":\{"header":\{"revision":\d+\}\}\}\}\]\}\n$/, 'FAILURE: no succeeded field');
  const dup = await k(['txn'], { stdin: '\nput a 1\nput a 2\n\n\n' });
  t.same([dup.code, dup.stderr], [1, 'Error: etcdserver: duplicate key given in txn request\n']);
  const table = await k(['txn', '-w', 'table'], { stdin: '\n\n\n' });
  t.same([table.code, table.stderr], [4, 'Error: table not supported as output format\n']);
});

t.test('compaction', async (t) => {
  const rev = (await client.put('c', '1')).header.revision!;
  await client.put('c', '2');
  t.equal((await k(['compaction', String(rev)])).stdout, `compacted revision ${rev}\n`);
  const again = await k(['compaction', String(rev), '--physical']);
  t.same([again.code, again.stderr], [1, 'Error: etcdserver: mvcc: required revision has been compacted\n']);
  t.equal((await k(['compact', String(rev + 1), '--physical'])).stdout, `compacted revision ${rev + 1}\n`);
});

t.test('watch: events, exec, interactive, compacted, Ctrl-C', async (t) => {
  let base = await noWatchers();
  const w = background(['watch', 'wk', '--prev-kv']);
  await until(async () => (await watchers()) > base);
  await client.put('wk', '1');
  await client.put('wk', '2');
  await client.delete('wk');
  await new Promise((res) => setTimeout(res, 300));
  let r = await w.stop();
  t.equal(r.code, 130);
  t.equal(r.stdout, 'PUT\nwk\n1\nPUT\nwk\n1\nwk\n2\nDELETE\nwk\n2\nwk\n\n');

  base = await noWatchers();
  const j = background(['watch', 'wj', '-w', 'json']);
  await until(async () => (await watchers()) > base);
  await client.put('wj', 'x');
  await new Promise((res) => setTimeout(res, 300));
  r = await j.stop();
  t.match(r.stdout, /^\{"Header":\{"cluster_id":\d+,"member_id":\d+,"revision":\d+,"raft_term":\d+\},"Events":\[\{"kv":\{"key":"d2o=","create_revision":\d+,"mod_revision":\d+,"version":1,"value":"eA=="\}\}\],"CompactRevision":0,"Canceled":false,"Created":false\}\n$/);

  base = await noWatchers();
  const out = join(dir, 'exec.txt');
  const e = background(['watch', 'we', '--', 'sh', '-c', `echo "$ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE $ETCD_WATCH_REVISION" >> ${out}; echo ran`]);
  await until(async () => (await watchers()) > base);
  const rev = (await client.put('we', 'val"ue')).header.revision!;
  await until(async () => (await readFile(out, 'utf8').catch(() => '')).length > 0);
  r = await e.stop();
  t.equal(await readFile(out, 'utf8'), `"PUT" "we" "val\\"ue" ${rev}\n`, 'ETCD_WATCH_* as etcdctl sets them (Go-quoted)');
  t.equal(r.stdout, `PUT\nwe\nval"ue\nran\n`);

  base = await noWatchers();
  const failing = k(['watch', 'wf', '--', 'sh', '-c', 'exit 4']);
  await until(async () => (await watchers()) > base);
  await client.put('wf', 'x');
  r = await failing;
  t.same([r.code, r.stderr], [1, 'Error: command ["sh" "-c" "exit 4"] error (exit status 4)\n']);

  base = await noWatchers();
  const envAc = new AbortController();
  const ew = k(['watch'], { env: { KVCTL_WATCH_KEY: 'env/', KVCTL_WATCH_RANGE_END: 'env0' }, interrupt: envAc });
  await until(async () => (await watchers()) > base);
  await client.put('env/a', '1');
  await client.put('env0', 'outside');
  await new Promise((res) => setTimeout(res, 300));
  envAc.abort();
  t.equal((await ew).stdout, 'PUT\nenv/a\n1\n', 'ETCDCTL_WATCH_KEY and ETCDCTL_WATCH_RANGE_END');

  base = await noWatchers();
  const i = background(['watch', '-i'], { stdin: 'watch ia\nbogus x\nwatch\nwatch ib --prefix\n' });
  await until(async () => (await watchers()) >= base + 2);
  await client.put('ia', '1');
  await client.put('ib/x', '2');
  await new Promise((res) => setTimeout(res, 300));
  r = await i.stop();
  t.equal(r.code, 130);
  t.equal(r.stdout, 'PUT\nia\n1\nPUT\nib/x\n2\n');
  t.equal(r.stderr, 'Invalid command bogus x (only support watch)\nInvalid command watch (command type or key is not provided)\n');
  const eof = await k(['watch', '-i'], { stdin: '' });
  t.same([eof.code, eof.stderr], [3, 'Error: error reading watch request line: EOF\n']);

  const compacted = await k(['watch', 'c', '--rev=1']);
  t.same([compacted.code, compacted.stderr], [5, 'watch was canceled (etcdserver: mvcc: required revision has been compacted)\nError: watch is canceled by the server\n']);
  const cj = await k(['watch', 'c', '--rev=1', '-w', 'json']);
  t.match(cj.stdout, /^\{"Header":\{\},"Events":\[\],"CompactRevision":\d+,"Canceled":true,"Created":false\}\n$/);
  const ic = await k(['watch', '-i'], { stdin: 'watch c --rev=1\n' });
  t.equal(ic.code, 5);

  base = await noWatchers();
  const pn = background(['watch', 'pn', '--progress-notify']);
  await until(async () => (await watchers()) > base);
  r = await pn.stop();
  t.equal(r.code, 130);
});

const LEASE = /^lease ([0-9a-f]{16}) granted with TTL\((\d+)s\)\n$/;

t.test('leases', async (t) => {
  const g = await k(['lease', 'grant', '30']);
  const id = LEASE.exec(g.stdout)![1]!;
  t.equal((await k(['put', 'lk', 'lv', `--lease=${id}`])).stdout, 'OK\n');
  t.match((await k(['lease', 'timetolive', id, '--keys'])).stdout, new RegExp(`^lease ${id} granted with TTL\\(30s\\), remaining\\(\\d+s\\), attached keys\\(\\[lk\\]\\)\\n$`));
  t.match((await k(['lease', 'timetolive', id, '-w', 'json'])).stdout, /"id":\d+,"ttl":\d+,"granted-ttl":30,"keys":null\}\n$/);
  t.match((await k(['lease', 'list'])).stdout, new RegExp(`^found \\d+ leases\\n(.*\\n)*${id}\\n`));
  t.match((await k(['lease', 'list', '-w', 'json'])).stdout, /"leases":\[\{"id":\d+\}/);
  t.match((await k(['lease', 'grant', '30', '-w', 'json'])).stdout, /"ID":\d+,"TTL":30,"Error":""\}\n$/);
  t.match((await k(['lease', 'keep-alive', '--once', id, '-w', 'json'])).stdout, /"ID":\d+,"TTL":30\}\n$/);
  t.equal((await k(['put', 'lk', 'lv2', '--ignore-lease'])).code, 0);
  const ka = background(['lease', 'keep-alive', id]);
  await new Promise((r) => setTimeout(r, 500));
  const r = await ka.stop();
  t.equal(r.code, 130);
  t.equal(r.stdout, `lease ${id} keepalived with TTL(30)\n`);
  const kj = background(['lease', 'keep-alive', id, '-w', 'json']);
  await new Promise((res) => setTimeout(res, 500));
  t.match((await kj.stop()).stdout, /^\{.*"TTL":30\}\n$/);
  const short = (await client.leaseGrant(3)).ID;
  const sid = short.toString(16).padStart(16, '0');
  const revoked = background(['lease', 'keep-alive', sid]);
  await new Promise((res) => setTimeout(res, 300));
  await client.leaseRevoke(short);
  const rv = await revoked.done;
  t.equal(rv.code, 0);
  t.equal(rv.stdout, `lease ${sid} keepalived with TTL(3)\nlease ${sid} expired or revoked.\n`);
  t.match((await k(['lease', 'revoke', (await client.leaseGrant(10)).ID.toString(16), '-w', 'json'])).stdout, /^\{"header":\{/);
  t.equal((await k(['lease', 'grant', '0'])).stdout.endsWith('granted with TTL(2s)\n'), true, 'the minimum TTL as the server raised it');
  const big = await k(['lease', 'grant', '9000000001']);
  t.same([big.code, big.stderr], [1, 'Error: failed to grant lease (etcdserver: too large lease TTL)\n']);
});

t.test('lock and elect in-process', async (t) => {
  t.equal((await k(['lock', 'l1', 'echo', 'locked'])).stdout, 'locked\n');
  const missing = await k(['lock', 'l1', 'no-such-command-xyz']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /^Error: .*ENOENT/);
  const held = background(['lock', 'l2', '--ttl=5']);
  await until(async () => (await client.get('l2/', { prefix: true, countOnly: true })).count === 1);
  await new Promise((r) => setTimeout(r, 200));
  let r = await held.stop();
  t.equal(r.code, 0);
  t.match(r.stdout, /^l2\/[0-9a-f]+\n\n$/);
  t.equal((await client.get('l2/', { prefix: true, countOnly: true })).count, 0, 'released');
  const j = background(['lock', 'l3', '-w', 'json']);
  await until(async () => (await client.get('l3/', { prefix: true, countOnly: true })).count === 1);
  await new Promise((res) => setTimeout(res, 200));
  r = await j.stop();
  t.match(r.stdout, /^\{"header":\{.*\},"kvs":\[\{"key":"[^"]+","create_revision":\d+,"mod_revision":\d+,"version":1,"lease":\d+\}\],"count":1\}\n$/);
  // Interrupted while waiting for the lock: exits 0, its key is gone.
  const owner = background(['lock', 'l4']);
  await until(async () => (await client.get('l4/', { prefix: true, countOnly: true })).count === 1);
  const waiter = background(['lock', 'l4']);
  await until(async () => (await client.get('l4/', { prefix: true, countOnly: true })).count === 2);
  t.equal((await waiter.stop()).code, 0);
  await new Promise((res) => setTimeout(res, 200));
  t.equal((await owner.stop()).code, 0);

  const e = background(['elect', 'e1', 'p1']);
  await until(async () => (await client.get('e1/', { prefix: true, countOnly: true })).count === 1);
  const l = background(['elect', '-l', 'e1']);
  await new Promise((res) => setTimeout(res, 400));
  const waiting = background(['elect', 'e1', 'p2']);
  await until(async () => (await client.get('e1/', { prefix: true, countOnly: true })).count === 2);
  t.equal((await waiting.stop()).code, 0, 'Ctrl-C while campaigning');
  await new Promise((res) => setTimeout(res, 200));
  r = await e.stop();
  t.match(r.stdout, /^e1\/[0-9a-f]+\np1\n$/);
  await new Promise((res) => setTimeout(res, 300));
  const obs = await l.stop();
  t.equal(obs.code, 0);
  t.match(obs.stdout, /^e1\/[0-9a-f]+\np1\n$/);
});

t.test('members, endpoints, move-leader', async (t) => {
  const ml = await k(['member', 'list']);
  t.match(ml.stdout, new RegExp(`^[0-9a-f]+, started, m1, http://127.0.0.1:${m.spec.peerPort}, ${m.url}, false\\n$`));
  t.match((await k(['member', 'list', '-w', 'json'])).stdout, /^\{"header":\{"cluster_id":\d+,"member_id":\d+,"raft_term":\d+\},"members":\[\{"ID":\d+,"name":"m1"/);
  t.match((await k(['member', 'list', '-w', 'table'])).stdout, /\|\s+ID\s+\|\s+STATUS\s+\|\s+NAME\s+\|\s+PEER ADDRS\s+\|\s+CLIENT ADDRS\s+\|\s+IS LEARNER\s+\|/);
  const add = await k(['member', 'add', 'm2', '--peer-urls=http://127.0.0.1:1', '--learner']);
  t.equal(add.code, 0, add.stderr);
  t.match(add.stdout, new RegExp(`^Member +[0-9a-f]+ added to cluster +[0-9a-f]+\\n\\nETCD_NAME="m2"\\nETCD_INITIAL_CLUSTER="(m1=http://127.0.0.1:${m.spec.peerPort},m2=http://127.0.0.1:1|m2=http://127.0.0.1:1,m1=http://127.0.0.1:${m.spec.peerPort})"\\nETCD_INITIAL_ADVERTISE_PEER_URLS="http://127.0.0.1:1"\\nETCD_INITIAL_CLUSTER_STATE="existing"\\n$`));
  const list = await client.memberList();
  const learner = list.members.find((x) => x.isLearner)!;
  const hex = learner.ID.toString(16);
  t.match((await k(['member', 'list'])).stdout, new RegExp(`${hex}, unstarted, , http://127.0.0.1:1, , true\\n`));
  const promote = await k(['member', 'promote', hex]);
  t.same([promote.code, promote.stderr], [1, 'Error: etcdserver: can only promote a learner member which is in sync with leader\n']);
  const upd = await k(['member', 'update', hex, '--peer-urls=http://127.0.0.1:2']);
  t.equal(upd.code === 0 || upd.code === 1, true, 'update answered');
  const rm1 = await k(['member', 'remove', hex]);
  t.match(rm1.stdout, new RegExp(`^Member +${hex} removed from cluster +[0-9a-f]+\\n$`));
  const rm2 = await k(['member', 'remove', hex, '-w', 'json']);
  t.same([rm2.code, rm2.stderr], [1, 'Error: etcdserver: member not found\n']);
  const addj = await k(['member', 'add', 'm3', '--peer-urls=http://127.0.0.1:3', '--learner', '-w', 'json']);
  t.match(addj.stdout, /^\{"header":\{.*\},"member":\{"ID":\d+,"peerURLs":\["http:\/\/127.0.0.1:3"\],"isLearner":true\},"members":\[/);
  const id3 = (await client.memberList()).members.find((x) => x.isLearner)!.ID.toString(16);
  t.match((await k(['member', 'remove', id3, '-w', 'json'])).stdout, /^\{"header":\{.*\},"members":\[\{"ID":\d+,"name":"m1"/);
  const pj = await k(['member', 'promote', '1', '-w', 'json']);
  t.same([pj.code, pj.stderr], [1, 'Error: etcdserver: member not found\n']);

  t.match((await k(['endpoint', 'status'])).stdout, new RegExp(`^${m.url}, [0-9a-f]+, 3\\.4\\.0, \\d+(\\.\\d)? k?B, true, false, \\d+, \\d+, \\d+, \\n$`));
  t.match((await k(['endpoint', 'status', '--cluster', '-w', 'json'])).stdout, new RegExp(`^\\[\\{"Endpoint":"${m.url}","Status":\\{"header":\\{.*\\},"version":"3.4.0","dbSize":\\d+,"leader":\\d+,"raftIndex":\\d+,"raftTerm":\\d+,"raftAppliedIndex":\\d+,"dbSizeInUse":\\d+\\}\\}\\]\\n$`));
  const h = await k(['endpoint', 'health', '--cluster']);
  t.equal(h.stdout, '');
  t.match(h.stderr, new RegExp(`^${m.url} is healthy: successfully committed proposal: took = [0-9.]+[µmn]?s\\n$`));
  t.match((await k(['endpoint', 'health', '-w', 'json'])).stdout, /^\[\{"endpoint":"http:\/\/127\.0\.0\.1:\d+","health":true,"took":"[^"]+"\}\]\n$/);
  t.match((await k(['endpoint', 'health', '-w', 'table'])).stdout, /\|\s+ENDPOINT\s+\|\s+HEALTH\s+\|\s+TOOK\s+\|\s+ERROR\s+\|/);
  const self = (await client.status()).header.member_id!.toString(16);
  const ml2 = await k(['move-leader', self]);
  t.same([ml2.code, ml2.stderr], [1, 'Error: etcdserver: bad leader transferee\n']);
});

t.test('endpoint hashkv and defrag', async (t) => {
  await client.put('hk', '1');
  const rev = (await client.put('hk', '2')).header.revision!;
  const at = await k(['endpoint', 'hashkv', `--rev=${rev}`]);
  t.equal(at.code, 0, at.stderr);
  t.match(at.stdout, new RegExp(`^${m.url}, \\d+\\n$`));
  const hash = at.stdout.trim().split(', ')[1]!;
  await client.put('hk', '3');
  t.equal((await k(['endpoint', 'hashkv', `--rev=${rev}`])).stdout, at.stdout, 'the same revision gives the same hash after later writes');
  t.not((await k(['endpoint', 'hashkv'])).stdout, at.stdout, 'the current revision (one more put) another');
  const json = (await k(['endpoint', 'hashkv', '--cluster', `--rev=${rev}`, '-w', 'json'])).stdout;
  t.match(json, new RegExp(`^\\[\\{"Endpoint":"${m.url}","HashKV":\\{"header":\\{"cluster_id":\\d+,"member_id":\\d+,"revision":\\d+,"raft_term":\\d+\\},"hash":${hash},"compact_revision":\\d+\\}\\}\\]\\n$`));
  t.match((await k(['endpoint', 'hashkv', '-w', 'table'])).stdout, /\|\s+ENDPOINT\s+\|\s+HASH\s+\|/);
  const future = await k(['endpoint', 'hashkv', '--rev=1000000']);
  t.same(
    [future.code, future.stdout, future.stderr],
    [1, '', `Failed to get the hash of endpoint ${m.url} (etcdserver: mvcc: required revision is a future revision)\nError: etcdserver: mvcc: required revision is a future revision\n`],
    "etcdctl's two lines: the endpoint's failure, then the error",
  );
  const badRev = await k(['endpoint', 'hashkv', '--rev=x']);
  t.equal(badRev.code, 1);
  t.match(badRev.stderr, /^Error: invalid argument "x" for "--rev" flag: strconv.ParseInt: parsing "x": invalid syntax\n/);

  const d = await k(['defrag']);
  t.same([d.code, d.stdout], [0, `Finished defragmenting etcd member[${m.url}]\n`]);
  t.equal((await k(['endpoint', 'hashkv', `--rev=${rev}`])).stdout, at.stdout, 'defragmenting changes no data');
  const locked = await k(['defrag', `--data-dir=${m.spec.dataDir}`]);
  t.same([locked.code, locked.stdout], [1, '']);
  t.match(locked.stderr, new RegExp(`^Failed to defragment etcd data\\[${m.spec.dataDir}\\] \\(data directory .* is in use by another process`), 'a running member keeps its files');
  // A data directory no kvd runs on: defragmented in place, nothing printed (as etcdctl).
  const offline = join(dir, 'offline');
  const store = await KvStore.open(join(offline, 'kv'), { logger: pino({ level: 'silent' }) });
  await store.close();
  const done = await k(['defrag', `--data-dir=${offline}`]);
  t.same([done.code, done.stdout, done.stderr], [0, '', '']);
  const dead = await inProcess(['--endpoints=127.0.0.1:1', '--dial-timeout=200ms', '--command-timeout=500ms', 'defrag']);
  t.equal(dead.code, 1);
  t.match(dead.stderr, /^Failed to defragment etcd member\[127\.0\.0\.1:1\] \(.+\)\n$/);
  const deadAlarms = await inProcess(['--endpoints=127.0.0.1:1', '--dial-timeout=200ms', '--command-timeout=500ms', 'alarm', 'list']);
  t.equal(deadAlarms.code, 1);
  t.match(deadAlarms.stderr, /^Error: /);
  const none = await k(['defrag', `--data-dir=${join(dir, 'none')}`]);
  t.same([none.code, none.stderr], [1, `Failed to defragment etcd data[${join(dir, 'none')}] (${join(dir, 'none', 'kv', 'CURRENT')} not found: not a kvd data directory)\n`]);
});

t.test('alarm list and disarm', async (t) => {
  const none = await k(['alarm', 'list']);
  t.same([none.code, none.stdout, none.stderr], [0, '', ''], 'no alarm: nothing printed');
  const id = (await client.status()).header.member_id!;
  const raise = await fetch(`${m.url}/v3/maintenance/alarm`, { method: 'POST', body: JSON.stringify({ action: 'ACTIVATE', memberID: id.toString(), alarm: 'NOSPACE' }) });
  t.equal(raise.status, 200);
  t.equal((await k(['alarm', 'list'])).stdout, `memberID:${id} alarm:NOSPACE \n`);
  t.equal((await k(['alarm', 'list', '-w', 'json'])).stdout, `{"alarms":[{"memberID":${id},"alarm":1}]}\n`);
  t.match((await k(['endpoint', 'status'])).stdout, new RegExp(`, memberID:${id} alarm:NOSPACE \\n$`), 'endpoint status lists it under errors');
  const put = await k(['put', 'full', 'x']);
  t.same([put.code, put.stderr], [1, 'Error: etcdserver: mvcc: database space exceeded\n']);
  t.equal((await k(['alarm', 'disarm'])).stdout, `memberID:${id} alarm:NOSPACE \n`, 'disarm prints what it cleared');
  const cleared = await k(['alarm', 'list', '-w', 'json']);
  t.same([cleared.code, cleared.stdout], [0, '{}\n']);
  t.equal((await k(['put', 'full', 'x'])).code, 0, 'writes apply again');
  t.equal((await k(['alarm', 'list', '-w', 'table'])).code, 4, 'no table, as etcdctl');
});

t.test('make-mirror: the keys, then each change, under another prefix', async (t) => {
  const none = await k(['make-mirror']);
  t.same([none.code, none.stderr], [128, 'Error: make-mirror takes one destination argument\n']);
  const both = await k(['make-mirror', '--dest-prefix=x/', '--no-dest-prefix', m.url]);
  t.same([both.code, both.stderr], [128, 'Error: `--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one\n']);
  for (let i = 0; i < 1500; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => client.put(`mm/${String(i + j).padStart(4, '0')}`, `v${i + j}`)));
  }
  await client.put('mmx', 'not under the prefix');
  const copies = async () => (await client.get('copy/', { prefix: true })).kvs.map((kv) => `${Buffer.from(kv.key).toString()}=${Buffer.from(kv.value).toString()}`);
  const mirror = background(['make-mirror', '--prefix=mm/', '--dest-prefix=copy/', m.url]);
  await until(async () => (await copies()).length === 1500);
  t.same((await copies()).slice(0, 2), ['copy/0000=v0', 'copy/0001=v1'], 'the keys as they were, in pages of 1000');
  // One source revision with a put and a delete: copied as one destination revision.
  await client.txn().then(Op.put('mm/new', 'n'), Op.delete('mm/0000')).commit();
  await client.put('mm/0001', 'changed');
  await until(async () => (await copies()).includes('copy/0001=changed'));
  const now = await copies();
  t.ok(now.includes('copy/new=n') && !now.includes('copy/0000=v0'), 'the put and the delete of one txn');
  t.equal(now.length, 1500);
  const at = (await client.get('copy/new')).kvs[0]!.mod_revision;
  t.equal((await client.get('copy/0000', { revision: at - 1 })).kvs.length, 1);
  t.equal((await client.get('copy/0000', { revision: at })).kvs.length, 0, 'copy/0000 deleted in the revision that made copy/new');
  t.same((await client.get('copy/mmx')).kvs, [], 'keys outside the prefix are not copied');
  const r = await mirror.stop();
  t.same([r.code, r.stderr], [130, ''], 'runs until Ctrl-C');
  await client.delete('copy/', { prefix: true });
});

t.test('check perf: the load, the report, the keys gone (speed itself is for the benchmarks)', async (t) => {
  const before = (await client.get('x')).header.revision!;
  const r = await k(['check', 'perf', '--duration=1', '--prefix=/perf/', '--auto-compact', '--auto-defrag']);
  t.equal(r.stderr, '');
  t.match(r.stdout, new RegExp(`^compacted revision \\d+\\nFinished defragmenting etcd member\\[${m.url}\\]\\n`), 'compacted and defragmented after the load, before the report');
  t.match(r.stdout, /\n(PASS: Throughput is|FAIL: Throughput too low:) \d+ writes\/s\n(PASS: Slowest request took|Slowest request took too long:) \d+\.\d{6}s\n(PASS: Stddev is|Stddev too high:) \d+\.\d{6}s\n(PASS|FAIL)\n$/);
  t.equal(r.code, r.stdout.endsWith('PASS\n') ? 0 : 1, 'exit 1 on FAIL');
  const after = (await client.get('x')).header.revision!;
  t.ok(after - before >= 100 && after - before <= 151, `150 puts in the second, then one delete (${after - before} revisions)`);
  t.equal(await client.compact(after).then(() => 'compacted', (e: Error) => e.message), 'etcdserver: mvcc: required revision has been compacted', 'the history was compacted up to the delete');
  t.same((await client.get('/perf/', { prefix: true, countOnly: true })).count, 0, 'the keys are deleted afterwards');
  await client.put('/perf/left', 'x');
  const busy = await k(['check', 'perf', '--duration=1', '--prefix=/perf/']);
  t.same([busy.code, busy.stderr], [3, 'Error: prefix "/perf/" has keys. Delete with etcdctl del --prefix /perf/ first\n']);
  await client.delete('/perf/left');
  const bad = await k(['check', 'perf', '--load=huge']);
  t.same([bad.code, bad.stderr], [4, 'Error: unknown load option huge\n']);
});

t.test("check datascale: the puts, the first endpoint's memory before and after, the keys gone", async (t) => {
  const before = (await client.get('x')).header.revision!;
  const r = await k(['check', 'datascale', '--keys=300', '--prefix=/scale/', '--auto-compact']);
  t.same([r.code, r.stderr], [0, '']);
  t.match(
    r.stdout,
    /^Start data scale check for work load \[300 key-value pairs, 1024 bytes per key-value, 50 concurrent clients\]\.\ncompacted revision \d+\nPASS: Approximate system memory used : -?\d+\.\d\d MB\.\n$/,
  );
  const after = (await client.get('x')).header.revision!;
  t.equal(after - before, 301, '300 puts, then one delete');
  t.same((await client.get('/scale/', { prefix: true, countOnly: true })).count, 0, 'the keys are deleted afterwards');
  await client.put('/scale/left', 'x');
  const busy = await k(['check', 'datascale', '--keys=1', '--prefix=/scale/']);
  t.same([busy.code, busy.stderr], [3, 'Error: prefix "/scale/" has keys. Delete with etcdctl del --prefix /scale/ first\n']);
  await client.delete('/scale/left');
  t.same((await k(['check', 'datascale', '--load=huge'])).stderr, 'Error: unknown load option huge\n');
  t.same((await k(['check', 'datascale', '--keys=-1'])).stderr, 'Error: --keys must be 0 or more\n');
  const noMetrics = await inProcess(['--endpoints', 'http://127.0.0.1:1', 'check', 'datascale', '--keys=1', '--command-timeout=1s', '--dial-timeout=200ms']);
  t.not(noMetrics.code, 0, 'an endpoint that does not answer: an error, nothing written');
  // A member whose /metrics has no resident memory (or fails): etcdctl's FAIL line, no put made.
  let puts = 0;
  let metrics = 'other_metric 1\n';
  const fake = await listenOnLoopback(t, createServer((req, res) => {
    if (req.url === '/metrics') return void res.writeHead(metrics === '' ? 500 : 200).end(metrics || 'broken');
    if (req.url === '/v3/kv/put') puts++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"header":{"revision":"1"}}');
  }));
  const none = await inProcess(['--endpoints', fake, 'check', 'datascale', '--keys=5']);
  t.same([none.code, none.stdout, puts], [1, 'FAIL: Could not read process_resident_memory_bytes before the put operations.\n', 0]);
  metrics = '';
  const broken = await inProcess(['--endpoints', fake, 'check', 'datascale', '--keys=5']);
  t.same([broken.code, broken.stderr, puts], [1, 'Error: HTTP 500: broken\n', 0], 'a /metrics that fails: its error');
});

t.test('snapshot save and status in-process', async (t) => {
  const file = join(dir, 'in.db');
  t.equal((await k(['snapshot', 'save', file])).stdout, `Snapshot saved at ${file}\n`);
  t.match((await k(['snapshot', 'status', file, '-w', 'table'])).stdout, /\|\s+HASH\s+\|\s+REVISION\s+\|\s+TOTAL KEYS\s+\|\s+TOTAL SIZE\s+\|/);
  const bad = await k(['snapshot', 'save', join(dir, 'no', 'such', 'dir.db')]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^Error: could not open /);
});

t.test('--debug logs the client on stderr; errors keep one line', async (t) => {
  const r = await k(['get', 'x', '--debug']);
  t.equal(r.code, 0);
});
