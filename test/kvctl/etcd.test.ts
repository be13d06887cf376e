// kvctl and the real etcdctl 3.4 side by side against the same etcd (kvctl through the JSON
// gateway, etcdctl through gRPC), when `etcd` and `etcdctl` are on the PATH: the same command
// gives the same stdout, stderr and exit code. etcdctl's gRPC client warnings (JSON log lines on
// stderr) are left out; so are the usage texts, which name the program.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { plainNode } from '../plain-node.js';
import { freePort, tempDir } from '../raft/cluster.js';
import { Background, cleanEnv, kvctl, kvctlScript, until, type Result } from './helpers.js';

const have = (bin: string, arg: string) => {
  const r = spawnSync(bin, [arg], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
  return !r.error && r.status === 0;
};

if (!have('etcd', '--version') || !have('etcdctl', 'version')) {
  t.comment('etcd or etcdctl is not on the PATH: skipping the comparison with etcdctl (apt-get install -y etcd-server etcd-client)');
  t.pass('skipped: etcd/etcdctl not installed');
} else {
  await compare();
}

function etcdctl(args: string[], stdin = ''): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn('etcdctl', args, { env: cleanEnv({ ETCDCTL_API: '3' }), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    // A command that exits without reading its input must not fail the test with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

/** etcdctl's stderr without its gRPC client's log lines. */
const quiet = (s: string) =>
  s
    .split('\n')
    .filter((l) => !l.startsWith('{"level"'))
    .join('\n');

async function compare(): Promise<void> {
  const dir = await tempDir('flotilla-kvctl-etcd-');
  const [cport, pport] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${cport}`;
  const proc: ChildProcess = spawn(
    'etcd',
    [
      '--name', 'e1', '--data-dir', `${dir}/data`,
      '--listen-client-urls', url, '--advertise-client-urls', url,
      '--listen-peer-urls', `http://127.0.0.1:${pport}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${pport}`,
      '--initial-cluster', `e1=http://127.0.0.1:${pport}`, '--initial-cluster-token', `flotilla-kvctl-${process.pid}`,
      '--logger', 'zap', '--log-level', 'error',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise((r) => proc.once('exit', r));
  t.teardown(async () => {
    proc.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  });
  const ep = `--endpoints=127.0.0.1:${cport}`;
  await until(async () => (await etcdctl([ep, 'endpoint', 'health'])).code === 0, 20000, 200);

  /** Runs both; `sub` rewrites etcdctl's arguments and output for kvctl's own keys where they write. */
  async function same(tt: Test, args: string[], opts: { stdin?: string; usage?: boolean; mask?: (s: string) => string } = {}): Promise<void> {
    const a = await etcdctl([ep, ...args], opts.stdin);
    const b = await kvctl([ep, ...args], { stdin: opts.stdin, coverage: false });
    const mask = opts.mask ?? ((s: string) => s);
    const name = `kvctl ${args.join(' ')}`;
    tt.equal(b.code, a.code, `${name}: exit code`);
    if (opts.usage) {
      tt.equal(b.stderr.split('\n')[0], quiet(a.stderr).split('\n')[0], `${name}: error line`);
      return;
    }
    tt.equal(mask(b.stdout), mask(a.stdout), `${name}: stdout`);
    tt.equal(b.stderr, quiet(a.stderr), `${name}: stderr`);
  }

  const revisions = (s: string) => s.replace(/"(revision|mod_revision|create_revision|version)":\d+/g, '"$1":N');

  t.test('reads of the same keys', async (t) => {
    for (const [k, v] of [['foo', 'bar'], ['foo1', 'bar1'], ['foo2', 'bar2'], ['foo3', 'bar3'], ['a', '123'], ['z', '789']]) await etcdctl([ep, 'put', k!, v!]);
    await same(t, ['get', 'foo']);
    await same(t, ['get', 'foo', '--hex']);
    await same(t, ['get', 'foo', '--print-value-only']);
    await same(t, ['get', 'foo', 'foo3']);
    await same(t, ['get', '--prefix', 'foo']);
    await same(t, ['get', '--prefix', '--limit=2', 'foo']);
    await same(t, ['get', '--from-key', 'b']);
    await same(t, ['get', '--prefix', '--keys-only', '--sort-by=MODIFY', '--order=DESCEND', 'foo']);
    await same(t, ['get', 'foo', '-w', 'json']);
    await same(t, ['get', '--prefix', 'foo', '-w', 'json', '--limit', '1']);
    await same(t, ['get', 'nothing', '-w', 'json']);
    await same(t, ['get', '--rev=100000', 'foo']);
    await same(t, ['get', 'foo', '--consistency=s']);
  });

  t.test('writes, each tool on the same keys in turn', async (t) => {
    await same(t, ['put', 'w1', 'v1']);
    await same(t, ['put', 'w1', 'v2', '--prev-kv'], { mask: (s) => s.replace(/v[12]\n$/, 'v\n') });
    await same(t, ['put', 'w1', 'v3', '-w', 'json'], { mask: revisions });
    await same(t, ['put', 'w1', '--ignore-value']);
    await same(t, ['put', 'nope', '--ignore-value']);
    await same(t, ['put', 'w1', 'x', '--lease=1234']);
    await same(t, ['put', 'w1', 'x', '--lease=xyz']);
    await same(t, ['put', 'w2'], { stdin: 'from stdin\n' });
    await same(t, ['del', 'nothing']);
    await etcdctl([ep, 'put', 'd1', '1']);
    await same(t, ['del', 'd1', '--prev-kv'], { mask: (s) => s.replace(/^0\n$/, '1\nd1\n1\n') });
  });

  t.test('txn', async (t) => {
    await etcdctl([ep, 'put', 'user1', 'bad']);
    await same(t, ['txn'], { stdin: 'value("user1") = "good"\n\ndel user1\n\nget user1\n\n' });
    await same(t, ['txn', '-i'], { stdin: '\n\n\n' });
    await same(t, ['txn', '-w', 'json'], { stdin: 'value("user1") = "good"\n\n\nget user1\n\n', mask: revisions });
    for (const bad of ['value("user1") = "bad"\n', 'bogus\n\n\n\n', '\nbogus x\n\n\n', 'version("a") = "x"\n\n\n\n', 'mod(key1) > "0"\n\n\n\n', 'mod("key1")>"0"\n\n\n\n', 'xyz("a") = "b"\n\n\n\n']) {
      await same(t, ['txn'], { stdin: bad });
    }
  });

  t.test('watch: both watching the same key', async (t) => {
    // Events, whichever messages carry them (a watch that starts in the past may get several
    // revisions in one message, depending on when it connects).
    const events = (out: string, json: boolean): string[] =>
      json
        ? out
            .split('\n')
            .filter((l) => l !== '')
            .flatMap((l) => (JSON.parse(l) as { Events: unknown[] }).Events.map((e) => JSON.stringify(e)))
        : out.split(/(?=^PUT$|^DELETE$)/m);
    for (const args of [['wk', '--prev-kv'], ['wk', '-w', 'json'], ['w', '--prefix', '--hex']]) {
      const json = args.includes('json');
      // Both watch from the next revision: no event is missed however long they take to connect.
      const head = JSON.parse((await etcdctl([ep, 'get', 'x', '-w', 'json'])).stdout) as { header: { revision: number } };
      const from = `--rev=${head.header.revision + 1}`;
      const a = spawn('etcdctl', [ep, 'watch', from, ...args], { env: cleanEnv({ ETCDCTL_API: '3' }) });
      const b = spawn(...plainNode([kvctlScript, ep, 'watch', from, ...args]), { env: cleanEnv() });
      try {
        let ao = '';
        let bo = '';
        a.stdout.on('data', (d: Buffer) => (ao += d.toString()));
        b.stdout.on('data', (d: Buffer) => (bo += d.toString()));
        await etcdctl([ep, 'put', 'wk', 'v1']);
        await etcdctl([ep, 'put', 'wk', 'v2']);
        await etcdctl([ep, 'del', 'wk']);
        // A tool may write an event in several chunks: the last event (the delete) is whole once
        // its own key-value has been printed, whose value is empty (a line of its own) in text.
        const complete = (o: string) => o.endsWith(json ? '\n' : '\n\n') && events(o, json).length === 3;
        await until(() => complete(ao) && complete(bo), 20000);
        t.same(events(bo, json), events(ao, json), `kvctl watch ${args.join(' ')}`);
      } finally {
        a.kill('SIGKILL');
        b.kill('SIGKILL');
      }
    }
    await etcdctl([ep, 'compaction', '3']);
    await same(t, ['watch', 'wk', '--rev=2']);
  });

  t.test('leases', async (t) => {
    const g = await etcdctl([ep, 'lease', 'grant', '600']);
    const id = /lease ([0-9a-f]+) granted/.exec(g.stdout)![1]!;
    await etcdctl([ep, 'put', 'lk', 'lv', `--lease=${id}`]);
    const remaining = (s: string) => s.replace(/remaining\(\d+s\)/, 'remaining(N)').replace(/"ttl":\d+/, '"ttl":N');
    await same(t, ['lease', 'timetolive', id], { mask: remaining });
    await same(t, ['lease', 'timetolive', id, '--keys'], { mask: remaining });
    await same(t, ['lease', 'timetolive', id, '--keys', '-w', 'json'], { mask: remaining });
    await same(t, ['lease', 'list']);
    await same(t, ['lease', 'list', '-w', 'json']);
    await same(t, ['lease', 'keep-alive', '--once', id]);
    await same(t, ['lease', 'keep-alive', '--once', '1234']);
    await same(t, ['lease', 'keep-alive', '1234']);
    await same(t, ['lease', 'timetolive', '1234']);
    await same(t, ['lease', 'revoke', '1234']);
    await same(t, ['lease', 'grant', '0'], { mask: (s) => s.replace(/[0-9a-f]{16}/, 'ID') });
    await same(t, ['lease', 'grant', '60', '-w', 'table']);
  });

  t.test('cluster and maintenance', async (t) => {
    await same(t, ['member', 'list']);
    await same(t, ['member', 'list', '-w', 'json']);
    await same(t, ['member', 'list', '-w', 'table']);
    // Leases granted above expire meanwhile: the raft index, the revision and the size move.
    const size = (s: string) =>
      s
        .replace(/\d+ kB/g, 'N kB')
        .replace(/"(dbSize|dbSizeInUse|raftIndex|raftAppliedIndex|revision)":\d+/g, '"$1":N')
        .replace(/(true|false), (\d+), \d+, \d+, /g, '$1, $2, N, N, ');
    const table = (s: string) => s.replace(/\d+/g, 'N').replace(/[ -]+/g, ' ');
    await same(t, ['endpoint', 'status'], { mask: size });
    await same(t, ['endpoint', 'status', '-w', 'table'], { mask: table });
    await same(t, ['endpoint', 'status', '--cluster', '-w', 'json'], { mask: size });
    await same(t, ['compaction', '100000']);
    await same(t, ['alarm', 'list']);
    await same(t, ['alarm', 'disarm', '-w', 'json']);
    // An alarm raised through etcd's own API: both tools list it and disarm it alike.
    const status = (await (await fetch(`${url}/v3/maintenance/status`, { method: 'POST', body: '{}' })).json()) as { header: { member_id: string } };
    const raise = () => fetch(`${url}/v3/maintenance/alarm`, { method: 'POST', body: JSON.stringify({ action: 'ACTIVATE', memberID: status.header.member_id, alarm: 'NOSPACE' }) });
    await raise();
    await same(t, ['alarm', 'list']);
    await same(t, ['alarm', 'list', '-w', 'json']);
    await same(t, ['alarm', 'list', '-w', 'table']);
    await same(t, ['endpoint', 'status'], { mask: size });
    await same(t, ['put', 'full', 'x']);
    const byEtcdctl = await etcdctl([ep, 'alarm', 'disarm']);
    await raise();
    const byKvctl = await kvctl([ep, 'alarm', 'disarm'], { coverage: false });
    t.same([byKvctl.code, byKvctl.stdout], [byEtcdctl.code, byEtcdctl.stdout], 'alarm disarm: the alarm cleared');
    t.equal(byKvctl.stdout, `memberID:${status.header.member_id} alarm:NOSPACE \n`);
    await same(t, ['alarm', 'list']);
    await same(t, ['check', 'perf', '--load=bogus']);
    await etcdctl([ep, 'put', '/etcdctl-check-perf/x', '1']);
    await same(t, ['check', 'perf']);
    await etcdctl([ep, 'del', '/etcdctl-check-perf/x']);
    await same(t, ['defrag']);
    await same(t, ['defrag', '--cluster']);
    await same(t, ['endpoint', 'hashkv', '--rev=x'], { usage: true });
    // etcd 3.4's gateway has no path for HashKV (its /v3/maintenance/hash is Hash): kvctl says so.
    const hk = await kvctl([ep, 'endpoint', 'hashkv'], { coverage: false });
    t.equal(hk.code, 1);
    t.match(hk.stderr, /^Failed to get the hash of endpoint 127\.0\.0\.1:\d+ \(HashKV is not served by this member's JSON gateway \(etcd 3\.4 has no path for it; use etcdctl, which speaks gRPC\)\)\n/);
  });

  t.test('make-mirror against etcd: its keys and changes copied under another prefix (etcd to etcd here)', async (t) => {
    for (const [k, v] of [['mir/a', '1'], ['mir/b', '2']]) await etcdctl([ep, 'put', k!, v!]);
    const mirror = new Background([ep, 'make-mirror', '--prefix=mir/', '--dest-prefix=mcopy/', `127.0.0.1:${cport}`], { coverage: false });
    const copies = async () => (await etcdctl([ep, 'get', '--prefix', 'mcopy/'])).stdout;
    await until(async () => (await copies()) === 'mcopy/a\n1\nmcopy/b\n2\n');
    await etcdctl([ep, 'put', 'mir/c', '3']);
    await etcdctl([ep, 'del', 'mir/a']);
    await until(async () => (await copies()) === 'mcopy/b\n2\nmcopy/c\n3\n');
    t.equal(await copies(), 'mcopy/b\n2\nmcopy/c\n3\n', "etcd's watch followed: the put and the delete copied");
    t.equal(await mirror.interrupt(), 130);
  });

  t.test('argument errors', async (t) => {
    // A sample (test/kvctl/cli.test.ts has them all, with etcdctl's texts).
    for (const args of [
      ['get'], ['put'], ['get', 'foo', '--order=BAD'], ['get', 'a', '--prefix', '--from-key'], ['compaction', 'abc'],
      ['watch', 'a', '--'], ['lease', 'revoke', 'zz'], ['member', 'remove', 'zz'], ['elect', 'a'], ['get', 'foo', '-w', 'table'],
    ]) {
      await same(t, args);
    }
    await same(t, ['get', '--bogus'], { usage: true });
    await same(t, ['get', 'foo', '--limit=abc'], { usage: true });
  });
}
