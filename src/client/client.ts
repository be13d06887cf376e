// The client: etcd v3's API over the members' JSON gateways, with endpoint failover, the retry
// rule of retry.ts, member discovery, watches that resume, and lease keep-alives.
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { STATUS_CODES } from 'node:http';
import { componentLogger, type Logger } from '../util/log.js';
import { toId, unb64, type Bytes } from './bytes.js';
import * as codec from './codec.js';
import type { DeleteOptions, GetOptions, Json, PutOptions } from './codec.js';
import { linkedAbort } from '../util/abort.js';
import { EndpointPool } from './endpoints.js';
import { ClientError, CompactedError, ErrorMessages, GrpcCode } from './errors.js';
import { KeepAlive, type KeepAliveOptions } from './lease.js';
import { decide, type Failure } from './retry.js';
import { HttpTransport, parseEndpoint, TransportError, type ClientTls, type Endpoint } from './transport.js';
import { TxnBuilder, type CommitOptions } from './txn.js';
import type * as t from './types.js';
import { Watcher, type WatchOptions } from './watch.js';

export interface ClientOptions {
  /** Client URLs of one or more members (`http://127.0.0.1:2379` or `127.0.0.1:2379`). */
  endpoints: string[];
  /** Time to establish a TCP connection to a member (default 5000 ms). */
  dialTimeoutMs?: number;
  /** Deadline of a call, retries included (default 10000 ms); per call with `timeoutMs`. */
  requestTimeoutMs?: number;
  /** Learn the members' client URLs from `member list` (at start, after failures, every `autoSyncIntervalMs`); default true. */
  autoSyncMembers?: boolean;
  /** Default 60000 ms. */
  autoSyncIntervalMs?: number;
  /** A watch connection that stays silent twice this long is given up (default 5000 ms). */
  watchHeartbeatMs?: number;
  /** A pino logger (default: the `client` component logger). */
  logger?: Logger;
  /** TLS towards https:// endpoints; given, endpoints without a scheme are https://. */
  tls?: ClientTls;
}

export interface CallOptions {
  /** This call's deadline, retries included (default: the client's requestTimeoutMs). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface WriteOptions extends CallOptions {
  /**
   * The write may be applied twice without harm: retry it (on another member) after failures that
   * leave its outcome unknown, instead of failing with OutcomeUnknown.
   */
  idempotent?: boolean;
}

export type { DeleteOptions, GetOptions, PutOptions } from './codec.js';

interface CallSpec extends WriteOptions {
  /** Only this endpoint, once (status/health of one member). */
  endpoint?: Endpoint;
}

const closedError = (): ClientError => new ClientError('Closed', GrpcCode.Canceled, ErrorMessages.closed);

export class Client {
  readonly dialTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly log: Logger;
  private readonly pool: EndpointPool;
  private readonly transport: HttpTransport;
  private readonly defaultTls: boolean;
  private readonly tls: ClientTls | undefined;
  private readonly autoSync: boolean;
  private syncTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private lastSync = 0;
  private readonly closing = new AbortController();
  private readonly open = new Set<{ close(): void }>();
  private readonly heartbeatMs: number;
  private isClosed = false;

  constructor(opts: ClientOptions) {
    this.tls = opts.tls;
    this.defaultTls = opts.tls !== undefined;
    this.pool = new EndpointPool(opts.endpoints, Date.now, this.defaultTls);
    this.transport = new HttpTransport(opts.tls);
    this.dialTimeoutMs = opts.dialTimeoutMs ?? 5000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10000;
    this.heartbeatMs = opts.watchHeartbeatMs ?? 5000;
    this.log = opts.logger ?? componentLogger('client');
    this.autoSync = opts.autoSyncMembers ?? true;
    // Every call in flight listens to it.
    setMaxListeners(0, this.closing.signal);
    if (this.autoSync) {
      this.requestSync();
      this.syncTimer = setInterval(() => this.requestSync(true), opts.autoSyncIntervalMs ?? 60000);
      this.syncTimer.unref();
    }
  }

  /** The endpoints in use: those given plus the members' client URLs learned so far. */
  endpoints(): string[] {
    return this.pool.urls();
  }

  /** The endpoint requests go to while it works. */
  currentEndpoint(): string {
    return this.pool.current().url;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Stops everything: watchers end, keep-alives stop, calls in flight fail with kind Closed. No timer is left. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    clearInterval(this.syncTimer);
    clearTimeout(this.resyncTimer);
    this.closing.abort();
    for (const c of [...this.open]) c.close();
    this.open.clear();
    this.transport.close();
  }

