// Command-line handling without a store: help, version, unknown commands and flags, bad values, and
// every argument error that fleetctl reports before it talks to the store, with fleet's messages
// and exit codes. Then a store that cannot be reached: one line naming the endpoint.
import { writeFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freePort, tempDir } from '../raft/cluster.js';
import { COMMANDS, VERSION } from '../../src/fleetctl/index.js';
import { fleetctl } from './helpers.js';

const deadEndpoint = `http://127.0.0.1:${await freePort()}`;
const dead = [`--endpoint=${deadEndpoint}`, '--request-timeout=0.3'];

t.test('help and version', async (t) => {
  for (const args of [[], ['help'], ['--help'], ['-h']]) {
    const r = await fleetctl(args);
    t.equal(r.code, 0, `fleetctl ${args.join(' ')}`);
    t.match(r.stdout, /^NAME:\n\tfleetctl - fleetctl is a command-line interface to fleet, the cluster-wide CoreOS init system\.\n/);
    for (const c of COMMANDS) t.match(r.stdout, new RegExp(`\\n\\t${c.name}\\t+${c.short.replace(/[.()]/g, '\\$&')}\\n`), `${c.name} listed`);
    t.match(r.stdout, /GLOBAL OPTIONS:\n.*--endpoint="http:\/\/127\.0\.0\.1:2379"/s);
    t.equal(r.stderr, '');
  }
  for (const args of [['version'], ['--version'], ['list-units', '--version']]) {
    t.same(await fleetctl(args), { code: 0, stdout: `fleetctl version ${VERSION}\n`, stderr: '' }, `fleetctl ${args.join(' ')}`);
  }
  const help = await fleetctl(['help', 'start']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^NAME:\n\tfleetctl start - Instruct systemd to start one or more units in the cluster, first submitting and loading if necessary\.\n\nUSAGE:\n\tfleetctl start \[--no-block\|--block-attempts=N\] UNIT\.\.\.\n/);
  t.match(help.stdout, /OPTIONS:\n.*--block-attempts=0.*--no-block\[=false\].*--replace\[=false\]/s);
  t.same(await fleetctl(['start', '--help']), help, 'start --help = help start');
  t.same(await fleetctl(['help', 'bogus']), { code: 1, stdout: '', stderr: 'Error: unknown help topic "bogus"\nRun \'fleetctl help\' for usage.\n' });
  const lm = await fleetctl(['help', 'list-machines']);
  t.match(lm.stdout, /Valid fields are "ip,machine,metadata"/);
});

t.test('unknown commands and flags', async (t) => {
  t.same(await fleetctl(['bogus']), { code: 1, stdout: '', stderr: 'Error: unknown command "bogus" for "fleetctl"\nRun \'fleetctl --help\' for usage.\n' });
  t.same(await fleetctl(['list']), { code: 1, stdout: '', stderr: 'Error: unknown command "list" for "fleetctl"\nRun \'fleetctl --help\' for usage.\n' }, 'an ambiguous prefix is unknown');
  const flag = await fleetctl(['list-units', '--bogus']);
  t.equal(flag.code, 1);
  t.equal(flag.stderr, 'Error: unknown flag: --bogus\n');
  t.match(flag.stdout, /^NAME:\n\tfleetctl list-units - /, 'the usage follows, as cobra prints it');
  const short = await fleetctl(['cat', '-x', 'a']);
  t.equal(short.code, 1);
  t.equal(short.stderr, "Error: unknown shorthand flag: 'x' in -x\n");
  t.equal((await fleetctl(['--bogus'])).stderr, 'Error: unknown flag: --bogus\n');
  t.equal((await fleetctl(['cat', '--no-block', 'a'])).stderr, 'Error: unknown flag: --no-block\n', 'flags belong to their commands');
  const bad = await fleetctl(['start', '--block-attempts=x', 'a']);
  t.equal(bad.code, 1);
  t.equal(bad.stderr, 'Error: invalid argument "x" for "--block-attempts" flag: strconv.ParseInt: parsing "x": invalid syntax\n');
  t.equal((await fleetctl(['journal', '--lines'])).stderr, 'Error: flag needs an argument: --lines\n');
  const timeout = await fleetctl(['list-units', '--request-timeout=soon']);
  t.equal(timeout.code, 1);
  t.equal(timeout.stderr, 'invalid argument "soon" for "--request-timeout" flag: a positive number of seconds is expected\n');
  t.equal((await fleetctl(['list-units', '--endpoint=,'])).stderr, 'No endpoint given: --endpoint needs at least one store URL (http://host:port)\n');
});

