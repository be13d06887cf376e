// What a service instance is in the store: its key (`<prefix><service>/<id>`), its record (pretty
// JSON that `kvctl get` shows readably), and the validation of what a user registers. Field names
// are Consul's (ID, Service, Address, Port, Tags, Meta, Checks) so that Consul users read them at a
// glance. Validation lists every problem of a registration at once; nothing is written when any.
import { isIP } from 'node:net';
import { splitWords } from '../util/words.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import { DiscoveryError, ValidationError, type Problem } from './errors.js';

export const DEFAULT_PREFIX = '/flotilla/services/';

export type HealthStatus = 'passing' | 'warning' | 'critical';
export type CheckType = 'http' | 'tcp' | 'exec' | 'ttl';

export const CHECK_TYPES: readonly CheckType[] = ['http', 'tcp', 'exec', 'ttl'];
export const STATUSES: readonly HealthStatus[] = ['passing', 'warning', 'critical'];

export const DEFAULT_CHECK_INTERVAL = '10s';
export const DEFAULT_CHECK_TIMEOUT = '5s';

/** A check as stored with its instance. */
export interface Check {
  /** Unique within the instance; `service:<ID>` by default (`service:<ID>:<n>` when several). */
  CheckID: string;
  Name: string;
  Type: CheckType;
  /** http: the URL; tcp: `host:port`; exec: the command line; ttl: empty. */
  Target: string;
  /** How often the check runs; for a ttl check, its TTL (critical when not reported within it). */
  Interval: string;
  /** How long one run may take (empty for ttl checks). */
  Timeout: string;
  Status: HealthStatus;
  /** What the check said when its status last changed. */
  Output: string;
}

/** An instance as stored at `<prefix><Service>/<ID>`. */
export interface ServiceInstance {
  ID: string;
  Service: string;
  Address: string;
  Port: number;
  Tags: string[];
  Meta: Record<string, string>;
  /** The machine (agent) that registered it. */
  Node: string;
  /** The worst status of its checks; passing without checks. */
  Status: HealthStatus;
  Checks: Check[];
}

/** A check as a user declares it; omitted fields get their defaults. */
export interface CheckDefinition {
  Type: CheckType;
  Target?: string;
  CheckID?: string;
  Name?: string;
  /** Default 10s; for a ttl check its TTL, which it must have. */
  Interval?: string;
  /** Default 5s (at most Interval); not for ttl checks. */
  Timeout?: string;
  /** The status before the first run or report (default critical, as Consul). */
  Status?: HealthStatus;
}

/** An instance as a user registers it. */
export interface ServiceDefinition {
  Name: string;
  /** Default `<Node>-<Port>`. */
  ID?: string;
  Address: string;
  Port: number;
  Tags?: string[];
  Meta?: Record<string, string>;
  /** Default: the registering machine (given by the caller of validate). */
  Node?: string;
  Checks?: CheckDefinition[];
}

const NAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;
const NODE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const META_KEY_RE = /^[A-Za-z0-9_-]{1,128}$/;
const HOST_LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

const DEFINITION_FIELDS = new Set(['Name', 'ID', 'Address', 'Port', 'Tags', 'Meta', 'Node', 'Checks']);
const CHECK_FIELDS = new Set(['Type', 'Target', 'CheckID', 'Name', 'Interval', 'Timeout', 'Status']);

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'undefined' : JSON.stringify(v) ?? String(v));

export function isServiceName(s: unknown): s is string {
  return typeof s === 'string' && NAME_RE.test(s);
}

export function isInstanceId(s: unknown): s is string {
  return typeof s === 'string' && ID_RE.test(s);
}

export function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const labels = (s.endsWith('.') ? s.slice(0, -1) : s).split('.');
  return labels.every((l) => HOST_LABEL_RE.test(l)) && !/^\d+$/.test(labels[labels.length - 1]!);
}

/** An IP address (v4 or v6) or a host name. */
export function isAddress(s: unknown): s is string {
  return typeof s === 'string' && (isIP(s) !== 0 || isHostname(s));
}

export function isPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;
}

export const nameRule = 'use 1-63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit (a DNS label)';
export const idRule = 'use 1-128 characters of A-Z, a-z, 0-9, "_", ".", ":", "@" and "-", starting with a letter or digit';

/** `host:port` of a tcp check (IPv6 hosts in brackets); undefined when it is not one. */
export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (!isPort(port)) return undefined;
  if (m[1] !== undefined ? isIP(host) !== 6 : !isAddress(host)) return undefined;
  return { host, port };
}

