// kvd's configuration: etcd's flag names and defaults, each also readable from KVD_<FLAG> in the
// environment (as etcd reads ETCD_<FLAG>). Flags win over the environment.
import { join } from 'node:path';
import { DEFAULT_QUOTA_BYTES } from './member/kv-member.js';
import { parseDuration } from '../util/duration.js';
import type { CertificateRule } from '../util/certificate-rule.js';
import { opensslCiphers } from '../util/cipher-suites.js';
import { flagEnvName, flagUsageLines, readDaemonArgs } from '../util/daemon-flags.js';

export interface KvdConfig {
  name: string;
  dataDir: string;
  listenClientUrls: URL[];
  advertiseClientUrls: string[];
  listenPeerUrls: URL[];
  initialAdvertisePeerUrls: string[];
  /** name -> peer URLs */
  initialCluster: Map<string, string[]>;
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  heartbeatMs: number;
  electionMs: number;
  snapshotCount: number;
  snapshotCatchUpEntries: number;
  /** Bytes of live values kept in memory (the rest are read from disk when needed). */
  valueCacheBytes: number;
  /** --quota-backend-bytes, 0 already replaced by the default. */
  quotaBackendBytes: number;
  /** --experimental-corrupt-check-time in ms (0: no check). */
  corruptCheckMs: number;
  /** --experimental-initial-corrupt-check. */
  initialCorruptCheck: boolean;
  /** The Raft log's fsyncs run in libuv's pool while their wait for the disk averages more than this, in ms (0: always there). */
  walFsyncInPlaceMaxMs: number;
  logLevel: string;
  /** TLS on the https:// client URLs (etcd's --cert-file, --key-file, --trusted-ca-file, --client-cert-auth). */
  clientTls?: TlsFiles;
  /** TLS on the https:// peer URLs (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth). */
  peerTls?: TlsFiles;
  /** --auto-tls / --peer-auto-tls given with a certificate of its own, which wins (warned about at start, as etcd). */
  autoTlsIgnored: ('client' | 'peer')[];
  /**
   * TEST ONLY, breaks linearizability: serve linearizable reads from this member's own copy without
   * ReadIndex (see TEST_ONLY_UNSAFE_LOCAL_READS_FLAG). Never set in production.
   */
  testOnlyUnsafeLocalReads: boolean;
}

/** One port's TLS flags (the client port's, or the peer port's with `peer-` before each name). */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Authorities for the certificates of those who connect (with clientCertAuth) and of the members this one calls. */
  trustedCaFile?: string;
  /** Refuse connections without a certificate signed by trustedCaFile (else by the system's roots). */
  clientCertAuth: boolean;
  /** A PEM certificate revocation list: a connection presenting a certificate it names is refused (--client-crl-file, --peer-crl-file). */
  crlFile?: string;
  /** What else a connecting certificate must be (--peer-cert-allowed-cn, --client-cert-allowed-hostname, --peer-cert-allowed-hostname). */
  allowed?: CertificateRule;
  /** --cipher-suites in OpenSSL's names (for both ports); undefined: Node's defaults. */
  ciphers?: string;
  /**
   * --auto-tls / --peer-auto-tls without a certificate given: certFile and keyFile are in the data
   * directory, made at the first start (server/self-signed.ts); the members do not check each
   * other's certificate.
   */
  selfSigned?: boolean;
}

/**
 * The deliberately broken server of the cluster tests (docs/testing.md): linearizable reads are
 * answered from the member's own copy, as a serializable read, without ReadIndex, so that a deposed
 * leader or a lagging follower returns stale data. It exists to prove that the cluster tests'
 * checker catches a real server bug end to end. To keep it out of production by accident it is a
 * command-line flag only (no KVD_ environment variable, no config file), is not listed by --help,
 * and kvd announces it on standard error and in its log when it starts.
 */