  // ---- KV -------------------------------------------------------------------------------------

  get(key: Bytes, opts: GetOptions & CallOptions = {}): Promise<t.RangeResponse> {
    return this.call('/v3/kv/range', codec.rangeRequest(key, opts), codec.decodeRange, { ...opts, idempotent: true });
  }

  put(key: Bytes, value: Bytes, opts: PutOptions & WriteOptions = {}): Promise<t.PutResponse> {
    return this.call('/v3/kv/put', codec.putRequest(key, value, opts), codec.decodePut, opts);
  }

  delete(key: Bytes, opts: DeleteOptions & WriteOptions = {}): Promise<t.DeleteRangeResponse> {
    return this.call('/v3/kv/deleterange', codec.deleteRequest(key, opts), codec.decodeDelete, opts);
  }

  /** A transaction builder; a txn without put/delete operations counts as a read (retried freely). */
  txn(): TxnBuilder {
    return new TxnBuilder((request: Json, writes: boolean, opts: CommitOptions) =>
      this.call('/v3/kv/txn', request, codec.decodeTxn, { ...opts, idempotent: opts.idempotent || !writes }),
    );
  }

  compact(revision: number, opts: { physical?: boolean } & WriteOptions = {}): Promise<t.CompactionResponse> {
    const body: Json = { revision: String(revision) };
    if (opts.physical) body.physical = true;
    return this.call('/v3/kv/compaction', body, codec.decodeHeaderOnly, opts);
  }

  // ---- Watch ----------------------------------------------------------------------------------

  /** Watches a key, a prefix or a range; see Watcher. */
  watch(key: Bytes, opts: WatchOptions = {}): Watcher {
    if (this.isClosed) throw closedError();
    return new Watcher(
      {
        pool: this.pool,
        log: this.log,
        dialTimeoutMs: this.dialTimeoutMs,
        heartbeatMs: this.heartbeatMs,
        tls: this.tls,
        track: (c) => this.open.add(c),
        untrack: (c) => this.open.delete(c),
        endpointFailed: (ep) => this.endpointFailed(ep),
      },
      key,
      opts,
    );
  }

  // ---- Leases ---------------------------------------------------------------------------------

  /** Grants a lease of `ttl` seconds (the server may raise it to its minimum), with the given ID or one the server picks. */
  async leaseGrant(ttl: number, id?: bigint | string | number, opts: WriteOptions = {}): Promise<t.LeaseGrantResponse> {
    const body: Json = { TTL: String(ttl) };
    if (id !== undefined) body.ID = toId(id).toString();
    const r = await this.call('/v3/lease/grant', body, codec.decodeLeaseGrant, opts);
    if (r.error) throw new ClientError('Server', GrpcCode.Unknown, r.error);
    return r;
  }

  leaseRevoke(id: bigint | string | number, opts: WriteOptions = {}): Promise<t.LeaseRevokeResponse> {
    return this.call('/v3/lease/revoke', { ID: toId(id).toString() }, codec.decodeHeaderOnly, opts);
  }

  /** TTL -1 for an unknown or expired lease (not an error, as in etcd). */
  leaseTimeToLive(id: bigint | string | number, opts: { keys?: boolean } & CallOptions = {}): Promise<t.LeaseTimeToLiveResponse> {
    const body: Json = { ID: toId(id).toString() };
    if (opts.keys) body.keys = true;
    return this.call('/v3/lease/timetolive', body, codec.decodeLeaseTimeToLive, { ...opts, idempotent: true });
  }

  leaseLeases(opts: CallOptions = {}): Promise<t.LeaseLeasesResponse> {
    return this.call('/v3/lease/leases', {}, codec.decodeLeaseLeases, { ...opts, idempotent: true });
  }

  /** One renewal; TTL 0 when the lease does not exist. */
  leaseKeepAliveOnce(id: bigint | string | number, opts: CallOptions = {}): Promise<t.LeaseKeepAliveResponse> {
    return this.call('/v3/lease/keepalive', { ID: toId(id).toString() }, codec.decodeLeaseKeepAlive, { ...opts, idempotent: true });
  }

