// Registering an instance: `register()` validates it (nothing is written when it is not valid),
// runs its checks once, writes its record bound to a lease, and returns a Registration that keeps
// it there until deregister(): it runs the checks, rewrites the record only when a check's status
// changes, applies TTL reports, and after its own lease is lost (the store was unreachable longer
// than the TTL) grants a new one and writes the record again.
//
// Lease modes: by default the registration grants its own lease (`leaseTtl`, 10 s) and keeps it
// alive, so that the instance vanishes soon after its process dies. With `lease` it uses the
// caller's (fleetd's machine lease): a dead machine's instances vanish with it; if that lease is
// gone the registration emits 'leaseLost' and waits for rebind(newLease). With `permanent` there
// is no lease (kvctl's registrations, which outlive the command).
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { ClientError, GrpcCode, toText, type Client, type KeepAlive } from '../client/index.js';
import type { Logger } from '../util/log.js';
import { componentLogger } from '../util/log.js';
import { startCheck, type Probe, type RunningCheck } from './checks/index.js';
import type { CheckResult } from './checks/types.js';
import { DiscoveryError } from './errors.js';
import { mirrorPrefix } from './prefix-mirror.js';
import { DEFAULT_PREFIX, encodeInstance, instanceKey, validateDefinition, worstStatus, type Check, type HealthStatus, type ServiceDefinition, type ServiceInstance } from './schema.js';
import { systemClock, type Clock } from '../util/clock.js';
import { decodeReport, defaultReportsPrefix, reportsKeyPrefix } from './ttl-reports.js';

export interface RegisterOptions {
  /** Bind the record to this lease (kept alive by the caller) instead of a lease of its own. */
  lease?: bigint;
  /** TTL (seconds) of the registration's own lease; default 10. */
  leaseTtl?: number;
  /** No lease: the record stays until deregistered. */
  permanent?: boolean;
  /** Where instances live; default `/flotilla/services/`. */
  prefix?: string;
  /** Where TTL reports live; default beside the prefix (`/flotilla/services-reports/`). */
  reportsPrefix?: string;
  /** The default Node (machine id) of the instance; default the host name. */
  node?: string;
  timers?: Clock;
  logger?: Logger;
  /** First pause between failed writes (ms, doubling up to 5 s); default 250. */
  retryMs?: number;
  /** Makes the probe of an http/tcp/exec check (tests replace it). */
  probe?: (check: Check) => Probe;
}

export interface Registration {
  /** After each write of the record: the instance written and the store revision. */
  on(event: 'written', fn: (instance: ServiceInstance, revision: number) => void): this;
  /** After the own lease was lost and a new one granted (the record is written again with it). */
  on(event: 'reregistered', fn: (lease: bigint) => void): this;
  /** The caller's lease is gone: nothing is written until rebind(). */
  on(event: 'leaseLost', fn: (err: ClientError) => void): this;
  /** A write failed; it is retried. */
  on(event: 'writeFailed', fn: (err: unknown) => void): this;
  /** A check's status changed (before the record is written). */
  on(event: 'check', fn: (checkId: string, result: CheckResult) => void): this;
}

const deepCopy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function isLeaseNotFound(e: unknown): boolean {
  return e instanceof ClientError && e.kind === 'Server' && e.code === GrpcCode.NotFound;
}

export class Registration extends EventEmitter {
  readonly key: string;
  /** Records written so far (the first registration included). */
  writes = 0;
  private readonly state: ServiceInstance;
  /** The record to be in the store: re-encoded only when a status changes. */
  private target: string;
  private written: string | undefined;
  private leaseId: bigint;
  private readonly ownLease: boolean;
  private keepAlive: KeepAlive | undefined;
  private waitingForLease = false;
  private syncing = false;
  private syncDone: Promise<void> = Promise.resolve();
  private flushWaiters: (() => void)[] = [];
  private readonly checks = new Map<string, RunningCheck>();
  private readonly reportsAbort = new AbortController();
  private reportsLoop: Promise<void> = Promise.resolve();
  private readonly lastReportRev = new Map<string, number>();
  private closed = false;
  private removed = false;
  private wakePause: (() => void) | undefined;
  private readonly timers: Clock;
  private readonly log: Logger;
  private readonly retryMs: number;
  private readonly reportsPrefix: string;

  /** Use register(). */
  constructor(
    private readonly client: Client,
    instance: ServiceInstance,
    private readonly opts: RegisterOptions,
  ) {
    super();
    this.state = deepCopy(instance);
    const prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.key = instanceKey(prefix, instance.Service, instance.ID);
    this.reportsPrefix = reportsKeyPrefix(opts.reportsPrefix ?? defaultReportsPrefix(prefix), instance.Service, instance.ID);
    this.ownLease = opts.lease === undefined && !opts.permanent;
    this.leaseId = opts.lease ?? 0n;
    this.timers = opts.timers ?? systemClock;
    this.log = opts.logger ?? componentLogger('discovery', { service: instance.Service, id: instance.ID });
    this.retryMs = opts.retryMs ?? 250;
    this.target = encodeInstance(this.state);
  }