export const TEST_ONLY_UNSAFE_LOCAL_READS_FLAG = 'test-only-unsafe-local-reads';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const FLAGS = {
  name: { type: 'string', help: 'human-readable name for this member', def: 'default' },
  'data-dir': { type: 'string', help: 'path to the data directory', def: '${name}.kvd' },
  'listen-client-urls': { type: 'string', help: 'URLs to listen on for client traffic', def: 'http://127.0.0.1:2379' },
  'advertise-client-urls': { type: 'string', help: "this member's client URLs to advertise to the rest of the cluster", def: 'http://127.0.0.1:2379' },
  'listen-peer-urls': { type: 'string', help: 'URLs to listen on for peer traffic', def: 'http://127.0.0.1:2380' },
  'initial-advertise-peer-urls': { type: 'string', help: "this member's peer URLs to advertise to the rest of the cluster", def: 'http://127.0.0.1:2380' },
  'initial-cluster': { type: 'string', help: 'initial cluster configuration for bootstrapping (name=peerURL,...)', def: '${name}=${initial-advertise-peer-urls}' },
  'initial-cluster-state': { type: 'string', help: "initial cluster state ('new' or 'existing')", def: 'new' },
  'initial-cluster-token': { type: 'string', help: 'initial cluster token, distinguishing clusters during bootstrap', def: 'etcd-cluster' },
  'heartbeat-interval': { type: 'string', help: 'time (in milliseconds) of a heartbeat interval', def: '100' },
  'election-timeout': { type: 'string', help: 'time (in milliseconds) for an election to timeout', def: '1000' },
  'snapshot-count': { type: 'string', help: 'number of committed transactions to trigger a snapshot to disk', def: '100000' },
  'snapshot-catchup-entries': { type: 'string', help: 'entries kept after a snapshot for slow followers', def: '5000' },
  'experimental-corrupt-check-time': {
    type: 'string',
    help: "how often the leader compares every member's hash of its history, raising a CORRUPT alarm when one differs (0s: never)",
    def: '0s',
  },
  'experimental-initial-corrupt-check': {
    type: 'string',
    help: "before serving clients, compare this member's hash of its history with its peers' and refuse to start when one differs (true or false)",
    def: 'false',
    goBool: true,
  },
  'quota-backend-bytes': {
    type: 'string',
    help: 'raise a NOSPACE alarm (writes that add data refused) when the store would exceed this many bytes (0: 2 GiB, as etcd)',
    def: '0',
  },
  'value-cache-mb': { type: 'string', help: 'MiB of live values kept in memory; the others are read from disk when needed', def: '64' },
  'wal-fsync-in-place-max-ms': {
    type: 'string',
    help: "the Raft log's fsyncs run on the main thread while their wait for the disk averages at most this many ms, otherwise in a worker thread (0: always in a worker)",
    def: '1',
  },
  'cert-file': { type: 'string', help: 'path to the client server TLS cert file (for https:// client URLs)', def: '' },
  'key-file': { type: 'string', help: 'path to the client server TLS key file', def: '' },
  'trusted-ca-file': { type: 'string', help: 'path to the client server TLS trusted CA cert file (client certificates, and the other members\' certificates)', def: '' },
  'client-cert-auth': { type: 'string', help: 'enable client cert authentication (true or false)', def: 'false', goBool: true },
  'auto-tls': { type: 'string', help: 'client TLS using generated certificates (when --cert-file and --key-file are not given)', def: 'false', goBool: true },
  'peer-cert-file': { type: 'string', help: 'path to the peer server TLS cert file (for https:// peer URLs; also presented when dialing peers)', def: '' },
  'peer-key-file': { type: 'string', help: 'path to the peer server TLS key file', def: '' },
  'peer-trusted-ca-file': { type: 'string', help: "path to the peer server TLS trusted CA file (the other members' peer certificates)", def: '' },
  'peer-client-cert-auth': { type: 'string', help: 'enable peer client cert authentication (true or false)', def: 'false', goBool: true },
  'peer-auto-tls': { type: 'string', help: 'peer TLS using generated certificates (when --peer-cert-file and --peer-key-file are not given)', def: 'false', goBool: true },
  'client-crl-file': { type: 'string', help: 'path to the client certificate revocation list file (PEM; needs --client-cert-auth)', def: '' },
  'client-cert-allowed-hostname': { type: 'string', help: 'allowed TLS hostname for client cert authentication (a DNS name or IP address of the certificate)', def: '' },
  'peer-crl-file': { type: 'string', help: 'path to the peer certificate revocation list file (PEM; needs --peer-client-cert-auth)', def: '' },
  'peer-cert-allowed-cn': { type: 'string', help: 'required CN for client certs connecting to the peer endpoint', def: '' },
  'peer-cert-allowed-hostname': { type: 'string', help: 'allowed TLS hostname for inter peer authentication', def: '' },
  'cipher-suites': {
    type: 'string',
    help: "comma-separated list of supported TLS cipher suites between client/server and peers, in Go's names as etcd (TLS 1.2; empty: the defaults)",
    def: '',
  },
  'log-level': { type: 'string', help: 'log level: debug, info, warn, error, fatal', def: 'info' },
} as const;