function checkTargetProblem(type: CheckType, target: string): string | undefined {
  switch (type) {
    case 'http': {
      let url: URL;
      try {
        url = new URL(target);
      } catch {
        return `${show(target)} is not a URL (an http check needs http://host:port/path)`;
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${show(target)}: an http check needs an http:// or https:// URL`;
      return undefined;
    }
    case 'tcp':
      return parseHostPort(target) ? undefined : `${show(target)} is not host:port (a tcp check needs e.g. 10.0.0.5:6379)`;
    case 'exec': {
      let argv: string[];
      try {
        argv = splitWords(target, { cunescape: false });
      } catch (e) {
        return `${show(target)}: ${(e as Error).message}`;
      }
      return argv.length > 0 ? undefined : 'an exec check needs a command line';
    }
    case 'ttl':
      return target === '' ? undefined : 'a ttl check has no target';
  }
}

function validateCheck(c: unknown, i: number, inst: { ID: string; Service: string }, count: number, problems: Problem[]): Check | undefined {
  const at = `Checks[${i}]`;
  const problem = (field: string, message: string) => problems.push({ field: `${at}.${field}`, message: `${at}.${field}: ${message}` });
  if (typeof c !== 'object' || c === null || Array.isArray(c)) {
    problems.push({ field: at, message: `${at}: a check must be an object` });
    return undefined;
  }
  const d = c as Record<string, unknown>;
  const before = problems.length;
  for (const k of Object.keys(d)) if (!CHECK_FIELDS.has(k)) problem(k, `unknown field (a check has ${[...CHECK_FIELDS].join(', ')})`);
  const type = d.Type;
  if (!CHECK_TYPES.includes(type as CheckType)) {
    problem('Type', type === undefined ? 'required (http, tcp, exec or ttl)' : `${show(type)} is not a check type (use http, tcp, exec or ttl)`);
    return undefined;
  }
  const t = type as CheckType;
  const target = d.Target ?? '';
  if (typeof target !== 'string') problem('Target', `${show(target)} is not a string`);
  else {
    if (t !== 'ttl' && target === '') problem('Target', `required for a ${t} check`);
    else {
      const p = checkTargetProblem(t, target);
      if (p) problem('Target', p);
    }
  }
  const durationOf = (field: 'Interval' | 'Timeout', fallback: string | undefined): number | undefined => {
    const v = d[field] ?? fallback;
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      problem(field, `${show(v)} is not a duration (write it like 10s or 500ms)`);
      return undefined;
    }
    try {
      const ms = parseDuration(v);
      if (ms < 10 || !Number.isInteger(ms)) {
        problem(field, `${show(v)} is too short or not a whole number of milliseconds (at least 10ms)`);
        return undefined;
      }
      return ms;
    } catch (e) {
      problem(field, (e as Error).message);
      return undefined;
    }
  };
  let intervalMs: number | undefined;
  let timeoutMs: number | undefined;
  if (t === 'ttl') {
    if (d.Interval === undefined) problem('Interval', 'a ttl check needs its TTL here (e.g. 30s)');
    else intervalMs = durationOf('Interval', undefined);
    if (d.Timeout !== undefined) problem('Timeout', 'a ttl check has no timeout (its Interval is the TTL)');
  } else {
    intervalMs = durationOf('Interval', DEFAULT_CHECK_INTERVAL);
    const defaultTimeout = d.Timeout === undefined && intervalMs !== undefined && intervalMs < parseDuration(DEFAULT_CHECK_TIMEOUT) ? formatDuration(intervalMs) : DEFAULT_CHECK_TIMEOUT;
    timeoutMs = durationOf('Timeout', defaultTimeout);
    if (intervalMs !== undefined && timeoutMs !== undefined && timeoutMs > intervalMs) {
      problem('Timeout', `${show(d.Timeout)} is longer than the interval (${formatDuration(intervalMs)}): a check must end before its next run`);
    }
  }
  const checkId = d.CheckID ?? (count === 1 ? `service:${inst.ID}` : `service:${inst.ID}:${i + 1}`);
  if (!isInstanceId(checkId)) problem('CheckID', `${show(checkId)} is not a valid check ID: ${idRule}`);
  const name = d.Name ?? `Service '${inst.Service}' check`;
  if (typeof name !== 'string' || name === '' || name.length > 256) problem('Name', `${show(name)}: a check name is 1-256 characters`);
  const status = d.Status ?? 'critical';
  if (!STATUSES.includes(status as HealthStatus)) problem('Status', `${show(status)} is not a status (passing, warning or critical)`);
  if (problems.length > before) return undefined;
  return {
    CheckID: checkId as string,
    Name: name as string,
    Type: t,
    Target: target as string,
    Interval: formatDuration(intervalMs!),
    Timeout: t === 'ttl' ? '' : formatDuration(timeoutMs!),
    Status: status as HealthStatus,
    Output: '',
  };
}