  /**
   * One keepalive sent to every endpoint at once; the first success wins and the others are
   * cancelled. A member that answers "no leader" (an election is under way) is asked again every
   * 100 ms until the deadline, so the renewal succeeds as soon as there is a leader again; one that
   * does not answer costs nothing but its own attempt. A keep-alive whose renewal failed uses this:
   * the member it was pinned to may hang, and trying members one by one would pay a whole attempt
   * timeout for each hanging one.
   */
  async leaseKeepAliveEverywhere(id: bigint | string | number, opts: CallOptions = {}): Promise<t.LeaseKeepAliveResponse> {
    // Aborted by the caller, and by the first success (the other members' requests are cancelled).
    const race = linkedAbort(opts.signal);
    const body = { ID: toId(id).toString() };
    const deadline = Date.now() + (opts.timeoutMs ?? this.requestTimeoutMs);
    const untilAnswered = async (endpoint: Endpoint): Promise<t.LeaseKeepAliveResponse> => {
      for (;;) {
        try {
          const timeoutMs = Math.max(1, deadline - Date.now());
          return await this.call('/v3/lease/keepalive', body, codec.decodeLeaseKeepAlive, { signal: race.signal, timeoutMs, idempotent: true, endpoint });
        } catch (e) {
          const answered = e instanceof ClientError && e.kind === 'Unavailable' && e.httpStatus !== undefined;
          if (!answered || deadline - Date.now() < 150) throw e;
          await this.sleep(100, race.signal);
        }
      }
    };
    try {
      return await Promise.any(this.pool.all().map(untilAnswered));
    } catch (e) {
      if (!(e instanceof AggregateError)) throw e;
      const errors = e.errors as unknown[];
      // The lease is gone if a member says so; otherwise the first failure stands for all.
      throw errors.find((x) => x instanceof ClientError && x.kind === 'Server' && x.code === GrpcCode.NotFound) ?? errors[0];
    } finally {
      race.dispose();
      race.controller.abort();
    }
  }

  /** Keeps a lease alive until close(); emits 'renewed' (ttl) and 'lost' (reason). */
  keepAlive(id: bigint | string | number, opts: KeepAliveOptions = {}): KeepAlive {
    if (this.isClosed) throw closedError();
    return new KeepAlive(
      {
        requestTimeoutMs: this.requestTimeoutMs,
        keepAliveOnce: (lease, o) => this.leaseKeepAliveOnce(lease, o),
        keepAliveEverywhere: (lease, o) => this.leaseKeepAliveEverywhere(lease, o),
        track: (c) => this.open.add(c),
        untrack: (c) => this.open.delete(c),
        log: this.log,
      },
      toId(id),
      opts,
    );
  }

  // ---- Cluster --------------------------------------------------------------------------------

  memberList(opts: CallOptions = {}): Promise<t.MemberListResponse> {
    return this.call('/v3/cluster/member/list', {}, codec.decodeMembers, { ...opts, idempotent: true });
  }

  async memberAdd(peerURLs: string[], opts: { learner?: boolean } & WriteOptions = {}): Promise<t.MemberAddResponse> {
    const body: Json = { peerURLs };
    if (opts.learner) body.isLearner = true;
    return this.call('/v3/cluster/member/add', body, codec.decodeMemberAdd, opts);
  }

  async memberRemove(id: bigint | string | number, opts: WriteOptions = {}): Promise<t.MemberRemoveResponse> {
    const r = await this.call('/v3/cluster/member/remove', { ID: toId(id).toString() }, codec.decodeMembers, opts);
    this.requestSync(true);
    return r;
  }

  async memberPromote(id: bigint | string | number, opts: WriteOptions = {}): Promise<t.MemberPromoteResponse> {
    const r = await this.call('/v3/cluster/member/promote', { ID: toId(id).toString() }, codec.decodeMembers, opts);
    this.requestSync(true);
    return r;
  }

  async memberUpdate(id: bigint | string | number, peerURLs: string[], opts: WriteOptions = {}): Promise<t.MemberListResponse> {
    return this.call('/v3/cluster/member/update', { ID: toId(id).toString(), peerURLs }, codec.decodeMembers, opts);
  }

