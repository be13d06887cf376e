// fleetd's configuration: fleet's flag names where fleet had them (--endpoints was etcd_servers;
// --ca-file, --cert-file and --key-file were etcd_cafile, etcd_certfile and etcd_keyfile, named
// as fleetctl names them; --metadata, --public-ip, --agent-ttl, --engine-reconcile-interval), each
// also readable from FLEETD_<FLAG> in the environment (FLEETD_AGENT_TTL=10), as kvd reads
// KVD_<FLAG>. Flags win over the environment; a bad value is an error naming the flag, never a
// silent default.
import { isIP } from 'node:net';
import { flagEnvName, flagUsageLines, readDaemonArgs, type DaemonFlag } from '../util/daemon-flags.js';
import { parseSecondsOrDuration } from '../util/duration.js';
import { parseEndpoint, type ClientTls } from '../client/index.js';
import { MachineIdError, validateMachineId } from './agent/machine-id.js';
import { MetadataError, parseMetadata } from './agent/machine-info.js';
import { readClientTls } from './client-tls.js';
import { DEFAULT_PREFIX } from './registry/index.js';

export const FLEETD_VERSION = '0.1.0';

export interface HostPort {
  host: string;
  port: number;
}

export interface FleetdConfig {
  /** kvd client URLs (`http://host:port`, `https://host:port`). */
  endpoints: string[];
  /** From --ca-file, --cert-file and --key-file (the files' contents); undefined when none is given. */
  tls?: ClientTls;
  /** From --machine-id; otherwise the state directory's (or a new one). */
  machineId?: string;
  stateDir: string;
  metadata: Record<string, string>;
  publicIp: string;
  agentTtlSec: number;
  engineReconcileIntervalMs: number;
  engineHoldOffMs: number;
  /** The agent's HTTP API; undefined when turned off (`--http-addr ''`). */
  httpAddr?: HostPort;
  /** The discovery DNS server's address (UDP and TCP); undefined when turned off (`--dns-addr ''`). */
  dnsAddr?: HostPort;
  /** The domain the DNS server answers for (`web.service.<domain>`), lower case, without dots at the ends. */
  dnsDomain: string;
  logLevel: string;
  prefix: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const FLAGS = {
  endpoints: { help: 'kvd client URLs to connect to (http:// or https://), comma-separated', def: 'http://127.0.0.1:2379' },
  'ca-file': { help: "PEM file of the CAs that sign the store's certificate on https:// endpoints; default: the system's", def: '' },
  'cert-file': { help: "PEM file of this machine's client certificate, for a store that asks for one (with --key-file)", def: '' },
  'key-file': { help: "PEM file of the client certificate's private key (with --cert-file)", def: '' },
  'machine-id': { help: "this machine's id (32 lowercase hex digits); default: the one kept in the state directory, generated on first start", def: '' },
  'state-dir': { help: 'directory for the machine id and the units\' journals', def: 'default.fleetd' },
  metadata: { help: 'machine metadata for MachineMetadata= (key=value, comma-separated)', def: '' },
  'public-ip': { help: 'the address other machines and operators reach this machine at', def: '127.0.0.1' },
  'agent-ttl': { help: 'TTL of the machine\'s lease: a machine silent this long is dead to the cluster (5, 5s, 1500ms)', def: '5s' },
  'engine-reconcile-interval': { help: 'the engine reconciles at least this often (2, 2s, 500ms)', def: '2s' },
  'engine-hold-off': { help: 'a unit placed less than this long ago is not moved (damping; 0 turns it off)', def: '10s' },
  'http-addr': { help: "host:port of the agent's HTTP API (journal, status, processes) and the /v1/ discovery API; empty turns it off", def: '127.0.0.1:8500' },
  'dns-addr': { help: 'host:port of the service discovery DNS server (UDP and TCP); empty turns it off', def: '127.0.0.1:8600' },
  'dns-domain': { help: 'the domain the DNS server answers for (web.service.<domain>)', def: 'flotilla' },
  'log-level': { help: 'log level: debug, info, warn, error, fatal, silent', def: 'info' },
  prefix: { help: 'key prefix of the fleet registry in the store', def: DEFAULT_PREFIX, hidden: true },
} as const satisfies Record<string, DaemonFlag>;

type FlagName = keyof typeof FLAGS;

export function usage(): string {
  const lines = [
    'Usage: fleetd [flags]',
    '',
    "fleet's agent and engine: announces this machine, runs the units the cluster places on it,",
    'registers their [X-Service] instances, serves service discovery over HTTP and DNS,',
    'and takes its turn as the scheduler. Each flag may also be set as FLEETD_<FLAG> (e.g. FLEETD_AGENT_TTL).',
    '',
  ];
  return [...lines, ...flagUsageLines(FLAGS)].join('\n') + '\n';
}

export function envName(flag: string): string {
  return flagEnvName('FLEETD', flag);
}

export type ParseResult = { kind: 'help' } | { kind: 'version' } | { kind: 'config'; config: FleetdConfig };

export function parseFleetdArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ParseResult {
  const args = readDaemonArgs(argv, env, 'FLEETD', FLAGS, (m) => new ConfigError(m));
  if (args.help) return { kind: 'help' };
  if (args.version) return { kind: 'version' };
  const get = (flag: FlagName): string => args.raw(flag) ?? FLAGS[flag].def;

  const machineId = get('machine-id');
  const tls = readClientTls({ caFile: get('ca-file'), certFile: get('cert-file'), keyFile: get('key-file') }, (m) => new ConfigError(m));
  const config: FleetdConfig = {
    endpoints: parseEndpoints(get('endpoints'), tls !== undefined),
    stateDir: nonEmpty('state-dir', get('state-dir')),
    metadata: wrap(MetadataError, () => parseMetadata(get('metadata'))),
    publicIp: parseIp('public-ip', get('public-ip')),
    agentTtlSec: parseTtl(get('agent-ttl')),
    engineReconcileIntervalMs: parseDuration('engine-reconcile-interval', get('engine-reconcile-interval'), { min: 1 }),
    engineHoldOffMs: parseDuration('engine-hold-off', get('engine-hold-off'), { min: 0 }),
    dnsDomain: parseDomain('dns-domain', get('dns-domain')),
    logLevel: parseEnum('log-level', get('log-level'), ['debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    prefix: parsePrefix(get('prefix')),
  };
  if (tls) config.tls = tls;
  if (machineId !== '') config.machineId = wrap(MachineIdError, () => validateMachineId(machineId));
  const http = parseHostPort('http-addr', get('http-addr'));
  if (http) config.httpAddr = http;
  const dns = parseHostPort('dns-addr', get('dns-addr'));
  if (dns) config.dnsAddr = dns;
  return { kind: 'config', config };
}

/** Runs `fn`, turning the given error class into a ConfigError (the message already names the flag). */
function wrap<T>(cls: new (...args: never[]) => Error, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof cls) throw new ConfigError(e.message);
    throw e;
  }
}

function nonEmpty(flag: string, value: string): string {
  if (value.trim() === '') throw new ConfigError(`--${flag} must not be empty`);
  return value;
}

/** As the client reads them: with TLS files given, an endpoint without a scheme is https://. */
function parseEndpoints(value: string, defaultTls: boolean): string[] {
  const out: string[] = [];
  for (const part of value.split(',').map((s) => s.trim())) {
    if (part === '') continue;
    let url: string;
    try {
      url = parseEndpoint(part, defaultTls).url;
    } catch (e) {
      throw new ConfigError(`--endpoints: ${(e as Error).message}`);
    }
    if (!/^(?:https?:\/\/)?[^/]+\/?$/.test(part)) throw new ConfigError(`--endpoints: ${JSON.stringify(part)} must be http://host:port or https://host:port, without a path`);
    out.push(url);
  }
  if (out.length === 0) throw new ConfigError('--endpoints is empty');
  return out;
}

function parseIp(flag: string, value: string): string {
  if (isIP(value) === 0) throw new ConfigError(`--${flag}: ${JSON.stringify(value)} is not an IPv4 or IPv6 address`);
  return value;
}

/** `host:port` (`[::1]:8500` for IPv6); undefined for an empty value (turned off). */
export function parseHostPort(flag: string, value: string): HostPort | undefined {
  if (value.trim() === '') return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(value.trim());
  if (!m) throw new ConfigError(`--${flag}: ${JSON.stringify(value)} is not host:port`);
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (m[1] !== undefined && isIP(host) !== 6) throw new ConfigError(`--${flag}: ${JSON.stringify(host)} is not an IPv6 address`);
  if (!Number.isInteger(port) || port > 65535) throw new ConfigError(`--${flag}: port ${m[3]} is out of range (0-65535)`);
  return { host, port };
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** A DNS domain (`flotilla`, `consul.example`): case and dots at the ends do not matter. */
export function parseDomain(flag: string, value: string): string {
  const domain = value.trim().toLowerCase().replace(/^\.+|\.+$/g, '');
  if (domain === '') throw new ConfigError(`--${flag} must not be empty`);
  const bad = domain.split('.').find((l) => !LABEL.test(l));
  if (bad !== undefined || domain.length > 253) {
    throw new ConfigError(
      `--${flag}: ${JSON.stringify(value)} is not a domain name (dot-separated labels of 1-63 of a-z, 0-9 and "-", not starting or ending with "-")`,
    );
  }
  return domain;
}

/** `2`, `2s`, `1.5s`, `500ms`, `1m` as milliseconds; a bare number is seconds, as in fleet's config. */
export function parseDuration(flag: string, value: string, opts: { min: number }): number {
  const read = parseSecondsOrDuration(value);
  if (read === undefined) throw new ConfigError(`--${flag}: ${JSON.stringify(value)} is not a duration (e.g. 2, 2s, 500ms, 1m)`);
  const ms = Math.round(read);
  if (ms < opts.min) throw new ConfigError(`--${flag}: must be at least ${opts.min} ms (got ${JSON.stringify(value)})`);
  return ms;
}

/** The lease TTL: whole seconds (the store's lease TTLs are), at least 1, at most an hour. */
function parseTtl(value: string): number {
  const ms = parseDuration('agent-ttl', value, { min: 0 });
  if (ms % 1000 !== 0 || ms < 1000 || ms > 3_600_000) {
    throw new ConfigError(`--agent-ttl: must be a whole number of seconds from 1 to 3600 (got ${JSON.stringify(value)})`);
  }
  return ms / 1000;
}

function parseEnum<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new ConfigError(`--${flag}: must be one of ${allowed.join(', ')} (got "${value}")`);
  return value as T;
}

function parsePrefix(value: string): string {
  if (!value.startsWith('/')) throw new ConfigError(`--prefix: must start with "/" (got ${JSON.stringify(value)})`);
  return value.endsWith('/') ? value : `${value}/`;
}