/**
 * Checks a registration and fills in its defaults; throws ValidationError listing every problem.
 * `node` is the registering machine's id (the default of Node).
 */
export function validateDefinition(def: unknown, defaults: { node: string }): ServiceInstance {
  const problems: Problem[] = [];
  const problem = (field: string, message: string) => problems.push({ field, message: `${field}: ${message}` });
  if (typeof def !== 'object' || def === null || Array.isArray(def)) throw new ValidationError([{ field: '', message: 'a registration must be an object' }]);
  const d = def as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!DEFINITION_FIELDS.has(k)) problem(k, `unknown field (a registration has ${[...DEFINITION_FIELDS].join(', ')})`);
  if (d.Name === undefined || d.Name === '') problem('Name', 'required (the service name)');
  else if (!isServiceName(d.Name)) problem('Name', `${show(d.Name)} is not a valid service name: ${nameRule}`);
  if (d.Address === undefined || d.Address === '') problem('Address', 'required (an IP address or a host name)');
  else if (!isAddress(d.Address)) problem('Address', `${show(d.Address)} is not an IP address or a host name`);
  if (d.Port === undefined) problem('Port', 'required (an integer 1-65535)');
  else if (!isPort(d.Port)) problem('Port', `${show(d.Port)} is not a port (an integer 1-65535)`);
  const node = d.Node ?? defaults.node;
  const nodeOk = typeof node === 'string' && NODE_RE.test(node);
  if (!nodeOk) problem('Node', `${show(node)} is not a valid node name (1-128 characters of A-Z, a-z, 0-9, "_", "." and "-")`);
  const id = d.ID ?? `${String(node)}-${String(d.Port)}`;
  // A default ID made of a bad node or port says nothing more than those problems.
  if (!isInstanceId(id) && (d.ID !== undefined || (nodeOk && isPort(d.Port)))) problem('ID', `${show(id)} is not a valid instance ID: ${idRule}`);
  const tags: string[] = [];
  if (d.Tags !== undefined) {
    if (!Array.isArray(d.Tags)) problem('Tags', 'must be a list of strings');
    else
      d.Tags.forEach((tag: unknown, i) => {
        if (typeof tag !== 'string' || tag === '' || tag.length > 255 || /[\s,]/.test(tag)) {
          problem(`Tags[${i}]`, `${show(tag)} is not a valid tag (1-255 characters, no spaces or commas)`);
        } else if (!tags.includes(tag)) tags.push(tag);
      });
  }
  const meta: Record<string, string> = {};
  if (d.Meta !== undefined) {
    if (typeof d.Meta !== 'object' || d.Meta === null || Array.isArray(d.Meta)) problem('Meta', 'must be an object of strings');
    else
      for (const [k, v] of Object.entries(d.Meta as Record<string, unknown>)) {
        if (!META_KEY_RE.test(k)) problem(`Meta.${k}`, 'a meta key is 1-128 characters of A-Z, a-z, 0-9, "_" and "-"');
        else if (typeof v !== 'string' || v.length > 512) problem(`Meta.${k}`, `${show(v)}: a meta value is a string of at most 512 characters`);
        else meta[k] = v;
      }
  }
  const checks: Check[] = [];
  if (d.Checks !== undefined) {
    if (!Array.isArray(d.Checks)) problem('Checks', 'must be a list of checks');
    else {
      const inst = { ID: String(id), Service: String(d.Name) };
      d.Checks.forEach((c: unknown, i) => {
        const check = validateCheck(c, i, inst, (d.Checks as unknown[]).length, problems);
        if (!check) return;
        if (checks.some((o) => o.CheckID === check.CheckID)) problem(`Checks[${i}].CheckID`, `${show(check.CheckID)} is used by another check of this instance`);
        else checks.push(check);
      });
    }
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return {
    ID: id as string,
    Service: d.Name as string,
    Address: d.Address as string,
    Port: d.Port as number,
    Tags: tags,
    Meta: meta,
    Node: node as string,
    Status: worstStatus(checks.map((c) => c.Status)),
    Checks: checks,
  };
}

