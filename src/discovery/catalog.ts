// The service catalog: every instance under the prefix, in memory, kept current by one watch. The
// DNS server and the HTTP API read it (one watch per agent, not one read per query). Each service
// has an index, the store revision of its last change, which the HTTP API gives as X-Consul-Index
// and blocking queries wait on.
import { EventEmitter } from 'node:events';
import { toText, type Client, type KeyValue } from '../client/index.js';
import type { Logger } from '../util/log.js';
import { componentLogger } from '../util/log.js';
import { DiscoveryError } from './errors.js';
import { mirrorPrefix } from './prefix-mirror.js';
import { DEFAULT_PREFIX, byId, decodeInstance, matchesFilter, normalizePrefix, parseInstanceKey, type InstanceFilter, type ServiceInstance } from './schema.js';
import { systemClock, type Clock } from '../util/clock.js';

/** An instance with the store's bookkeeping of its record. */
export interface CatalogEntry {
  instance: ServiceInstance;
  createRevision: number;
  modRevision: number;
  lease: bigint;
}

export interface CatalogOptions {
  prefix?: string;
  logger?: Logger;
  timers?: Clock;
}

export interface ServiceCatalog {
  /** After each store revision applied (and after a fresh read): the services that changed. */
  on(event: 'change', fn: (revision: number, services: string[]) => void): this;
}

export class ServiceCatalog extends EventEmitter {
  readonly prefix: string;
  private readonly services = new Map<string, Map<string, CatalogEntry>>();
  private readonly changedAt = new Map<string, number>();
  /** The revision of the read the view started from (the index of a service never seen change). */
  private baseRevision = 0;
  private lastRevision = 0;
  private readonly ac = new AbortController();
  private loop: Promise<void> | undefined;
  private readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (e: Error) => void;
  private waiters = new Set<{ service: string | undefined; index: number; wake: () => void }>();
  private readonly log: Logger;
  private readonly timers: Clock;
  /** Keys under the prefix that are not instance records, with why. */
  readonly invalid = new Map<string, string>();

  constructor(
    private readonly client: Client,
    opts: CatalogOptions = {},
  ) {
    super();
    this.prefix = normalizePrefix(opts.prefix ?? DEFAULT_PREFIX);
    this.log = opts.logger ?? componentLogger('discovery-catalog');
    this.timers = opts.timers ?? systemClock;
    this.readyPromise = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.readyPromise.catch(() => undefined);
  }

  /** Starts following the store; resolves once the first read is in. */
  start(): Promise<void> {
    if (this.ac.signal.aborted) return Promise.reject(new DiscoveryError('Closed', 'the service catalog was closed'));
    this.loop ??= this.follow();
    return this.readyPromise;
  }

  async close(): Promise<void> {
    this.ac.abort();
    this.rejectReady(new DiscoveryError('Closed', 'the service catalog was closed'));
    for (const w of this.waiters) w.wake();
    this.waiters.clear();
    await this.loop;
  }

  /** The store revision the catalog is at. */
  get revision(): number {
    return this.lastRevision;
  }

  /** The revision of the last change of `service` (of any service without one). */
  index(service?: string): number {
    if (service === undefined) return this.lastRevision;
    return this.changedAt.get(service) ?? this.baseRevision;
  }

  /** The entries of a service that pass the filter, sorted by ID. */
  entries(service: string, filter: InstanceFilter = {}): CatalogEntry[] {
    const m = this.services.get(service);
    if (!m) return [];
    return [...m.values()].filter((e) => matchesFilter(e.instance, filter)).sort((a, b) => byId(a.instance, b.instance));
  }

  instances(service: string, filter: InstanceFilter = {}): ServiceInstance[] {
    return this.entries(service, filter).map((e) => e.instance);
  }

  /** Names of the services with at least one instance, sorted. */
  serviceNames(): string[] {
    return [...this.services.keys()].sort();
  }

  /** Every instance of every service. */
  *all(): Generator<CatalogEntry> {
    for (const m of this.services.values()) yield* m.values();
  }

  /**
   * Resolves when the index of `service` (of the whole catalog when undefined) passes `index`, or
   * after `timeoutMs`, or when `signal` aborts; with the index then.
   */
  waitForChange(service: string | undefined, index: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    if (this.index(service) > index || this.ac.signal.aborted || signal?.aborted) return Promise.resolve(this.index(service));
    return new Promise((resolve) => {
      const waiter = {
        service,
        index,
        wake: () => {
          this.timers.clearTimeout(timer);
          signal?.removeEventListener('abort', waiter.wake);
          this.waiters.delete(waiter);
          resolve(this.index(service));
        },
      };
      const timer = this.timers.setTimeout(waiter.wake, timeoutMs);
      signal?.addEventListener('abort', waiter.wake, { once: true });
      this.waiters.add(waiter);
    });
  }

  private parse(key: string, kv: KeyValue): CatalogEntry | undefined {
    const where = parseInstanceKey(this.prefix, key);
    if (!where) {
      this.invalid.set(key, 'not a key of the form <prefix><service>/<id>');
      return undefined;
    }
    try {
      const instance = decodeInstance(toText(kv.value));
      if (instance.Service !== where.service || instance.ID !== where.id) throw new Error(`the record says ${instance.Service}/${instance.ID}`);
      this.invalid.delete(key);
      return { instance, createRevision: kv.create_revision, modRevision: kv.mod_revision, lease: kv.lease };
    } catch (e) {
      this.invalid.set(key, (e as Error).message);
      return undefined;
    }
  }

  /** A deleted key. */
  private remove(key: string): string | undefined {
    this.invalid.delete(key);
    return this.drop(key);
  }

  /** Takes the instance of `key` out of the view; returns its service if there was one. */
  private drop(key: string): string | undefined {
    const where = parseInstanceKey(this.prefix, key);
    if (!where) return undefined;
    const m = this.services.get(where.service);
    if (!m?.delete(where.id)) return undefined;
    if (m.size === 0) this.services.delete(where.service);
    return where.service;
  }

  private put(key: string, kv: KeyValue): string | undefined {
    const entry = this.parse(key, kv);
    if (!entry) return this.drop(key);
    let m = this.services.get(entry.instance.Service);
    if (!m) {
      m = new Map();
      this.services.set(entry.instance.Service, m);
    }
    m.set(entry.instance.ID, entry);
    return entry.instance.Service;
  }

  private async follow(): Promise<void> {
    try {
      for await (const u of mirrorPrefix(this.client, this.prefix, { signal: this.ac.signal })) {
        let changed: Set<string>;
        if (u.reset) {
          changed = new Set(this.services.keys());
          this.services.clear();
          this.invalid.clear();
          for (const [key, kv] of u.entries) {
            const s = this.put(key, kv);
            if (s) changed.add(s);
          }
          // After a fresh read every service counts as changed at its revision.
          this.baseRevision = u.revision;
          this.changedAt.clear();
        } else {
          changed = new Set();
          for (const ev of u.events) {
            const s = ev.type === 'put' ? this.put(ev.key, ev.kv) : this.remove(ev.key);
            if (s) changed.add(s);
          }
          for (const s of changed) this.changedAt.set(s, u.revision);
        }
        this.lastRevision = u.revision;
        this.resolveReady();
        for (const w of [...this.waiters]) if (this.index(w.service) > w.index) w.wake();
        this.emit('change', u.revision, [...changed].sort());
      }
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'discovery: the service catalog stopped following the store');
      this.rejectReady(e as Error);
    }
  }
}
