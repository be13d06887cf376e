// Finding instances: one read (lookup, listServices), or a watch that yields the instance set
// after every change of it (watch). Records that are not instances (someone wrote junk under the
// prefix) are left out.
import { toText, type Client, type KeyValue } from '../client/index.js';
import { mirrorPrefix } from './prefix-mirror.js';
import {
  DEFAULT_PREFIX,
  byId,
  decodeInstance,
  matchesFilter,
  normalizePrefix,
  parseInstanceKey,
  serviceKeyPrefix,
  type InstanceFilter,
  type ServiceInstance,
} from './schema.js';

export interface LookupOptions extends InstanceFilter {
  prefix?: string;
}

export interface WatchServiceOptions extends LookupOptions {
  signal?: AbortSignal;
}

/** The instances of a service at one store revision. */
export interface ServiceSet {
  service: string;
  revision: number;
  /** Sorted by ID. */
  instances: ServiceInstance[];
}

export interface ServiceSummary {
  Name: string;
  /** Every tag of its instances, sorted. */
  Tags: string[];
  Instances: number;
  Passing: number;
  Warning: number;
  Critical: number;
}

function instanceOf(prefix: string, kv: KeyValue): ServiceInstance | undefined {
  const where = parseInstanceKey(prefix, toText(kv.key));
  if (!where) return undefined;
  try {
    const inst = decodeInstance(toText(kv.value));
    return inst.Service === where.service && inst.ID === where.id ? inst : undefined;
  } catch {
    return undefined;
  }
}

/** The instances of `name` that pass the filter, sorted by ID. */
export async function lookup(client: Client, name: string, opts: LookupOptions = {}): Promise<ServiceInstance[]> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const r = await client.get(serviceKeyPrefix(prefix, name), { prefix: true });
  return r.kvs
    .map((kv) => instanceOf(prefix, kv))
    .filter((i): i is ServiceInstance => i !== undefined && matchesFilter(i, opts))
    .sort(byId);
}

/**
 * The instance set of `name` (filtered), first as it is, then after every change of it: each
 * store revision that changes the filtered set yields once, in order, across reconnects. Ends
 * when `signal` aborts or the loop is left.
 */
export async function* watch(client: Client, name: string, opts: WatchServiceOptions = {}): AsyncGenerator<ServiceSet, void, undefined> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const current = new Map<string, ServiceInstance>();
  let last: string | undefined;
  for await (const u of mirrorPrefix(client, serviceKeyPrefix(prefix, name), { signal: opts.signal })) {
    if (u.reset) {
      current.clear();
      for (const [key, kv] of u.entries) {
        const inst = instanceOf(prefix, kv);
        if (inst) current.set(key, inst);
      }
    } else {
      for (const ev of u.events) {
        const inst = ev.type === 'put' ? instanceOf(prefix, ev.kv) : undefined;
        if (inst) current.set(ev.key, inst);
        else current.delete(ev.key);
      }
    }
    const instances = [...current.values()].filter((i) => matchesFilter(i, opts)).sort(byId);
    const fingerprint = JSON.stringify(instances);
    if (fingerprint === last) continue;
    last = fingerprint;
    yield { service: name, revision: u.revision, instances };
  }
}

/** Every service with instances, sorted by name. */
export async function listServices(client: Client, opts: { prefix?: string } = {}): Promise<ServiceSummary[]> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const r = await client.get(normalizePrefix(prefix), { prefix: true });
  return summarize(r.kvs.map((kv) => instanceOf(prefix, kv)).filter((i): i is ServiceInstance => i !== undefined));
}

export function summarize(instances: Iterable<ServiceInstance>): ServiceSummary[] {
  const by = new Map<string, ServiceSummary & { tagSet: Set<string> }>();
  for (const i of instances) {
    let s = by.get(i.Service);
    if (!s) {
      s = { Name: i.Service, Tags: [], Instances: 0, Passing: 0, Warning: 0, Critical: 0, tagSet: new Set() };
      by.set(i.Service, s);
    }
    s.Instances++;
    if (i.Status === 'passing') s.Passing++;
    else if (i.Status === 'warning') s.Warning++;
    else s.Critical++;
    for (const t of i.Tags) s.tagSet.add(t);
  }
  return [...by.values()]
    .sort((a, b) => (a.Name < b.Name ? -1 : 1))
    .map(({ tagSet, ...s }) => ({ ...s, Tags: [...tagSet].sort() }));
}