const RANK: Record<HealthStatus, number> = { passing: 0, warning: 1, critical: 2 };

/** The worst of the statuses (passing for none). */
export function worstStatus(statuses: HealthStatus[]): HealthStatus {
  let worst: HealthStatus = 'passing';
  for (const s of statuses) if (RANK[s] > RANK[worst]) worst = s;
  return worst;
}

/** The stored text: pretty JSON with the fields in their documented order. */
export function encodeInstance(i: ServiceInstance): string {
  const record: ServiceInstance = {
    ID: i.ID,
    Service: i.Service,
    Address: i.Address,
    Port: i.Port,
    Tags: i.Tags,
    Meta: i.Meta,
    Node: i.Node,
    Status: i.Status,
    Checks: i.Checks.map((c) => ({
      CheckID: c.CheckID,
      Name: c.Name,
      Type: c.Type,
      Target: c.Target,
      Interval: c.Interval,
      Timeout: c.Timeout,
      Status: c.Status,
      Output: c.Output,
    })),
  };
  return `${JSON.stringify(record, null, 2)}\n`;
}

const badRecord = (why: string) => new DiscoveryError('BadRecord', `not a service instance record: ${why}`);

/** Reads a stored record back; throws DiscoveryError('BadRecord') for anything else. */
export function decodeInstance(text: string): ServiceInstance {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw badRecord(`not JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badRecord('not an object');
  const r = v as Record<string, unknown>;
  if (!isInstanceId(r.ID)) throw badRecord('bad ID');
  if (!isServiceName(r.Service)) throw badRecord('bad Service');
  if (typeof r.Address !== 'string') throw badRecord('bad Address');
  if (!isPort(r.Port)) throw badRecord('bad Port');
  if (!Array.isArray(r.Tags) || !r.Tags.every((t) => typeof t === 'string')) throw badRecord('bad Tags');
  if (typeof r.Meta !== 'object' || r.Meta === null || !Object.values(r.Meta).every((x) => typeof x === 'string')) throw badRecord('bad Meta');
  if (typeof r.Node !== 'string') throw badRecord('bad Node');
  if (!STATUSES.includes(r.Status as HealthStatus)) throw badRecord('bad Status');
  if (!Array.isArray(r.Checks)) throw badRecord('bad Checks');
  for (const c of r.Checks as Record<string, unknown>[]) {
    if (typeof c !== 'object' || c === null) throw badRecord('bad check');
    if (typeof c.CheckID !== 'string' || !CHECK_TYPES.includes(c.Type as CheckType) || !STATUSES.includes(c.Status as HealthStatus)) throw badRecord('bad check');
    for (const f of ['Name', 'Target', 'Interval', 'Timeout', 'Output']) if (typeof c[f] !== 'string') throw badRecord(`bad check ${f}`);
  }
  return v as ServiceInstance;
}

/** The prefix with exactly one trailing slash. */
export function normalizePrefix(prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

export function serviceKeyPrefix(prefix: string, service: string): string {
  return `${normalizePrefix(prefix)}${service}/`;
}

export function instanceKey(prefix: string, service: string, id: string): string {
  return `${serviceKeyPrefix(prefix, service)}${id}`;
}

/** The service and ID of a key under the prefix; undefined for keys of another shape. */
export function parseInstanceKey(prefix: string, key: string): { service: string; id: string } | undefined {
  const p = normalizePrefix(prefix);
  if (!key.startsWith(p)) return undefined;
  const rest = key.slice(p.length).split('/');
  if (rest.length !== 2 || !isServiceName(rest[0]) || !isInstanceId(rest[1])) return undefined;
  return { service: rest[0]!, id: rest[1]! };
}

/** Which instances a lookup wants. */
export interface InstanceFilter {
  /** Only instances with this tag. */
  tag?: string;
  /** Only passing instances (Consul's `?passing`: warning ones are left out too). */
  passingOnly?: boolean;
  /** Leave out critical instances only (passing and warning stay: Consul's DNS default). */
  healthyOnly?: boolean;
}

export function matchesFilter(i: ServiceInstance, f: InstanceFilter): boolean {
  if (f.tag !== undefined && !i.Tags.includes(f.tag)) return false;
  if (f.passingOnly && i.Status !== 'passing') return false;
  if (f.healthyOnly && i.Status === 'critical') return false;
  return true;
}

export const byId = (a: ServiceInstance, b: ServiceInstance): number => (a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0);
