// Command-line handling without a server: unknown commands and flags, missing and bad arguments,
// help and version, the environment, with etcdctl 3.4.23's messages and exit codes (128 for bad
// arguments, 1 for unknown commands and flags with the usage on stdout, 3 for bad txn input, 4
// for unsupported formats and option values). A few through the binary, most in-process.
import t from 'tap';
import { freePort } from '../raft/cluster.js';
import { inProcess, kvctl } from './helpers.js';

const dead = `127.0.0.1:${await freePort()}`;
const fast = [`--endpoints=${dead}`, '--dial-timeout=200ms', '--command-timeout=400ms'];

t.test('the binary: exit codes and one Error line on stderr', async (t) => {
  const unknown = await kvctl(['bogus']);
  t.equal(unknown.code, 1);
  t.equal(unknown.stderr, 'Error: unknown command "bogus" for "kvctl"\nRun \'kvctl --help\' for usage.\n');
  t.equal(unknown.stdout, '');
  const flag = await kvctl(['get', '--bogus']);
  t.equal(flag.code, 1);
  t.equal(flag.stderr, 'Error: unknown flag: --bogus\n');
  t.match(flag.stdout, /^NAME:\n\tget - Gets the key or a range of keys\n\nUSAGE:\n\tkvctl get \[options\] <key> \[range_end\] \[flags\]/);
  const missing = await kvctl(['get']);
  t.same(missing, { code: 128, stdout: '', stderr: 'Error: get command needs one argument as key and an optional argument as range_end\n' });
  const txn = await kvctl(['txn', ...fast], { stdin: 'value("user1") = "bad"\n' });
  t.same(txn, { code: 3, stdout: '', stderr: 'Error: EOF\n' });
  const noServer = await kvctl(['get', 'foo', ...fast]);
  t.equal(noServer.code, 1);
  t.match(noServer.stderr, /^Error: .+\n$/);
  t.notMatch(noServer.stderr, /at .*\.js/, 'no stack trace');
});