  /** Updates the endpoint list from `member list` now; returns it. */
  async sync(opts: CallOptions = {}): Promise<string[]> {
    const r = await this.memberList(opts);
    this.lastSync = Date.now();
    const voters = r.members.filter((m) => !m.isLearner);
    const urls = voters.flatMap((m) => m.clientURLs);
    if (urls.length && this.pool.update(urls)) this.log.debug({ endpoints: this.pool.urls() }, 'client: endpoints updated from member list');
    // A member that has just started publishes its client URLs a moment later: look again soon.
    if (this.autoSync && voters.some((m) => m.clientURLs.length === 0) && !this.isClosed) {
      clearTimeout(this.resyncTimer);
      this.resyncTimer = setTimeout(() => this.requestSync(true), 500);
      this.resyncTimer.unref();
    }
    return this.endpoints();
  }

  // ---- Maintenance ----------------------------------------------------------------------------

  /** A member's status: of `endpoint` only (no failover), or of whichever member answers. */
  status(endpoint?: string, opts: CallOptions = {}): Promise<t.EndpointStatus> {
    const decode = (v: unknown, ep: Endpoint): t.EndpointStatus => ({ endpoint: ep.url, ...codec.decodeStatus(v) });
    const spec: CallSpec = { ...opts, idempotent: true };
    if (endpoint !== undefined) spec.endpoint = parseEndpoint(endpoint, this.defaultTls);
    return this.call('/v3/maintenance/status', {}, decode, spec);
  }

  /** The alarms raised in the cluster (etcd's AlarmList). */
  alarmList(opts: CallOptions = {}): Promise<t.AlarmResponse> {
    return this.call('/v3/maintenance/alarm', { action: 'GET' }, codec.decodeAlarms, { ...opts, idempotent: true });
  }

  /**
   * Clears one alarm, or with none given every alarm raised, as clientv3's AlarmDisarm; resolves
   * with the alarms cleared.
   */
  async alarmDisarm(alarm?: t.AlarmMember, opts: CallOptions = {}): Promise<t.AlarmResponse> {
    const targets = alarm ? [alarm] : (await this.alarmList(opts)).alarms;
    const cleared: t.AlarmMember[] = [];
    for (const a of targets) {
      const body = { action: 'DEACTIVATE', memberID: a.memberID.toString(), alarm: a.alarm };
      cleared.push(...(await this.call('/v3/maintenance/alarm', body, codec.decodeAlarms, { ...opts, idempotent: true })).alarms);
    }
    return { alarms: cleared };
  }

  /**
   * The hash of `endpoint`'s key-value history up to `revision` (0: its current revision), as
   * etcd's HashKV; members holding the same history give the same hash. Never fails over: the
   * point is to ask that member.
   */
  async hashKV(endpoint: string, revision = 0, opts: CallOptions = {}): Promise<t.EndpointHashKV> {
    const decode = (v: unknown, ep: Endpoint): t.EndpointHashKV => ({ endpoint: ep.url, ...codec.decodeHashKV(v) });
    try {
      return await this.call('/v3/maintenance/hashkv', { revision: String(revision) }, decode, { ...opts, idempotent: true, endpoint: parseEndpoint(endpoint, this.defaultTls) });
    } catch (e) {
      // etcd 3.4's gateway maps HashKV onto /v3/maintenance/hash, where Hash answers instead.
      if (e instanceof ClientError && e.httpStatus === 404) {
        throw new ClientError(e.kind, e.code, 'HashKV is not served by this member\'s JSON gateway (etcd 3.4 has no path for it; use etcdctl, which speaks gRPC)', {
          httpStatus: 404,
          endpoint: e.endpoint,
          cause: e,
        });
      }
      throw e;
    }
  }

  /** Has `endpoint` rewrite its database files (etcd's Defragment); that member only. */
  async defragment(endpoint: string, opts: CallOptions = {}): Promise<void> {
    await this.call('/v3/maintenance/defragment', {}, () => undefined, { ...opts, endpoint: parseEndpoint(endpoint, this.defaultTls) });
  }

  /** `GET /metrics` of one endpoint (default: the current one): the member's Prometheus text. */
  async metrics(endpoint?: string, opts: CallOptions = {}): Promise<string> {
    if (this.isClosed) throw closedError();
    const ep = endpoint !== undefined ? parseEndpoint(endpoint, this.defaultTls) : this.pool.current();
    const { signal, dispose } = this.signalFor(opts.signal);
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    try {
      const a = await this.transport.request(ep, 'GET', '/metrics', undefined, { dialTimeoutMs: Math.min(this.dialTimeoutMs, timeoutMs), timeoutMs, signal });
      if (a.status !== 200) throw new ClientError('Server', GrpcCode.Unknown, `HTTP ${a.status}: ${a.body.trim().slice(0, 200)}`, { endpoint: ep.url, httpStatus: a.status });
      return a.body;
    } catch (e) {
      if (e instanceof TransportError) {
        if (e.code === 'ABORT_ERR') throw this.abortError();
        throw new ClientError('Unavailable', e.timeout ? GrpcCode.DeadlineExceeded : GrpcCode.Unavailable, e.message, { endpoint: ep.url, cause: e });
      }
      throw e;
    } finally {
      dispose();
    }
  }

