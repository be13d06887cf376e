// The `[X-Service]` section of a unit file: what fleetd registers while the unit runs.
//
//   [X-Service]
//   Name=web                      default: the unit's prefix (web@1.service → web)
//   Port=80%i                     required
//   Tags=primary v2               comma or space separated; repeatable; an empty value resets
//   Check=http://%H:8080/health   http(s)://…, tcp://host:port, tcp:PORT, exec:/path args, ttl:30s; repeatable
//   CheckInterval=10s             default 10s
//   CheckTimeout=5s               default 5s (at most the interval)
//   Address=10.0.0.5              default: the machine's public address
//   ID=web-1                      default: <first 8 of the machine id>-<unit name>
//   Meta=version=1.2              key=value; repeatable
//
// Values may use systemd's specifiers (%n %i %H...), resolved by the reader of the unit file (see
// UnitServiceContext.expand: fleet resolves them as in [Service]). Errors name the line.
import { ValidationError, type Problem } from './errors.js';
import { DEFAULT_CHECK_INTERVAL, DEFAULT_CHECK_TIMEOUT, isServiceName, validateDefinition, type CheckDefinition, type ServiceDefinition } from './schema.js';

/** The shape of fleet's UnitSection (src/fleet/types.ts), restated so that discovery does not import upwards. */
export interface UnitSectionLike {
  name: string;
  entries: { key: string; value: string; line: number }[];
  line: number;
}

export interface UnitServiceContext {
  /** `web@1.service`. */
  unitName: string;
  /** The machine's full id (the instance's Node). */
  machineId: string;
  /** The machine's public address (the default Address; `tcp:PORT` checks dial it). */
  address: string;
  /**
   * Resolves the specifiers of one value (`%i`, `%H`...), throwing an Error that says what is
   * wrong. The reader of the unit file supplies it, so that [X-Service] reads specifiers exactly
   * as the unit's other sections do (fleet: src/fleet/unit/specifiers.ts, with the facts of the
   * machine that runs the unit). Without it values are taken as written.
   */
  expand?: (value: string) => string;
}

export const SERVICE_SECTION = 'X-Service';
const KEYS = new Set(['Name', 'ID', 'Port', 'Address', 'Tags', 'Check', 'CheckInterval', 'CheckTimeout', 'Meta']);

/** `web` of `web@1.service` and of `web.service`. */
function unitPrefix(unitName: string): string {
  const dot = unitName.lastIndexOf('.');
  const base = dot > 0 ? unitName.slice(0, dot) : unitName;
  const at = base.indexOf('@');
  return at >= 0 ? base.slice(0, at) : base;
}

/** The [X-Service] section of a unit, if it has one (the last, as systemd lets later sections win). */
export function findServiceSection<S extends UnitSectionLike>(sections: S[]): S | undefined {
  return sections.filter((s) => s.name === SERVICE_SECTION).pop();
}

/**
 * The registration an `[X-Service]` section describes, validated. Throws ValidationError whose
 * problems carry the line (`web.service: invalid [X-Service]: line 4: Port="http": ...`).
 */