type FlagName = keyof typeof FLAGS;

export function usage(): string {
  const lines = ['Usage: kvd [flags]', '', 'An etcd v3 compatible key/value member. Each flag may also be set as KVD_<FLAG> (e.g. KVD_DATA_DIR).', ''];
  return [...lines, ...flagUsageLines(FLAGS)].join('\n') + '\n';
}

export function envName(flag: string): string {
  return flagEnvName('KVD', flag);
}

export type ParseResult = { kind: 'help' } | { kind: 'version' } | { kind: 'config'; config: KvdConfig };

export function parseKvdArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ParseResult {
  const args = readDaemonArgs(argv, env, 'KVD', FLAGS, (m) => new ConfigError(m), [TEST_ONLY_UNSAFE_LOCAL_READS_FLAG]);
  if (args.help) return { kind: 'help' };
  if (args.version) return { kind: 'version' };

  const raw = args.raw;
  const name = raw('name') ?? FLAGS.name.def;
  const peerAdvertise = raw('initial-advertise-peer-urls') ?? FLAGS['initial-advertise-peer-urls'].def;
  const get = (flag: FlagName): string => {
    const r = raw(flag);
    if (r !== undefined) return r;
    return FLAGS[flag].def.replace('${name}', name).replace('${initial-advertise-peer-urls}', peerAdvertise);
  };

  const ciphers = parseCipherSuites(get('cipher-suites'));
  const config: KvdConfig = {
    name,
    dataDir: get('data-dir'),
    listenClientUrls: parseUrls('listen-client-urls', get('listen-client-urls'), ['http:', 'https:']),
    advertiseClientUrls: parseUrls('advertise-client-urls', get('advertise-client-urls'), ['http:', 'https:']).map(stripSlash),
    listenPeerUrls: parseUrls('listen-peer-urls', get('listen-peer-urls'), PEER_SCHEMES),
    initialAdvertisePeerUrls: parseUrls('initial-advertise-peer-urls', get('initial-advertise-peer-urls'), PEER_SCHEMES).map(stripSlash),
    initialCluster: parseInitialCluster(get('initial-cluster')),
    initialClusterState: parseEnum('initial-cluster-state', get('initial-cluster-state'), ['new', 'existing']),
    initialClusterToken: get('initial-cluster-token'),
    heartbeatMs: parseWholeNumber('heartbeat-interval', get('heartbeat-interval'), 1),
    electionMs: parseWholeNumber('election-timeout', get('election-timeout'), 1),
    snapshotCount: parseWholeNumber('snapshot-count', get('snapshot-count'), 1),
    snapshotCatchUpEntries: parseWholeNumber('snapshot-catchup-entries', get('snapshot-catchup-entries'), 1),
    valueCacheBytes: parseWholeNumber('value-cache-mb', get('value-cache-mb'), 0) * 1024 * 1024,
    walFsyncInPlaceMaxMs: parseWholeNumber('wal-fsync-in-place-max-ms', get('wal-fsync-in-place-max-ms'), 0),
    corruptCheckMs: parseDurationFlag('experimental-corrupt-check-time', get('experimental-corrupt-check-time')),
    initialCorruptCheck: parseEnum('experimental-initial-corrupt-check', get('experimental-initial-corrupt-check'), ['true', 'false']) === 'true',
    quotaBackendBytes: parseWholeNumber('quota-backend-bytes', get('quota-backend-bytes'), 0) || DEFAULT_QUOTA_BYTES,
    logLevel: parseEnum('log-level', get('log-level'), ['debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    clientTls: parseTls(get, '', ciphers),
    peerTls: parseTls(get, 'peer-', ciphers),
    autoTlsIgnored: (['client', 'peer'] as const).filter((side) => {
      const prefix = side === 'client' ? '' : 'peer-';
      return get(`${prefix}auto-tls` as FlagName) === 'true' && get(`${prefix}cert-file` as FlagName) !== '';
    }),
    // Deliberately not read from the environment: see TEST_ONLY_UNSAFE_LOCAL_READS_FLAG.
    testOnlyUnsafeLocalReads: args.bool(TEST_ONLY_UNSAFE_LOCAL_READS_FLAG),
  };
  const https = config.listenClientUrls.find((u) => u.protocol === 'https:');
  if (https && !config.clientTls) {
    throw new ConfigError(`TLS key/cert (--cert-file, --key-file) must be provided for client url ${stripSlash(https)} with HTTPS scheme`);
  }
  const peerHttps = config.listenPeerUrls.find(isTlsUrl);
  if (peerHttps && !config.peerTls) {
    throw new ConfigError(`TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url ${stripSlash(peerHttps)} with HTTPS scheme`);
  }
  // The other members dial what this one advertises: a TLS listener advertised as http:// (or the
  // reverse) could never be reached.
  const listenTls = isTlsUrl(config.listenPeerUrls[0]!);
  const mismatched = config.initialAdvertisePeerUrls.find((u) => isTlsUrl(u) !== listenTls);
  if (mismatched) throw new ConfigError(`--initial-advertise-peer-urls: ${mismatched} and --listen-peer-urls ${stripSlash(config.listenPeerUrls[0]!)} must both be https:// or both plain`);
  if (config.electionMs < 5 * config.heartbeatMs) {
    throw new ConfigError(
      `--election-timeout[${config.electionMs}ms] should be at least 5 times as --heartbeat-interval[${config.heartbeatMs}ms]`,
    );
  }
  const mine = config.initialCluster.get(name);
  if (!mine) {
    throw new ConfigError(`couldn't find local name "${name}" in the initial cluster configuration`);
  }
  const advertised = [...config.initialAdvertisePeerUrls].sort().join(',');
  if ([...mine].map(stripSlash).sort().join(',') !== advertised) {
    throw new ConfigError(
      `--initial-cluster has ${name}=${mine.join(',')} but missing from --initial-advertise-peer-urls=${config.initialAdvertisePeerUrls.join(',')}`,
    );
  }
  return { kind: 'config', config };
}

const PEER_SCHEMES = ['http:', 'ws:', 'https:', 'wss:'];

/** An https:// (or, for peers, wss://) URL: served and dialed over TLS. */
export function isTlsUrl(u: URL | string): boolean {
  const protocol = typeof u === 'string' ? new URL(u).protocol : u.protocol;
  return protocol === 'https:' || protocol === 'wss:';
}

/** One port's TLS flags (`prefix` '' for the client port, 'peer-' for the peer port): none, or a certificate and its key and what goes with them. */
function parseTls(get: (flag: FlagName) => string, prefix: '' | 'peer-', ciphers: string | undefined): TlsFiles | undefined {
  const flag = (name: string) => `${prefix}${name}` as FlagName;
  const side = prefix === '' ? 'client' : 'peer';
  const auto = parseEnum(flag('auto-tls'), get(flag('auto-tls')), ['true', 'false']) === 'true';
  const certFile = get(flag('cert-file'));
  const keyFile = get(flag('key-file'));
  const trustedCaFile = get(flag('trusted-ca-file'));
  const clientCertAuth = parseEnum(flag('client-cert-auth'), get(flag('client-cert-auth')), ['true', 'false']) === 'true';
  const crlFile = get(`${side}-crl-file` as FlagName);
  const allowedHostname = get(`${side}-cert-allowed-hostname` as FlagName);
  const allowedCn = prefix === 'peer-' ? get('peer-cert-allowed-cn') : '';
  // Each flag that only means something for the certificates of those who connect, by name.
  const checks: [string, string][] = [
    [`--${side}-crl-file`, crlFile],
    [`--${side}-cert-allowed-hostname`, allowedHostname],
    ['--peer-cert-allowed-cn', allowedCn],
  ];
  const pair = `--${prefix}cert-file and --${prefix}key-file`;
  if (certFile === '' && keyFile === '') {
    if (auto && clientCertAuth) {
      throw new ConfigError(
        `--${prefix}client-cert-auth cannot be used with --${prefix}auto-tls: a generated certificate is signed by no authority, so the members could not check each other's; give ${pair} instead`,
      );
    }
    const orphan = trustedCaFile !== '' ? `--${prefix}trusted-ca-file` : clientCertAuth ? `--${prefix}client-cert-auth` : checks.find(([, v]) => v !== '')?.[0];
    if (orphan) throw new ConfigError(`${orphan} needs ${pair} (${side} TLS)`);
    if (!auto) return undefined;
    const dir = join(get('data-dir'), 'fixtures', side);
    return { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), clientCertAuth: false, ciphers, selfSigned: true };
  }
  if (certFile === '' || keyFile === '') throw new ConfigError(`${pair} must be given together`);
  const unchecked = checks.find(([, v]) => v !== '');
  if (unchecked && !clientCertAuth) {
    throw new ConfigError(`${unchecked[0]} needs --${prefix}client-cert-auth: without it no certificate is asked of those who connect, so there would be none to check`);
  }
  if (allowedCn !== '' && allowedHostname !== '') throw new ConfigError('--peer-cert-allowed-cn and --peer-cert-allowed-hostname are mutually exclusive');
  const allowed: CertificateRule | undefined = allowedCn !== '' ? { cn: allowedCn } : allowedHostname !== '' ? { hostname: allowedHostname } : undefined;
  return { certFile, keyFile, trustedCaFile: trustedCaFile || undefined, clientCertAuth, crlFile: crlFile || undefined, allowed, ciphers };
}

/** --cipher-suites: OpenSSL's names for Go's, or undefined for the defaults. */
function parseCipherSuites(value: string): string | undefined {
  try {
    return opensslCiphers(value);
  } catch (e) {
    throw new ConfigError(`--cipher-suites: ${(e as Error).message}`);
  }
}

function stripSlash(u: URL | string): string {
  return String(u).replace(/\/$/, '');
}

function parseUrls(flag: string, value: string, protocols: string[]): URL[] {
  const out: URL[] = [];
  for (const part of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    let u: URL;
    try {
      u = new URL(part);
    } catch {
      throw new ConfigError(`--${flag}: "${part}" is not a URL`);
    }
    if (!protocols.includes(u.protocol)) throw new ConfigError(`--${flag}: URL scheme must be ${protocols.map((p) => p.replace(':', '')).join(' or ')} (got "${part}")`);
    if (!u.port) throw new ConfigError(`--${flag}: "${part}" has no port`);
    if (u.pathname !== '/' && u.pathname !== '') throw new ConfigError(`--${flag}: "${part}" must not have a path`);
    out.push(u);
  }
  if (out.length === 0) throw new ConfigError(`--${flag} is empty`);
  return out;
}

function parseInitialCluster(value: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--initial-cluster: "${part}" is not name=URL`);
    const name = part.slice(0, eq);
    const url = parseUrls('initial-cluster', part.slice(eq + 1), PEER_SCHEMES)[0]!;
    const list = out.get(name) ?? [];
    list.push(stripSlash(url));
    out.set(name, list);
  }
  if (out.size === 0) throw new ConfigError('--initial-cluster is empty');
  return out;
}

function parseEnum<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new ConfigError(`--${flag}: must be one of ${allowed.join(', ')} (got "${value}")`);
  return value as T;
}

/** A Go duration (`30s`, `5m`) in ms, or a ConfigError naming the flag. */
function parseDurationFlag(flag: string, value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new ConfigError(`--${flag}: ${(err as Error).message}`);
  }
}

/** A whole number of at least `min` (0 or 1), or a ConfigError naming the flag. */
function parseWholeNumber(flag: string, value: string, min: 0 | 1): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < min) {
    throw new ConfigError(`--${flag}: must be ${min === 1 ? 'a positive integer' : 'a whole number, 0 or more'} (got "${value}")`);
  }
  return n;
}