const cases: [string[], number, string, string?][] = [
  [['put'], 128, 'put command needs 1 argument and input from stdin or 2 arguments'],
  [['put', 'a'], 128, 'put command needs 1 argument and input from stdin or 2 arguments'],
  [['put', 'foo', '--ignore-value', 'bar'], 128, "put command needs only 1 argument when 'ignore-value' is set"],
  [['put', 'foo', 'bar', '--lease=xyz'], 128, 'bad lease ID (strconv.ParseInt: parsing "xyz": invalid syntax), expecting ID in Hex'],
  [['get', 'a', '--prefix', '--from-key'], 128, '`--prefix` and `--from-key` cannot be set at the same time, choose one'],
  [['get', 'a', 'b', '--prefix'], 128, 'too many arguments, only accept one argument when `--prefix` or `--from-key` is set'],
  [['get', 'foo', '--sort-by=BAD'], 4, 'bad sort target BAD'],
  [['get', 'foo', '--order=BAD'], 4, 'bad sort order BAD'],
  [['get', 'foo', '--consistency=x'], 4, 'unknown consistency flag "x"'],
  [['get', 'foo', '--limit=abc'], 1, 'invalid argument "abc" for "--limit" flag: strconv.ParseInt: parsing "abc": invalid syntax', 'usage'],
  [['get', 'foo', '--prefix=maybe'], 1, 'invalid argument "maybe" for "--prefix" flag: strconv.ParseBool: parsing "maybe": invalid syntax', 'usage'],
  [['get', 'foo', '--limit'], 1, 'flag needs an argument: --limit', 'usage'],
  [['get', 'foo', '-w'], 1, "flag needs an argument: 'w' in -w", 'usage'],
  [['get', 'foo', '-x'], 1, "unknown shorthand flag: 'x' in -x", 'usage'],
  [['get', 'foo', '--dial-timeout=5'], 1, 'invalid argument "5" for "--dial-timeout" flag: time: missing unit in duration "5"', 'usage'],
  [['get', 'foo', '-w', 'bogus'], 4, 'unsupported output format'],
  [['get', 'foo', '-w', 'fields'], 4, 'fields is not supported as output format by kvctl (use simple, json or table)'],
  [['get', 'foo', '--cacert=/nonexistent/x'], 128, 'open /nonexistent/x: no such file or directory'],
  [['get', 'foo', '--key=/nonexistent/x'], 128, '--cert and --key must be given together'],
  [['make-mirror', '127.0.0.1:1', '--dest-cacert=/nonexistent/y'], 128, 'open /nonexistent/y: no such file or directory'],
  [['make-mirror', '127.0.0.1:1', '--dest-cert=/nonexistent/y'], 128, '--dest-cert and --dest-key must be given together'],
  [['get', 'foo', '--user=root'], 4, '--user: authentication is not supported by kvctl'],
  [['get', 'foo', '-d', 'example.com'], 4, 'DNS discovery is not supported by kvctl'],
  [['del'], 128, 'del command needs one argument as key and an optional argument as range_end'],
  [['del', 'a', 'b', 'c'], 128, 'del command needs one argument as key and an optional argument as range_end'],
  [['del', 'a', 'b', '--prefix'], 128, 'too many arguments, only accept one argument when `--prefix` or `--from-key` is set'],
  [['del', 'a', '--from-key', '--prefix'], 128, '`--prefix` and `--from-key` cannot be set at the same time, choose one'],
  [['txn', 'x'], 128, 'txn command does not accept argument'],
  [['compaction'], 128, 'compaction command needs 1 argument'],
  [['compaction', 'abc'], 1, 'strconv.ParseInt: parsing "abc": invalid syntax'],
  [['watch'], 128, 'bad number of arguments'],
  [['watch', 'a', 'b', '--prefix'], 128, '`range_end` and `--prefix` are mutually exclusive'],
  [['watch', 'a', '--'], 128, 'bad number of arguments (found separator --, but no commands)'],
  [['lease', 'grant'], 128, 'lease grant command needs TTL argument'],
  [['lease', 'grant', 'abc'], 128, 'bad TTL (strconv.ParseInt: parsing "abc": invalid syntax)'],
  [['lease', 'revoke'], 128, 'lease revoke command needs 1 argument'],
  [['lease', 'revoke', 'zz'], 128, 'bad lease ID arg (strconv.ParseInt: parsing "zz": invalid syntax), expecting ID in Hex'],
  [['lease', 'timetolive'], 128, 'lease timetolive command needs lease ID as argument'],
  [['lease', 'keep-alive', '--once'], 128, 'lease keep-alive command needs lease ID as argument'],
  [['member', 'add'], 128, 'member name not provided'],
  [['member', 'add', 'x'], 128, 'member peer urls not provided'],
  [['member', 'add', 'x', 'http://a:1'], 128, 'too many arguments, did you mean --peer-urls=http://a:1'],
  [['member', 'add', 'x', '--peer-urls=ftp://a:1'], 128, 'URL scheme must be http, https, unix, or unixs: ftp://a:1'],
  [['member', 'add', 'x', '--peer-urls=http://a'], 128, 'URL address does not have the form "host:port": http://a'],
  [['member', 'add', 'x', '--peer-urls=http://a:1/p'], 128, 'URL must not contain a path: http://a:1/p'],
  [['member', 'add', 'x', '--peer-urls=::'], 128, 'parse "::": invalid URI for request'],
  [['member', 'remove'], 128, 'member ID is not provided'],
  [['member', 'remove', 'zz'], 128, 'bad member ID arg (strconv.ParseUint: parsing "zz": invalid syntax), expecting ID in Hex'],
  [['member', 'promote'], 128, 'member ID is not provided'],
  [['member', 'update', '1'], 128, 'member peer urls not provided'],
  [['move-leader'], 128, 'move-leader command needs 1 argument'],
  [['move-leader', 'zz'], 128, 'strconv.ParseUint: parsing "zz": invalid syntax'],
  [['lock'], 128, 'lock takes a lock name argument and an optional command to execute'],
  [['elect'], 128, 'elect takes one election name argument and an optional proposal argument'],
  [['elect', 'a'], 128, 'no proposal argument but -l not set'],
  [['elect', '-l', 'a', 'b'], 128, 'proposal given but -l is set'],
  [['snapshot', 'save'], 128, 'snapshot save expects one argument'],
  [['snapshot', 'restore'], 128, 'snapshot restore requires exactly one argument'],
  [['snapshot', 'restore', 'x', '--wal-dir=/w'], 4, '--wal-dir is not supported by kvd (the log is kept in <data-dir>/raft)'],
  [['snapshot', 'restore', '/nonexistent/snap.db', '--data-dir=/tmp/x'], 1, 'open /nonexistent/snap.db: no such file or directory'],
  [['snapshot', 'status'], 128, 'snapshot status requires exactly one argument'],
  [['snapshot', 'status', '/nonexistent'], 1, 'open /nonexistent: no such file or directory'],
];