  /** `GET /health` of one endpoint (default: the current one); never throws for an unhealthy or dead member. */
  async health(endpoint?: string, opts: CallOptions = {}): Promise<t.EndpointHealth> {
    if (this.isClosed) throw closedError();
    const ep = endpoint !== undefined ? parseEndpoint(endpoint, this.defaultTls) : this.pool.current();
    const t0 = performance.now();
    const { signal, dispose } = this.signalFor(opts.signal);
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    try {
      const a = await this.transport.request(ep, 'GET', '/health', undefined, { dialTimeoutMs: Math.min(this.dialTimeoutMs, timeoutMs), timeoutMs, signal });
      const took = performance.now() - t0;
      let ok = false;
      try {
        ok = (JSON.parse(a.body) as Json).health === 'true';
      } catch {
        /* not JSON: unhealthy */
      }
      if (a.status === 200 && ok) return { endpoint: ep.url, health: true, took };
      return { endpoint: ep.url, health: false, took, error: `HTTP ${a.status}: ${a.body.trim()}` };
    } catch (e) {
      if (e instanceof TransportError && e.code === 'ABORT_ERR') throw this.abortError();
      return { endpoint: ep.url, health: false, took: performance.now() - t0, error: (e as Error).message };
    } finally {
      dispose();
    }
  }

  /** Moves leadership to `targetId` (a voting member), through the current leader. */
  async moveLeader(targetId: bigint | string | number, opts: CallOptions = {}): Promise<t.MoveLeaderResponse> {
    const leader = await this.findLeader(opts);
    return this.call('/v3/maintenance/transfer-leadership', { targetID: toId(targetId).toString() }, codec.decodeHeaderOnly, { ...opts, endpoint: leader });
  }

  /** The endpoint of the member that is the leader (asking the status of every endpoint and member). */
  async findLeader(opts: CallOptions = {}): Promise<Endpoint> {
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    for (let round = 0; ; round++) {
      const urls = new Set(this.pool.urls());
      const members = await this.memberList({ timeoutMs: Math.max(100, deadline - Date.now()), signal: opts.signal }).catch(() => undefined);
      for (const m of members?.members ?? []) for (const u of m.clientURLs) urls.add(u);
      const views = await Promise.all(
        [...urls].map((u) => this.status(u, { timeoutMs: Math.max(100, Math.min(2000, deadline - Date.now())), signal: opts.signal }).catch(() => undefined)),
      );
      for (const v of views) if (v && v.leader !== 0n && v.header.member_id === v.leader) return parseEndpoint(v.endpoint);
      if (Date.now() + 100 > deadline) throw new ClientError('Unavailable', GrpcCode.Unavailable, ErrorMessages.noLeader);
      await this.sleep(Math.min(500, 50 * 2 ** round), opts.signal);
    }
  }

  /** The store's snapshot as the server streams it (`/v3/maintenance/snapshot`), piece by piece. */
  async *snapshot(opts: CallOptions = {}): AsyncGenerator<Uint8Array> {
    if (this.isClosed) throw closedError();
    const { signal, dispose } = this.signalFor(opts.signal);
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    try {
      let stream: Awaited<ReturnType<HttpTransport['stream']>> | undefined;
      let last: Error | undefined;
      let ep = this.pool.current();
      for (let i = 0; i < this.pool.size() && !stream; i++) {
        try {
          stream = await this.transport.stream(ep, '/v3/maintenance/snapshot', '{}', { dialTimeoutMs: this.dialTimeoutMs, timeoutMs, signal });
        } catch (e) {
          if (e instanceof TransportError && e.code === 'ABORT_ERR') throw this.abortError();
          last = e as Error;
          this.endpointFailed(ep);
          ep = this.pool.current();
        }
      }
      if (!stream) throw new ClientError('Unavailable', GrpcCode.Unavailable, `no endpoint answered: ${last?.message}`, { cause: last });
      try {
        if (stream.status !== 200) {
          let text = '';
          for await (const l of stream.lines) text += l;
          throw this.answerError(stream.status, text, ep).error;
        }
        for await (const line of stream.lines) {
          const m = JSON.parse(line) as Json;
          if (m.error !== undefined) throw this.answerError(500, line, ep).error;
          yield unb64((m.result as Json | undefined)?.blob);
        }
      } catch (e) {
        if (e instanceof TransportError) throw new ClientError('Unavailable', GrpcCode.Unavailable, e.message, { endpoint: ep.url, cause: e });
        throw e;
      } finally {
        stream.close();
      }
    } finally {
      dispose();
    }
  }