t.test('TLS flags: --ca-file, --cert-file, --key-file', async (t) => {
  const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
  const [ca, cert, key] = [fixture('ca.pem'), fixture('client.pem'), fixture('client-key.pem')];
  const help = (await fleetctl(['--help'])).stdout;
  for (const flag of ['ca-file', 'cert-file', 'key-file']) t.match(help, new RegExp(`\\n {6}--${flag}=""\\t+Location of TLS `), `--${flag} is a global option`);

  const cases: [string[], Record<string, string>, string][] = [
    [['--cert-file', cert], {}, '--cert-file needs --key-file: a client certificate and its key go together\n'],
    [['--key-file', key], {}, '--key-file needs --cert-file: a client certificate and its key go together\n'],
    [['--ca-file=/nonexistent/ca.pem'], {}, '--ca-file: cannot read "/nonexistent/ca.pem": no such file or directory\n'],
    [['--cert-file', cert, '--key-file', '/nonexistent/key.pem'], {}, '--key-file: cannot read "/nonexistent/key.pem": no such file or directory\n'],
    [[], { FLEETCTL_CA_FILE: '/nonexistent/ca.pem' }, '--ca-file: cannot read "/nonexistent/ca.pem": no such file or directory\n'],
    [[], { FLEETCTL_CERT_FILE: cert }, '--cert-file needs --key-file: a client certificate and its key go together\n'],
    [['--ca-file', key], {}, `--ca-file: ${JSON.stringify(key)} holds no PEM certificate\n`],
  ];
  for (const [flags, env, stderr] of cases) {
    t.same(await fleetctl(['list-machines', ...dead, ...flags], { env }), { code: 1, stdout: '', stderr }, `${flags.join(' ')} ${JSON.stringify(env)}`);
  }

  // Accepted: the store is then asked, over TLS, at the https:// endpoint (here nothing listens).
  const https = deadEndpoint.replace('http:', 'https:');
  const r = await fleetctl(['list-machines', `--endpoint=${https},${deadEndpoint}`, '--request-timeout=0.3', '--ca-file', ca, '--cert-file', cert, '--key-file', key]);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`^Unable to reach the store at ${https.replace(/\./g, '\\.')},${deadEndpoint.replace(/\./g, '\\.')}: .+\n$`), 'https:// and http:// endpoints together');
  const env = await fleetctl(['list-machines', `--endpoint=${https}`, '--request-timeout=0.3'], { env: { FLEETCTL_CA_FILE: ca, FLEETCTL_CERT_FILE: cert, FLEETCTL_KEY_FILE: key } });
  t.match(env.stderr, `Unable to reach the store at ${https}:`, 'FLEETCTL_CA_FILE, FLEETCTL_CERT_FILE, FLEETCTL_KEY_FILE');
});

t.test('argument errors, before the store is asked anything', async (t) => {
  const cases: [string[], number, string][] = [
    [['submit'], 0, 'No units given\n'],
    [['load'], 0, 'No units given\n'],
    [['start'], 0, 'No units given\n'],
    [['stop'], 0, 'No units given\n'],
    [['unload'], 0, 'No units given\n'],
    [['destroy'], 0, 'No units given\n'],
    [['restart'], 0, 'No units given\n'],
    [['cat'], 1, 'One unit file must be provided\n'],
    [['cat', 'a', 'b'], 1, 'One unit file must be provided\n'],
    [['journal'], 1, 'One unit file must be provided.\n'],
    [['journal', 'a', 'b'], 1, 'One unit file must be provided.\n'],
    [['journal', '-n', '-3', 'a'], 1, '--lines must be 0 or more, not -3\n'],
    [['list-units', '--fields='], 1, 'Must define output format\n'],
    [['list-units', '--fields=unit,bogus'], 1, 'Invalid key in output format: "bogus"\n'],
    [['list-units', '--fields=toString'], 1, 'Invalid key in output format: "toString"\n'],
    [['list-unit-files', '--fields=unit,machine'], 1, 'Invalid key in output format: "machine"\n'],
    [['list-machines', '--fields=ip,unit'], 1, 'Invalid key in output format: "unit"\n'],
  ];
  for (const [args, code, stderr] of cases) {
    t.same(await fleetctl([...args, ...dead]), { code, stdout: '', stderr }, `fleetctl ${args.join(' ')}`);
  }
});