export function serviceFromUnit(section: UnitSectionLike, ctx: UnitServiceContext): ServiceDefinition {
  const problems: Problem[] = [];
  const at = (line: number, key: string, value: string, message: string) => problems.push({ field: key, line, message: `line ${line}: ${key}=${value}: ${message}` });
  const prefix = unitPrefix(ctx.unitName);
  const expand = (line: number, key: string, value: string): string => {
    if (!ctx.expand) return value;
    try {
      return ctx.expand(value);
    } catch (e) {
      at(line, key, value, (e as Error).message);
      return value;
    }
  };

  const lineOf = new Map<string, number>();
  let name: string | undefined;
  let id: string | undefined;
  let port: number | undefined;
  let address: string | undefined;
  let interval: string | undefined;
  let timeout: string | undefined;
  let tags: { tag: string; line: number }[] = [];
  let checks: { def: CheckDefinition; line: number }[] = [];
  const meta: Record<string, string> = {};

  for (const e of section.entries) {
    if (!KEYS.has(e.key)) {
      at(e.line, e.key, e.value, `unknown key in [${SERVICE_SECTION}] (use ${[...KEYS].join(', ')})`);
      continue;
    }
    const v = expand(e.line, e.key, e.value.trim());
    lineOf.set(e.key, e.line);
    switch (e.key) {
      case 'Name':
        name = v;
        break;
      case 'ID':
        id = v;
        break;
      case 'Address':
        address = v;
        break;
      case 'Port':
        if (!/^\d{1,5}$/.test(v)) at(e.line, e.key, v, 'not a port (an integer 1-65535)');
        else port = Number(v);
        break;
      case 'Tags':
        if (v === '') tags = [];
        else for (const tag of v.split(/[\s,]+/).filter((s) => s !== '')) tags.push({ tag, line: e.line });
        break;
      case 'Meta': {
        const eq = v.indexOf('=');
        if (eq <= 0) at(e.line, e.key, v, 'write Meta=key=value');
        else {
          meta[v.slice(0, eq)] = v.slice(eq + 1);
          lineOf.set(`Meta.${v.slice(0, eq)}`, e.line);
        }
        break;
      }
      case 'CheckInterval':
        interval = v;
        break;
      case 'CheckTimeout':
        timeout = v;
        break;
      case 'Check': {
        if (v === '') {
          checks = [];
          break;
        }
        // The host of tcp:PORT is filled in once the whole section is read (Address= may come later).
        const def = checkFromSpec(v);
        if (typeof def === 'string') at(e.line, e.key, v, def);
        else checks.push({ def, line: e.line });
        break;
      }
    }
  }

  if (name === undefined) {
    if (isServiceName(prefix)) name = prefix;
    else problems.push({ field: 'Name', line: section.line, message: `line ${section.line}: Name= is required (the unit's name ${JSON.stringify(prefix)} is not a valid service name)` });
  }
  if (port === undefined && !problems.some((p) => p.field === 'Port')) {
    problems.push({ field: 'Port', line: section.line, message: `line ${section.line}: Port= is required` });
  }
  if (problems.length > 0) throw new ValidationError(problems, `${ctx.unitName}: invalid [${SERVICE_SECTION}]`);

  // tcp:PORT checks dial the instance's address, known only now when Address came after Check.
  for (const c of checks) if (c.def.Type === 'tcp' && c.def.Target!.startsWith(':')) c.def.Target = `${hostPart(address ?? ctx.address)}${c.def.Target}`;
  for (const c of checks) {
    if (c.def.Type === 'ttl') continue;
    c.def.Interval = interval ?? DEFAULT_CHECK_INTERVAL;
    if (timeout !== undefined) c.def.Timeout = timeout;
    else if (interval === undefined) c.def.Timeout = DEFAULT_CHECK_TIMEOUT;
  }
  const def: ServiceDefinition = {
    Name: name!,
    ID: id ?? `${ctx.machineId.slice(0, 8)}-${ctx.unitName}`,
    Address: address ?? ctx.address,
    Port: port!,
    Tags: tags.map((t) => t.tag),
    Meta: meta,
    Node: ctx.machineId,
    Checks: checks.map((c) => c.def),
  };
  try {
    validateDefinition(def, { node: ctx.machineId });
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    const withLines = e.problems.map((p) => {
      const line = lineFor(p.field, lineOf, tags, checks) ?? section.line;
      return { ...p, line, message: `line ${line}: ${p.message}` };
    });
    throw new ValidationError(withLines, `${ctx.unitName}: invalid [${SERVICE_SECTION}]`);
  }
  return def;
}

function hostPart(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/**
 * A check written as text (a unit's Check=, kvctl's --check): `http(s)://…`, `tcp://host:port`,
 * `tcp:PORT` (on `address`; without one the target is left as `:PORT`), `exec:/path args` or
 * `ttl:30s`. Returns what is wrong with it as a string.
 */
export function checkFromSpec(v: string, address?: string): CheckDefinition | string {
  if (/^https?:\/\//.test(v)) return { Type: 'http', Target: v };
  if (v.startsWith('tcp://')) return { Type: 'tcp', Target: v.slice('tcp://'.length) };
  if (v.startsWith('tcp:')) {
    const port = v.slice('tcp:'.length);
    if (!/^\d{1,5}$/.test(port)) return 'write tcp:PORT or tcp://host:port';
    return { Type: 'tcp', Target: `${address !== undefined ? hostPart(address) : ''}:${port}` };
  }
  if (v.startsWith('exec:')) return { Type: 'exec', Target: v.slice('exec:'.length).trim() };
  if (v.startsWith('ttl:')) return { Type: 'ttl', Interval: v.slice('ttl:'.length) };
  return 'unknown check (use http://…, https://…, tcp://host:port, tcp:PORT, exec:/path args or ttl:30s)';
}

function lineFor(field: string, lineOf: Map<string, number>, tags: { line: number }[], checks: { line: number }[]): number | undefined {
  let m: RegExpExecArray | null;
  if ((m = /^Tags\[(\d+)\]$/.exec(field))) return tags[Number(m[1])]?.line;
  if ((m = /^Checks\[(\d+)\]\.(\w+)$/.exec(field))) {
    const key = m[2] === 'Interval' ? 'CheckInterval' : m[2] === 'Timeout' ? 'CheckTimeout' : undefined;
    return (key !== undefined ? lineOf.get(key) : undefined) ?? checks[Number(m[1])]?.line;
  }
  return lineOf.get(field);
}