  /** The instance as it is now (its checks' latest statuses and outputs). */
  get instance(): ServiceInstance {
    return deepCopy(this.state);
  }

  /** The lease the record is bound to (0n: none). */
  get lease(): bigint {
    return this.leaseId;
  }

  get deregistered(): boolean {
    return this.closed;
  }

  /** Runs the checks once, subscribes to TTL reports, and writes the record; throws if that write fails. */
  async start(): Promise<void> {
    if (this.state.Checks.some((c) => c.Type === 'ttl')) {
      // Reports from before this registration are about an instance that is no more.
      await this.client.delete(this.reportsPrefix, { prefix: true, idempotent: true });
    }
    for (const c of this.state.Checks) {
      this.checks.set(c.CheckID, startCheck(c, this.timers, (r) => this.onResult(c.CheckID, r), this.opts.probe));
    }
    if (this.state.Checks.some((c) => c.Type === 'ttl')) this.reportsLoop = this.followReports();
    try {
      await Promise.all([...this.checks.values()].map((c) => c.started));
      this.target = encodeInstance(this.state);
      if (this.ownLease) await this.grantLease();
      await this.writeOnce();
      // A status that changed while the first record was on its way.
      this.wakeSync();
    } catch (e) {
      this.stopAll();
      if (this.ownLease && this.leaseId !== 0n) await this.client.leaseRevoke(this.leaseId).catch(() => undefined);
      throw e;
    }
  }

  /** A TTL check's report: passing. */
  pass(checkId: string, output = ''): void {
    this.report(checkId, 'passing', output);
  }

  warn(checkId: string, output = ''): void {
    this.report(checkId, 'warning', output);
  }

  fail(checkId: string, output = ''): void {
    this.report(checkId, 'critical', output);
  }

  report(checkId: string, status: HealthStatus, output = ''): void {
    if (this.closed) throw new DiscoveryError('Closed', `${this.state.Service}/${this.state.ID} is deregistered`);
    const check = this.state.Checks.find((c) => c.CheckID === checkId);
    if (!check) throw new DiscoveryError('NotFound', `${this.state.Service}/${this.state.ID} has no check ${JSON.stringify(checkId)}`);
    if (check.Type !== 'ttl') throw new DiscoveryError('Invalid', `check ${JSON.stringify(checkId)} is an ${check.Type} check: only ttl checks take reports`);
    this.checks.get(checkId)!.report!(status, output);
  }

  /** Binds the record to another lease (the caller's new one after 'leaseLost') and writes it again. */
  rebind(lease: bigint): void {
    if (this.closed) return;
    this.leaseId = lease;
    this.written = undefined;
    this.waitingForLease = false;
    this.wakeSync();
  }

  /**
   * Resolves once the store holds the current health, or the registration ended. While a given
   * lease is gone ('leaseLost') it waits for rebind().
   */
  flushed(): Promise<void> {
    if (this.closed || (!this.syncing && this.written === this.target)) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  /** Stops the checks and removes the record (and revokes the own lease). Safe to call again after a failure. */
  async deregister(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.stopAll();
      this.releaseFlushWaiters();
    }
    if (this.removed) return;
    // A write in flight is let finish, so that it cannot land after the delete.
    await this.syncDone;
    await this.reportsLoop;
    await this.client.delete(this.key, { idempotent: true });
    if (this.state.Checks.some((c) => c.Type === 'ttl')) await this.client.delete(this.reportsPrefix, { prefix: true, idempotent: true });
    if (this.ownLease && this.leaseId !== 0n) {
      await this.client.leaseRevoke(this.leaseId).catch((e: unknown) => {
        if (!isLeaseNotFound(e)) throw e;
      });
    }
    this.removed = true;
  }

  private stopAll(): void {
    this.wakePause?.();
    for (const c of this.checks.values()) c.stop();
    this.reportsAbort.abort();
    this.keepAlive?.close();
    this.keepAlive = undefined;
  }

  private onResult(checkId: string, r: CheckResult): void {
    if (this.closed) return;
    const check = this.state.Checks.find((c) => c.CheckID === checkId)!;
    check.Output = r.output;
    if (check.Status === r.status) return;
    check.Status = r.status;
    this.state.Status = worstStatus(this.state.Checks.map((c) => c.Status));
    this.target = encodeInstance(this.state);
    this.emit('check', checkId, r);
    // Before start() has written the first record there is nothing to rewrite yet.
    if (this.written !== undefined || this.writes > 0) this.wakeSync();
  }

