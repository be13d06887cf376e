// fleetd and fleetctl against a real kvd serving clients on https:// and requiring client
// certificates (--client-cert-auth): with --ca-file, --cert-file and --key-file the machine
// announces itself and fleetctl lists it and submits a unit; without the CA, with another CA, or
// without a client certificate, fleetctl says in one line that the store cannot be reached, and why.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseFleetdArgs } from '../../src/fleet/config.js';
import { startFleetd, type RunningFleetd } from '../../src/fleet/fleetd.js';
import { freePort, tempDir } from '../raft/cluster.js';
import { KvdProc } from '../server/kvd-harness.js';
import { fleetctl } from './helpers.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
const [ca, cert, key] = [fixture('ca.pem'), fixture('client.pem'), fixture('client-key.pem')];

t.test('fleetd and fleetctl over TLS to a kvd requiring client certificates', async (t) => {
  const dir = await tempDir('flotilla-fleetctl-tls-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const url = `https://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const kvd = new KvdProc({ name: 'tls', clientPort, peerPort, dataDir: join(dir, 'kvd') }, () => [
    '--name', 'tls',
    '--data-dir', join(dir, 'kvd'),
    '--listen-client-urls', url,
    '--advertise-client-urls', url,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `tls=${peer}`,
    '--cert-file', fixture('member.pem'),
    '--key-file', fixture('member-key.pem'),
    '--trusted-ca-file', ca,
    '--client-cert-auth',
  ]);
  let fleetd: RunningFleetd | undefined;
  // fleetd first: its stop revokes its lease in the store.
  t.teardown(async () => {
    await fleetd?.stop();
    await kvd.kill9();
  });
  await kvd.start();

  const parsed = parseFleetdArgs(
    ['--endpoints', url, '--ca-file', ca, '--cert-file', cert, '--key-file', key, '--state-dir', join(dir, 'fleetd'), '--http-addr', '', '--dns-addr', '', '--log-level', 'silent'],
    {},
  );
  if (parsed.kind !== 'config') throw new Error(`not a config: ${parsed.kind}`);
  fleetd = await startFleetd(parsed.config, { readFacts: async () => ({ cpus: 2, memTotal: 2e9, memFree: 1e9, load: 0 }) });
  // Announced: fleetd's client got through kvd's TLS with the files' CA and client certificate.
  await fleetd.ready();

  const tls = ['--ca-file', ca, '--cert-file', cert, '--key-file', key];
  const flags = [`--endpoint=${url}`, '--request-timeout=30', ...tls];
  const machines = await fleetctl(['list-machines', '--full', '--no-legend', ...flags]);
  t.same(machines, { code: 0, stdout: `${fleetd.machineId}\t127.0.0.1\t-\n`, stderr: '' }, 'fleetctl lists the machine fleetd announced over TLS');

  await writeFile(join(dir, 'hello.service'), '[Service]\nExecStart=/bin/sleep 1000\n');
  const submit = await fleetctl(['submit', 'hello.service', ...flags], { cwd: dir });
  t.same(submit, { code: 0, stdout: 'Unit hello.service inactive\n', stderr: '' }, 'a write over TLS');
  const files = await fleetctl(['list-unit-files', '--no-legend', '--fields=unit,dstate', ...flags]);
  t.same(files, { code: 0, stdout: 'hello.service\tinactive\n', stderr: '' });
  const byEnv = await fleetctl(['list-unit-files', '--no-legend', '--fields=unit'], {
    env: { FLEETCTL_ENDPOINT: url, FLEETCTL_REQUEST_TIMEOUT: '30', FLEETCTL_CA_FILE: ca, FLEETCTL_CERT_FILE: cert, FLEETCTL_KEY_FILE: key },
  });
  t.same(byEnv, { code: 0, stdout: 'hello.service\n', stderr: '' }, 'the same from FLEETCTL_* variables');

  // Refused: one line naming the store and the TLS reason, exit 1.
  const refused = async (extra: string[], reason: RegExp, what: string): Promise<void> => {
    const r = await fleetctl(['list-machines', `--endpoint=${url}`, '--request-timeout=2', ...extra]);
    t.equal(r.code, 1, what);
    t.equal(r.stdout, '');
    t.match(r.stderr, new RegExp(`^Unable to reach the store at ${url.replace(/\./g, '\\.')}: [^\\n]+\\n$`), `${what}: one line naming the store`);
    t.match(r.stderr, reason, `${what}: says why`);
  };
  await refused(['--cert-file', cert, '--key-file', key], /self[- ]signed certificate in certificate chain/, 'no --ca-file: the system CAs do not know the test CA');
  await refused(['--ca-file', fixture('other-ca.pem'), '--cert-file', cert, '--key-file', key], /self[- ]signed certificate in certificate chain/, 'another CA');
  // The store answers that one itself (a 403 from kvd's client port): one line saying why.
  const noCert = await fleetctl(['list-machines', `--endpoint=${url}`, '--request-timeout=2', '--ca-file', ca]);
  t.same(noCert, { code: 1, stdout: '', stderr: `Error from the store at ${url}: client certificate refused: no client certificate\n` }, 'no client certificate');
});