t.test('argument errors, in-process', async (t) => {
  for (const [args, code, message, usage] of cases) {
    const r = await inProcess([...fast, ...args]);
    t.equal(r.code, code, args.join(' '));
    t.equal(r.stderr, `Error: ${message}\n`, args.join(' '));
    if (usage) t.match(r.stdout, /^NAME:/);
    else t.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
  }
});

t.test('argument errors that need their own --endpoints', async (t) => {
  const none = await inProcess(['get', 'foo', '--endpoints=']);
  t.same([none.code, none.stderr], [128, 'Error: no endpoints given\n']);
  const two = await inProcess(['snapshot', 'save', 'x', '--endpoints=a:1,b:2']);
  t.same([two.code, two.stderr], [5, 'Error: snapshot must be requested to one selected node, not multiple [a:1 b:2]\n']);
  const repeated = await inProcess(['snapshot', 'save', 'x', '--endpoints=a:1', '--endpoints', 'b:2']);
  t.equal(repeated.stderr, 'Error: snapshot must be requested to one selected node, not multiple [a:1 b:2]\n', 'a repeated --endpoints adds to the list');
});

t.test('help, version, groups', async (t) => {
  const root = await inProcess([]);
  t.equal(root.code, 0);
  t.match(root.stdout, /COMMANDS:\n\talarm disarm\t\tDisarms all alarms\n\talarm list\t\tLists all alarms\n\tcheck datascale\t\tCheck the memory usage of holding data for different workloads on a given server endpoint\.\n\tcheck perf\t\tCheck the performance of the etcd cluster\n\tcompaction\t\tCompacts the event history/, "etcdctl's order: alarm first");
  t.match(root.stdout, /\tlease keep-alive\tKeeps leases alive/);
  t.equal((await inProcess(['--help'])).stdout, root.stdout);
  t.equal((await inProcess(['--bogus'])).code, 1);
  const help = await inProcess(['help', 'get']);
  t.match(help.stdout, /--print-value-only\[=false\]\tOnly write values/);
  t.match((await inProcess(['help', 'lease', 'grant'])).stdout, /lease grant - Creates leases/);
  t.match((await inProcess(['help', 'member'])).stdout, /\tadd\tAdds a member[^\n]*\n\tlist\tLists/);
  t.equal((await inProcess(['help', 'nope'])).code, 1);
  const put = await inProcess(['put', '--help']);
  t.equal(put.code, 0);
  t.match(put.stdout, /DESCRIPTION:\n\tPuts the given key into the store\./);
  t.match(put.stdout, /-h, --help\[=false\]\t\thelp for put/);
  t.match(put.stdout, /GLOBAL OPTIONS:\n/);
  t.match(put.stdout, /--command-timeout=5s/);
  t.match(put.stdout, /--endpoints=\[127\.0\.0\.1:2379\]/);
  const lease = await inProcess(['lease']);
  t.equal(lease.code, 0);
  t.match(lease.stdout, /^NAME:\n\tlease - Lease related commands\n\nUSAGE:\n\tkvctl lease <subcommand> \[flags\]/);
  t.match(lease.stdout, /\tgrant\t\tCreates leases\n\tkeep-alive\tKeeps leases alive/);
  t.equal((await inProcess(['lease', 'bogus'])).stdout, lease.stdout);
  t.same(await inProcess(['version']), { code: 0, stdout: 'kvctl version: 3.4.0\nAPI version: 3.4\n', stdoutBytes: Buffer.from('kvctl version: 3.4.0\nAPI version: 3.4\n'), stderr: '' });
  t.equal((await inProcess(['--endpoints', dead, '-w', 'json', 'version'])).code, 0, 'global flags before the command');
  t.equal((await inProcess(['-wjson', 'version'])).code, 0);
  t.equal((await inProcess(['-w=json', 'version'])).code, 0);
  t.equal((await inProcess(['--hex=true', 'version'])).code, 0);
  t.equal((await inProcess(['compact', '--help'])).code, 0, 'compact is an alias of compaction');
});