  private async grantLease(): Promise<void> {
    const g = await this.client.leaseGrant(this.opts.leaseTtl ?? 10);
    this.leaseId = g.ID;
    const ka = this.client.keepAlive(g.ID, { ttl: g.TTL });
    this.keepAlive = ka;
    ka.on('lost', (err) => {
      if (this.closed || this.keepAlive !== ka) return;
      this.log.warn({ err: err.message, lease: g.ID.toString(16) }, 'discovery: registration lease lost; registering again with a new lease');
      this.keepAlive = undefined;
      this.leaseId = 0n;
      this.written = undefined;
      this.wakeSync();
    });
  }

  private async writeOnce(): Promise<void> {
    const text = this.target;
    const r = await this.client.put(this.key, text, { lease: this.leaseId !== 0n ? this.leaseId : undefined, idempotent: true });
    this.written = text;
    this.writes++;
    this.emit('written', decodeCopy(text), r.header.revision ?? 0);
  }

  private wakeSync(): void {
    if (this.syncing || this.closed || this.waitingForLease) return;
    this.syncing = true;
    this.syncDone = this.runSync();
  }

  /** Writes until the store holds `target`; failures are retried with a growing pause. */
  private async runSync(): Promise<void> {
    let pause = this.retryMs;
    try {
      while (!this.closed && !this.waitingForLease && this.written !== this.target) {
        try {
          if (this.ownLease && this.leaseId === 0n) {
            await this.grantLease();
            if (this.closed) return;
            this.emit('reregistered', this.leaseId);
          }
          await this.writeOnce();
          pause = this.retryMs;
        } catch (e) {
          if (this.closed) return;
          if (e instanceof ClientError && e.kind === 'Closed') {
            // The client is gone for good: nothing can be written or run any more.
            this.log.warn('discovery: the client was closed; the registration stops');
            this.closed = true;
            this.stopAll();
            return;
          }
          if (isLeaseNotFound(e)) {
            if (this.ownLease) {
              this.keepAlive?.close();
              this.keepAlive = undefined;
              this.leaseId = 0n;
              continue;
            }
            this.waitingForLease = true;
            this.log.warn({ lease: this.leaseId.toString(16) }, 'discovery: the lease given to the registration is gone; waiting for rebind()');
            this.emit('leaseLost', e as ClientError);
            return;
          }
          this.log.debug({ err: (e as Error).message }, 'discovery: writing the instance failed; retrying');
          this.emit('writeFailed', e);
          await new Promise<void>((resolve) => {
            const t = this.timers.setTimeout(() => {
              this.wakePause = undefined;
              resolve();
            }, pause);
            this.wakePause = () => {
              this.timers.clearTimeout(t);
              this.wakePause = undefined;
              resolve();
            };
          });
          pause = Math.min(5000, pause * 2);
        }
      }
    } finally {
      this.syncing = false;
      if (this.written === this.target || this.closed) this.releaseFlushWaiters();
    }
  }

  private releaseFlushWaiters(): void {
    const ws = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of ws) w();
  }

  /** Applies the reports written by other processes (kvctl service check-pass, reportCheck()). */
  private async followReports(): Promise<void> {
    try {
      for await (const u of mirrorPrefix(this.client, this.reportsPrefix, { signal: this.reportsAbort.signal })) {
        const kvs = u.reset ? [...u.entries.values()] : u.events.filter((e) => e.type === 'put').map((e) => e.kv);
        for (const kv of kvs) {
          const report = decodeReport(toText(kv.value));
          if (!report) continue;
          if ((this.lastReportRev.get(report.CheckID) ?? 0) >= kv.mod_revision) continue;
          this.lastReportRev.set(report.CheckID, kv.mod_revision);
          const check = this.checks.get(report.CheckID);
          if (check?.report) check.report(report.Status, report.Output);
        }
      }
    } catch (e) {
      if (!this.closed) this.log.warn({ err: (e as Error).message }, 'discovery: following TTL reports failed');
    }
  }
}

const decodeCopy = (text: string): ServiceInstance => JSON.parse(text) as ServiceInstance;

/**
 * Registers an instance and keeps it registered until deregister(). Throws ValidationError (and
 * writes nothing) when the definition is not valid, or the client's error when the first write
 * fails.
 */
export async function register(client: Client, definition: ServiceDefinition, opts: RegisterOptions = {}): Promise<Registration> {
  if (opts.lease !== undefined && opts.permanent) throw new DiscoveryError('Invalid', 'a registration is either bound to a lease or permanent, not both');
  const instance = validateDefinition(definition, { node: opts.node ?? hostname() });
  const reg = new Registration(client, instance, opts);
  await reg.start();
  return reg;
}