  // ---- The request loop -----------------------------------------------------------------------

  /**
   * Sends a unary request, failing over and retrying as retry.ts says: `idempotent` covers reads
   * and writes that may be repeated.
   */
  private async call<T>(path: string, body: Json, decode: (v: unknown, ep: Endpoint) => T, spec: CallSpec): Promise<T> {
    if (this.isClosed) throw closedError();
    const timeoutMs = spec.timeoutMs ?? this.requestTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const retryable = spec.idempotent === true;
    const text = JSON.stringify(body);
    const { signal, dispose } = this.signalFor(spec.signal);
    let last: { error: ClientError; timeout: boolean } | undefined;
    let tried = 0;
    let round = 0;
    try {
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) throw this.giveUp(last);
        const ep = spec.endpoint ?? this.pool.current();
        // A read leaves time for a second member when the first one hangs.
        const attemptMs = retryable && !spec.endpoint && this.pool.size() > 1 ? Math.min(left, Math.max(this.dialTimeoutMs, timeoutMs / 2)) : left;
        let failure: Failure;
        let error: ClientError;
        try {
          const a = await this.transport.request(ep, 'POST', path, text, { dialTimeoutMs: Math.min(this.dialTimeoutMs, left), timeoutMs: attemptMs, signal });
          const parsed = a.status === 200 ? parseOk(a.body) : undefined;
          if (parsed !== undefined) {
            this.pool.succeeded(ep);
            return decode(parsed, ep);
          }
          ({ failure, error } = this.answerError(a.status, a.body, ep));
          last = { error, timeout: false };
        } catch (e) {
          if (!(e instanceof TransportError)) throw e;
          if (e.code === 'ABORT_ERR') throw this.abortError();
          failure = { kind: 'transport', sent: e.sent, timeout: e.timeout };
          error = new ClientError('Unavailable', e.timeout ? GrpcCode.DeadlineExceeded : GrpcCode.Unavailable, e.message, { endpoint: ep.url, cause: e });
          // An attempt that ran out of the call's own time (the last one, often started with a few
          // ms left) says nothing about the cluster: the last answer a member gave ("no leader")
          // stays the call's error. One that ran out of its own share of the time is a hang: it is.
          const cutByDeadline = e.timeout && attemptMs >= left;
          if (!(cutByDeadline && last !== undefined && !last.timeout)) last = { error, timeout: e.timeout };
        }
        const d = decide(failure, retryable);
        if (d === 'fail') throw error;
        if (d === 'unknown') throw outcomeUnknown(error, failure);
        if (spec.endpoint) throw this.giveUp(last);
        this.endpointFailed(ep, failure.kind !== 'transport');
        if (++tried >= this.pool.size()) {
          tried = 0;
          const pause = Math.min(500, 25 * 2 ** round++);
          if (deadline - Date.now() <= pause) throw this.giveUp(last);
          await this.sleep(pause, signal);
        }
      }
    } finally {
      dispose();
    }
  }

  /** The error of a non-200 answer (or a 200 one that holds a stream error). */
  private answerError(status: number, body: string, ep: Endpoint): { failure: Failure; error: ClientError } {
    let code: number | undefined;
    let message: string | undefined;
    try {
      const j = JSON.parse(body) as Json;
      if (j && typeof j === 'object') {
        if (typeof j.message === 'string') message = j.message;
        else if (typeof j.error === 'string') message = j.error;
        else if (j.error && typeof j.error === 'object') {
          const e = j.error as Json;
          if (typeof e.message === 'string') message = e.message;
          if (typeof e.grpc_code === 'number') code = e.grpc_code;
          if (typeof e.http_code === 'number') status = e.http_code;
        }
        if (typeof j.code === 'number') code = j.code;
      }
    } catch {
      /* a plain-text answer */
    }
    const json = message !== undefined;
    if (code === undefined) code = grpcCodeOfHttp(status);
    if (message === undefined) message = `${status} ${body.trim() || STATUS_CODES[status] || ''}`.trim();
    const failure: Failure = { kind: 'server', code, message, httpStatus: status, json };
    const opts = { httpStatus: status, endpoint: ep.url };
    const error =
      message === ErrorMessages.compacted ? new CompactedError(undefined, opts) : new ClientError(code === GrpcCode.Unavailable ? 'Unavailable' : 'Server', code, message, opts);
    return { failure, error };
  }

  private giveUp(last: { error: ClientError; timeout: boolean } | undefined): ClientError {
    if (!last || last.timeout) {
      return new ClientError('Unavailable', GrpcCode.DeadlineExceeded, ErrorMessages.deadline, { cause: last?.error, endpoint: last?.error.endpoint });
    }
    const e = last.error;
    if (e.kind === 'Unavailable') return e;
    return new ClientError('Unavailable', e.code, e.message, { httpStatus: e.httpStatus, endpoint: e.endpoint, cause: e });
  }

  private abortError(): ClientError {
    return this.closing.signal.aborted ? closedError() : new ClientError('Canceled', GrpcCode.Canceled, ErrorMessages.canceled);
  }

  /** The caller's signal combined with the client's own (closing). */
  private signalFor(user: AbortSignal | undefined): { signal: AbortSignal; dispose: () => void } {
    if (!user) return { signal: this.closing.signal, dispose: () => undefined };
    return linkedAbort(user, this.closing.signal);
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const sig = signal ?? this.closing.signal;
      if (sig.aborted) {
        reject(this.abortError());
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(this.abortError());
      };
      const timer = setTimeout(() => {
        sig.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      sig.addEventListener('abort', onAbort, { once: true });
    });
  }

  private endpointFailed(ep: Endpoint, answered = false): void {
    this.pool.failed(ep, answered);
    this.requestSync();
  }

  /** A member list in the background (at most once a second unless forced, one at a time). */
  private requestSync(force = false): void {
    if (!this.autoSync || this.isClosed || this.syncing) return;
    if (!force && Date.now() - this.lastSync < 1000) return;
    this.lastSync = Date.now();
    this.syncing = this.sync({ timeoutMs: Math.min(this.requestTimeoutMs, 5000) })
      .then(
        () => undefined,
        (e: unknown) => this.log.debug({ err: (e as Error).message }, 'client: member list failed'),
      )
      .finally(() => (this.syncing = undefined));
  }
}

