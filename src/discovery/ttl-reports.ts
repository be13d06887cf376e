// TTL check reports from outside the registering process (`kvctl service check-pass`, or a
// service using the library with its own client). The registering agent is the only writer of an
// instance's record; a report is a key of its own, `<reports prefix><service>/<id>/<CheckID>`,
// bound to the instance's lease (so that reports vanish with the instance), which the agent
// watches and applies to its TTL check.
import { ClientError, GrpcCode, toText, type Client } from '../client/index.js';
import { DiscoveryError } from './errors.js';
import { DEFAULT_PREFIX, STATUSES, decodeInstance, normalizePrefix, parseInstanceKey, serviceKeyPrefix, type HealthStatus, type ServiceInstance } from './schema.js';

export interface CheckReport {
  CheckID: string;
  Status: HealthStatus;
  Output: string;
  /** When it was sent (ISO 8601), for people reading the key. */
  At: string;
}

/** `/flotilla/services/` → `/flotilla/services-reports/`: beside the services, not under them. */
export function defaultReportsPrefix(prefix: string): string {
  return `${normalizePrefix(prefix).slice(0, -1)}-reports/`;
}

export function reportsKeyPrefix(reportsPrefix: string, service: string, id: string): string {
  return `${normalizePrefix(reportsPrefix)}${service}/${id}/`;
}

export function decodeReport(text: string): CheckReport | undefined {
  try {
    const v = JSON.parse(text) as Partial<CheckReport>;
    if (typeof v.CheckID !== 'string' || !STATUSES.includes(v.Status as HealthStatus)) return undefined;
    return { CheckID: v.CheckID, Status: v.Status!, Output: typeof v.Output === 'string' ? v.Output : '', At: typeof v.At === 'string' ? v.At : '' };
  } catch {
    return undefined;
  }
}

export interface ReportOptions {
  /** Only look in this service. */
  service?: string;
  prefix?: string;
  reportsPrefix?: string;
  /** Clock of the `At` field. */
  now?: () => Date;
}

export interface ReportTarget {
  instance: ServiceInstance;
  checkId: string;
  lease: bigint;
}

/**
 * The TTL check a report is for: the check with this CheckID, or else the only TTL check of the
 * instance with this ID. Throws NotFound, Ambiguous (several instances match: give the service),
 * or Invalid (it is not a TTL check).
 */
export async function findTtlCheck(client: Client, checkId: string, opts: ReportOptions = {}): Promise<ReportTarget> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const scope = opts.service !== undefined ? serviceKeyPrefix(prefix, opts.service) : normalizePrefix(prefix);
  const r = await client.get(scope, { prefix: true });
  const byCheck: ReportTarget[] = [];
  const byInstance: ReportTarget[] = [];
  for (const kv of r.kvs) {
    if (!parseInstanceKey(prefix, toText(kv.key))) continue;
    let inst: ServiceInstance;
    try {
      inst = decodeInstance(toText(kv.value));
    } catch {
      continue;
    }
    const check = inst.Checks.find((c) => c.CheckID === checkId);
    if (check) byCheck.push({ instance: inst, checkId, lease: kv.lease });
    else if (inst.ID === checkId) {
      const ttls = inst.Checks.filter((c) => c.Type === 'ttl');
      if (ttls.length === 1) byInstance.push({ instance: inst, checkId: ttls[0]!.CheckID, lease: kv.lease });
    }
  }
  const found = byCheck.length > 0 ? byCheck : byInstance;
  const where = opts.service !== undefined ? ` in service ${opts.service}` : '';
  if (found.length === 0) throw new DiscoveryError('NotFound', `no check ${JSON.stringify(checkId)}${where} (give a CheckID, or the ID of an instance with one ttl check)`);
  if (found.length > 1) {
    const names = found.map((f) => `${f.instance.Service}/${f.instance.ID}`).join(', ');
    throw new DiscoveryError('Ambiguous', `check ${JSON.stringify(checkId)} is on several instances (${names}): name the service`);
  }
  const target = found[0]!;
  const check = target.instance.Checks.find((c) => c.CheckID === target.checkId)!;
  if (check.Type !== 'ttl') {
    throw new DiscoveryError('Invalid', `check ${JSON.stringify(check.CheckID)} of ${target.instance.Service}/${target.instance.ID} is an ${check.Type} check: only ttl checks take reports`);
  }
  return target;
}

/** Reports a TTL check's status from any process; resolves with the check it went to. */
export async function reportCheck(client: Client, checkId: string, status: HealthStatus, output = '', opts: ReportOptions = {}): Promise<ReportTarget> {
  const target = await findTtlCheck(client, checkId, opts);
  const reportsPrefix = opts.reportsPrefix ?? defaultReportsPrefix(opts.prefix ?? DEFAULT_PREFIX);
  const report: CheckReport = { CheckID: target.checkId, Status: status, Output: output, At: (opts.now?.() ?? new Date()).toISOString() };
  const key = `${reportsKeyPrefix(reportsPrefix, target.instance.Service, target.instance.ID)}${target.checkId}`;
  try {
    await client.put(key, `${JSON.stringify(report, null, 2)}\n`, { lease: target.lease !== 0n ? target.lease : undefined, idempotent: true });
  } catch (e) {
    if (e instanceof ClientError && e.kind === 'Server' && e.code === GrpcCode.NotFound) {
      throw new DiscoveryError('NotFound', `${target.instance.Service}/${target.instance.ID} is gone (its lease expired)`, { cause: e });
    }
    throw e;
  }
  return target;
}