t.test('a store that cannot be reached: one line naming it, no stack', async (t) => {
  for (const args of [['list-units'], ['list-unit-files'], ['list-machines'], ['cat', 'a'], ['status', 'a'], ['stop', 'a'], ['destroy', 'a']]) {
    const r = await fleetctl([...args, ...dead]);
    t.equal(r.code, 1, `fleetctl ${args.join(' ')}`);
    t.equal(r.stdout, '');
    t.match(r.stderr, new RegExp(`^Unable to reach the store at ${deadEndpoint.replace(/\./g, '\\.')}: .+\\n$`));
    t.notMatch(r.stderr, /\n./, 'one line');
    t.notMatch(r.stderr, /at .*\.(js|ts)/, 'no stack trace');
  }
  const env = await fleetctl(['list-machines', '--request-timeout=0.3'], { env: { FLEETCTL_ENDPOINT: deadEndpoint } });
  t.match(env.stderr, `Unable to reach the store at ${deadEndpoint}:`, 'FLEETCTL_ENDPOINT, as fleet reads it');
  const both = await fleetctl(['list-machines', `--endpoint=${deadEndpoint},127.0.0.1:1`, '--request-timeout=300ms']);
  t.match(both.stderr, `Unable to reach the store at ${deadEndpoint},127.0.0.1:1:`, 'every endpoint is named');
});

t.test('a store that accepts connections and never answers', async (t) => {
  const open = new Set<Socket>();
  const silent = createNetServer((socket) => {
    open.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of open) socket.destroy();
    return new Promise<void>((resolve) => silent.close(() => resolve()));
  });
  const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const r = await fleetctl(['list-units', `--endpoint=${url}`, '--request-timeout=500ms']);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`^Unable to reach the store at ${url.replace(/\./g, '\\.')}: [^h].*\n$`));
  t.equal(r.stderr.split(url).length, 2, 'the endpoint is named once');
});

t.test('Ctrl-C ends a command with 130', async (t) => {
  const ac = new AbortController();
  ac.abort();
  const r = await fleetctl(['list-units', `--endpoint=${deadEndpoint}`], { interrupt: ac });
  t.equal(r.code, 130);
});

/** An HTTP server standing in for the store, answering each gateway path as `answer` says. */
async function fakeStore(answer: (path: string, req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(req.url ?? '', req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

t.test('a store that answers with an error, or not at all to a write', async (t) => {
  const full = await fakeStore((_path, _req, res) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'etcdserver: mvcc: database space exceeded', code: 8, message: 'etcdserver: mvcc: database space exceeded' }));
  });
  t.teardown(full.close);
  const r = await fleetctl(['list-units', `--endpoint=${full.url}`, '--request-timeout=1']);
  t.same(r, { code: 1, stdout: '', stderr: `Error from the store at ${full.url}: etcdserver: mvcc: database space exceeded\n` });

  const dropsWrites = await fakeStore((path, req, res) => {
    if (path === '/v3/kv/range') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ header: { revision: '1' }, kvs: [], count: '0' }));
    } else req.socket.destroy();
  });
  t.teardown(dropsWrites.close);
  const dir = await tempDir('flotilla-fleetctl-cli-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'hello.service'), '[Service]\nExecStart=/bin/true\n');
  const w = await fleetctl(['submit', 'hello.service', `--endpoint=${dropsWrites.url}`, '--request-timeout=1'], { cwd: dir });
  t.equal(w.code, 1);
  t.equal(w.stdout, '');
  t.match(w.stderr, new RegExp(`^The store at ${dropsWrites.url.replace(/\./g, '\\.')} did not confirm a write \\(it may or may not have been applied\\): .+\\n$`));
});