function parseOk(body: string): unknown {
  try {
    const v = JSON.parse(body) as unknown;
    // A stream error ({"error": {...}}) can come with a 200; a LeaseGrant answer has a header and an `error` field.
    if (v && typeof v === 'object' && 'error' in v && !('result' in v) && !('header' in v)) return undefined;
    // Stream endpoints answer {"result": ...} lines; a one-request stream is one line.
    if (v && typeof v === 'object' && 'result' in v) return (v as Json).result;
    return v;
  } catch {
    return undefined;
  }
}

function outcomeUnknown(e: ClientError, f: Failure): ClientError {
  const message = f.kind === 'server' && f.json ? e.message : f.kind === 'transport' && f.timeout ? ErrorMessages.deadline : `write outcome unknown: ${e.message}`;
  return new ClientError('OutcomeUnknown', e.code, message, { httpStatus: e.httpStatus, endpoint: e.endpoint, cause: e });
}

/** grpc-gateway's HTTP status of each gRPC code, backwards. */
function grpcCodeOfHttp(status: number): GrpcCode {
  switch (status) {
    case 400:
      return GrpcCode.InvalidArgument;
    case 403:
      return GrpcCode.PermissionDenied;
    case 404:
    case 405:
      return GrpcCode.Unimplemented;
    case 408:
      return GrpcCode.Canceled;
    case 409:
      return GrpcCode.Aborted;
    case 412:
      return GrpcCode.FailedPrecondition;
    case 429:
      return GrpcCode.ResourceExhausted;
    case 501:
      return GrpcCode.Unimplemented;
    case 503:
      return GrpcCode.Unavailable;
    case 504:
      return GrpcCode.DeadlineExceeded;
    default:
      return GrpcCode.Unknown;
  }
}