t.test('the environment: KVCTL_ and ETCDCTL_ variables, flags win', async (t) => {
  // A bad value in the environment is reported with the variable's name.
  const bad = await inProcess(['get', 'foo'], { env: { KVCTL_DIAL_TIMEOUT: 'x' } });
  t.equal(bad.code, 1);
  t.equal(bad.stderr, 'Error: KVCTL_DIAL_TIMEOUT: invalid argument "x" for "--dial-timeout" flag: time: invalid duration "x"\n');
  const etcd = await inProcess(['get', 'foo'], { env: { ETCDCTL_WRITE_OUT: 'bogus' } });
  t.equal(etcd.stderr, 'Error: unsupported output format\n');
  const flagWins = await inProcess(['get', 'foo', '-w', 'xml'], { env: { KVCTL_WRITE_OUT: 'json' } });
  t.equal(flagWins.stderr, 'Error: unsupported output format\n');
  const env = await inProcess(['watch'], { env: { KVCTL_WATCH_RANGE_END: 'z' } });
  t.equal(env.stderr, 'Error: ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END="z"\n');
  const conflict = await inProcess(['watch', 'a'], { env: { ETCDCTL_WATCH_KEY: 'k' } });
  t.equal(conflict.stderr, 'Error: bad number of arguments (found conflicting environment key)\n');
});

t.test('no server: errors from the client, one line, exit 1 (2 for keep-alive --once)', async (t) => {
  const get = await inProcess(['get', 'foo', ...fast]);
  t.equal(get.code, 1);
  t.match(get.stderr, /^Error: .+\n$/);
  const grant = await inProcess(['lease', 'grant', '10', ...fast]);
  t.match(grant.stderr, /^Error: failed to grant lease \(.+\)\n$/);
  const once = await inProcess(['lease', 'keep-alive', '--once', '1', ...fast]);
  t.equal(once.code, 2);
  const ttl = await inProcess(['lease', 'timetolive', '1', ...fast]);
  t.equal(ttl.code, 2);
  const status = await inProcess(['endpoint', 'status', ...fast]);
  t.equal(status.code, 1);
  t.match(status.stderr, new RegExp(`^Failed to get the status of endpoint ${dead} \\(.+\\)\\n$`));
  const health = await inProcess(['endpoint', 'health', ...fast]);
  t.equal(health.code, 1);
  t.match(health.stderr, new RegExp(`^${dead} is unhealthy: failed to commit proposal: .+\\nError: unhealthy cluster\\n$`));
  const ml = await inProcess(['move-leader', '1', ...fast]);
  t.same([ml.code, ml.stderr], [128, `Error: no leader endpoint given at [${dead}]\n`]);
  const w = await inProcess(['watch', 'foo', ...fast]);
  t.equal(w.code, 2);
  t.equal(w.stderr, 'Error: context deadline exceeded\n');
  const snap = await inProcess(['snapshot', 'save', '/tmp/kvctl-never.db', ...fast]);
  t.equal(snap.code, 1);
  const ac = new AbortController();
  const slow = inProcess(['get', 'foo', `--endpoints=${dead}`, '--command-timeout=10s'], { interrupt: ac });
  setTimeout(() => ac.abort(), 100);
  t.equal((await slow).code, 130, 'Ctrl-C ends a short command with 130');
});
