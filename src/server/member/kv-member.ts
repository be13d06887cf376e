// One kvd member: the Raft node, the MVCC store and the watch hub put together behind KvService.
// Writes are proposed through Raft and answered with the store's result once applied here;
// linearizable reads wait for a ReadIndex; lease keep-alives and time-to-live are the leader's
// business (only it holds lease deadlines), so a follower forwards them to the leader.
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as api from '../../kv/api.js';
import { AlarmAction, AlarmType, MAX_LEASE_TTL, MAX_REQUEST_BYTES } from '../../kv/api.js';
import { KvStore, encodeRequest, isRaised, isTxnReadOnly, isTxnSerializable, txnHasPut, validateDeleteRange, validatePut, validateRange, validateTxn, type InternalRequest } from '../../kv/index.js';
import { WatchHub } from '../../kv/watch/index.js';
import { RaftNode, type MemberInfo } from '../../raft/node/index.js';
import { RaftError } from '../../raft/errors.js';
import { ConfChangeType } from '../../raft/types.js';
import { EtcdError, Errors, GrpcCode } from '../../util/errors.js';
import { componentLogger, type Logger } from '../../util/log.js';
import type { KvService, WatchSession, WatchSink } from '../service.js';
import { clusterIdFor, hexId, memberIdFor } from './ids.js';
import { callMember, fetchClusterInfo, forwardToLeader, MemberAgents, type ClusterInfo, type MemberTls } from './internal-client.js';
import type { PeerTls } from '../../raft/transport/index.js';
import { MemberMetrics } from './metrics.js';
import { checkAgainstPeers, CorruptionCheck, type MemberHash } from './corruption.js';

export const SERVER_VERSION = '3.4.0';
export const CLUSTER_VERSION = '3.4.0';

export interface KvMemberOptions {
  name: string;
  dataDir: string;
  /** Where the peer listener binds. */
  peerListen: { host: string; port: number };
  advertisePeerURLs: string[];
  advertiseClientURLs: string[];
  /** name -> peer URLs, for a new cluster or for joining one. */
  initialCluster: Map<string, string[]>;
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  heartbeatMs?: number;
  electionMs?: number;
  snapshotCount?: number;
  snapshotCatchUpEntries?: number;
  /** Bytes of live values the store keeps in memory (default: all). */
  valueCacheBytes?: number;
  /**
   * --quota-backend-bytes: a write that would take the store (dbSize) past this raises a NOSPACE
   * alarm and is refused (default: etcd's 2 GiB).
   */
  quotaBackendBytes?: number;
  /** See RaftNodeOptions.walFsyncInPlaceMaxMs. */
  walFsyncInPlaceMaxMs?: number;
  /** --experimental-corrupt-check-time: how often the leader compares the members' hashes (0: never). */
  corruptCheckMs?: number;
  /** --experimental-initial-corrupt-check: compare this member's hash with its peers' before serving. */
  initialCorruptCheck?: boolean;
  requestTimeoutMs?: number;
  logger?: Logger;
  /** Milliseconds; drives lease expiry. */
  clock?: () => number;
  /**
   * The leader wakes at the earliest lease deadline, and at least this often (default 500 ms,
   * etcd's fixed polling interval) to see leases granted meanwhile.
   */
  leaseCheckMs?: number;
  /** TEST ONLY, breaks linearizability: linearizable reads skip ReadIndex (see config.ts). */
  testOnlyUnsafeLocalReads?: boolean;
  /** TLS for this member's calls to the others' https:// client URLs (forwards, hash checks). */
  memberTls?: MemberTls;
  /** TLS on the peer port (Raft, and a joining member's question to the others). */
  peerTls?: PeerTls;
}

/** What the data directory remembers about this member, so that restarts ignore the bootstrap flags (as etcd does). */
interface MemberIdentity {
  memberId: number;
  clusterId: number;
  name: string;
}

/** etcd's DefaultQuotaBytes: --quota-backend-bytes 0 means this. */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
/** What a write adds to the store besides its request bytes, in the quota check (etcd's kvOverhead). */
const QUOTA_OVERHEAD_BYTES = 256;
/** A proposal that adds data: checked against --quota-backend-bytes. */
const QUOTA_CHECKED = 'quota' as const;

/** An alarm as etcd's status lists it in `errors`: the proto's text form. */
function alarmText(a: api.AlarmMember): string {
  return `memberID:${a.memberID} ${a.alarm === AlarmType.NONE ? '' : `alarm:${AlarmType[a.alarm] ?? a.alarm} `}`;
}

export class KvMember implements KvService {
  readonly memberId: number;
  readonly clusterId: number;
  readonly promMetrics: MemberMetrics;
  private readonly log: Logger;
  private leaseTimer: NodeJS.Timeout | undefined;
  /** Aborted when the leader this member knows changes: requests forwarded to the old one are given up. */
  private leaderTerm = unlimitedController();
  private readonly revoking = new Set<bigint>();
  private published = false;
  private stopped = false;
  private readonly quotaBytes: number;
  private readonly corruptionCheck: CorruptionCheck;
  private agents: MemberAgents;

  private constructor(
    readonly opts: KvMemberOptions,
    identity: MemberIdentity,
    readonly node: RaftNode,
    readonly store: KvStore,
    readonly hub: WatchHub,
    log: Logger,
  ) {
    this.memberId = identity.memberId;
    this.agents = new MemberAgents(opts.memberTls);
    this.quotaBytes = opts.quotaBackendBytes || DEFAULT_QUOTA_BYTES;
    this.corruptionCheck = new CorruptionCheck({
      periodMs: opts.corruptCheckMs ?? 0,
      isLeader: () => this.node.isLeader(),
      own: () => this.ownHash(),
      peers: () => this.peerClientURLs(),
      askPeer: (url, revision) => this.askHash(url, revision, false),
      raise: async (id) => {
        if (isRaised(this.store.alarms(), id, AlarmType.CORRUPT)) return;
        await this.alarm({ action: AlarmAction.ACTIVATE, memberID: id, alarm: AlarmType.CORRUPT });
      },
      log,
    });
    this.clusterId = identity.clusterId;
    this.log = log;
    this.promMetrics = new MemberMetrics({
      hasLeader: () => node.leaderId() !== 0,
      isLeader: () => node.isLeader(),
      term: () => node.term(),
      commitIndex: () => node.status().commit,
      appliedIndex: () => node.status().applied,
      pendingProposals: () => node.status().pendingProposals,
      keys: () => store.keyCount(),
      dbSize: () => store.dbSize(),
      valueCacheBytes: () => store.valueCacheStats().bytes,
      valueCacheBudget: () => store.valueCacheStats().budget,
      watchers: () => hub.stats().watchers,
      watchStreams: () => hub.stats().sessions,
      walFsyncs: () => {
        const st = node.status();
        return { total: st.fsyncs, inPlace: st.fsyncsInPlace };
      },
      peers: () => new Map([...node.peerStats()].map(([id, st]) => [hexId(id), st])),
    });
    node.on('persisted', (p: { ms: number }) => this.promMetrics.fsyncSeconds.observe(p.ms / 1000));
    node.on('peer-round-trip', (p: { peer: number; seconds: number }) => this.promMetrics.peerRoundTrip.observe({ To: hexId(p.peer) }, p.seconds));
    node.on('leader-change', (ev: { leader: number }) => this.onLeaderChange(ev.leader));
  }

  static async start(opts: KvMemberOptions): Promise<KvMember> {
    const log = opts.logger ?? componentLogger('kvd', { name: opts.name });
    await mkdir(opts.dataDir, { recursive: true });
    const { identity, joinedMembers } = await resolveIdentity(opts, log);
    const store = await KvStore.open(join(opts.dataDir, 'kv'), { logger: log, clock: opts.clock, valueCacheBytes: opts.valueCacheBytes });
    let node: RaftNode | undefined;
    let member: KvMember | undefined;
    try {
      const initial: MemberInfo[] = [];
      if (opts.initialClusterState === 'new') {
        for (const [name, peerURLs] of opts.initialCluster) {
          initial.push({ id: memberIdFor(peerURLs, opts.initialClusterToken), name, peerURLs, clientURLs: [] });
        }
      }
      // Asked only by a member with no Raft state yet: on a restart --initial-cluster is ignored,
      // as etcd ignores it (the peers a member joined through may have been removed since).
      // A member that has just learned its identity from them has their members already.
      const joinPeers =
        opts.initialClusterState === 'existing' ? () => (joinedMembers ? Promise.resolve(joinedMembers) : askToJoin(peersOtherThan(opts), opts.peerTls, log).then((c) => c.members)) : undefined;
      const header = { cluster_id: identity.clusterId, member_id: identity.memberId };
      const hub = new WatchHub(store, {
        header: () => ({ ...header, raft_term: member?.node.term() ?? 0 }),
        logger: log,
      });
      store.onApplied(
        (events, revision) => hub.notify(events, revision),
        () => hub.wantsPrevKv(),
      );
      store.onRestored((revision) => hub.restored(revision));
      node = await RaftNode.create({
        id: identity.memberId,
        clusterId: identity.clusterId,
        dataDir: join(opts.dataDir, 'raft'),
        peerListen: opts.peerListen,
        self: { name: opts.name, peerURLs: opts.advertisePeerURLs, clientURLs: opts.advertiseClientURLs },
        initialCluster: initial.length ? initial : undefined,
        join: joinPeers,
        stateMachine: store,
        heartbeatMs: opts.heartbeatMs,
        electionMs: opts.electionMs,
        snapshotCount: opts.snapshotCount,
        snapshotCatchUpEntries: opts.snapshotCatchUpEntries,
        walFsyncInPlaceMaxMs: opts.walFsyncInPlaceMaxMs,
        requestTimeoutMs: opts.requestTimeoutMs,
        logger: log,
        peerTls: opts.peerTls,
        peerHttpHandler: (req, res) => {
          if (member) member.servePeerHttp(req, res);
          else res.writeHead(503, { 'content-type': 'text/plain' }).end('starting\n');
        },
      });
      member = new KvMember(opts, identity, node, store, hub, log);
      await node.start();
      if (opts.initialCorruptCheck) {
        const m = member;
        // The peers answer from what they have applied (no ReadIndex: there may be no leader yet).
        await checkAgainstPeers(await m.ownHash(), m.peerClientURLs(), (url, revision) => m.askHash(url, revision, true), log);
        log.info('initial corruption check: this member agrees with every peer that answered');
      }
      member.corruptionCheck.start();
      return member;
    } catch (err) {
      if (node) await node.stop({ transfer: false }).catch(() => undefined);
      member?.agents.close();
      await store.close().catch(() => undefined);
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopLeaseExpiry();
    this.corruptionCheck.stop();
    this.hub.close();
    await this.node.stop({ transfer: true });
    this.agents.close();
    await this.store.close();
  }

  /**
   * A rotated client-port certificate: the next calls to the others present it. The agent before
   * is left to finish what it has in flight; its idle connections close on their own.
   */
  setMemberTls(tls: MemberTls): void {
    this.agents = new MemberAgents(tls);
  }

  // ---- KV -------------------------------------------------------------------------------------

  async range(req: api.RangeRequest): Promise<api.RangeResponse> {
    throwIf(validateRange(req));
    if (!req.serializable && !this.opts.testOnlyUnsafeLocalReads) await this.linearize();
    const resp = await this.store.range(req);
    resp.header = this.header(resp.header.revision);
    return resp;
  }

  async put(req: api.PutRequest): Promise<api.PutResponse> {
    throwIf(validatePut(req));
    const resp = (await this.propose({ put: req }, QUOTA_CHECKED)) as api.PutResponse;
    resp.header = this.header(resp.header.revision);
    return resp;
  }

  async deleteRange(req: api.DeleteRangeRequest): Promise<api.DeleteRangeResponse> {
    throwIf(validateDeleteRange(req));
    const resp = (await this.propose({ delete_range: req })) as api.DeleteRangeResponse;
    resp.header = this.header(resp.header.revision);
    return resp;
  }

  async txn(req: api.TxnRequest): Promise<api.TxnResponse> {
    throwIf(validateTxn(req));
    // A txn that only reads is served as a range is (etcd does the same): no log entry.
    if (isTxnReadOnly(req)) {
      if (!isTxnSerializable(req) && !this.opts.testOnlyUnsafeLocalReads) await this.linearize();
      const read = await this.store.readTxn(req);
      read.header = this.header(read.header.revision);
      return read;
    }
    const resp = (await this.propose({ txn: req }, txnHasPut(req) ? QUOTA_CHECKED : undefined)) as api.TxnResponse;
    resp.header = this.header(resp.header.revision);
    return resp;
  }

  async compact(req: api.CompactionRequest): Promise<api.CompactionResponse> {
    const resp = (await this.propose({ compaction: req })) as api.CompactionResponse;
    if (req.physical) await this.store.waitCompaction(req.revision);
    return { header: this.header(resp.header.revision) };
  }

  // ---- Leases ---------------------------------------------------------------------------------

  async leaseGrant(req: api.LeaseGrantRequest): Promise<api.LeaseGrantResponse> {
    if (req.TTL > MAX_LEASE_TTL) throw Errors.leaseTTLTooLarge();
    const ID = req.ID && req.ID !== 0n ? req.ID : randomLeaseId();
    const resp = (await this.propose({ lease_grant: { ID, TTL: req.TTL } }, QUOTA_CHECKED)) as api.LeaseGrantResponse;
    resp.header = this.header(resp.header.revision);
    return resp;
  }

  async leaseRevoke(req: api.LeaseRevokeRequest): Promise<api.LeaseRevokeResponse> {
    const resp = (await this.propose({ lease_revoke: req })) as api.LeaseRevokeResponse;
    return { header: this.header(resp.header.revision) };
  }

  async leaseKeepAlive(req: api.LeaseKeepAliveRequest): Promise<api.LeaseKeepAliveResponse> {
    if (this.node.isLeader()) {
      const resp = this.store.leaseKeepAlive(req);
      return { ...resp, header: this.header(resp.header.revision) };
    }
    const r = await this.forward<{ TTL: string }>('lease/keepalive', { ID: req.ID.toString() });
    return { header: this.header(this.store.currentRevision()), ID: req.ID, TTL: Number(r.TTL) };
  }

  async leaseTimeToLive(req: api.LeaseTimeToLiveRequest): Promise<api.LeaseTimeToLiveResponse> {
    if (this.node.isLeader()) {
      const resp = await this.store.leaseTimeToLiveSettled(req);
      return { ...resp, header: this.header(resp.header.revision) };
    }
    const r = await this.forward<{ TTL: string; grantedTTL: string; keys: string[] }>('lease/timetolive', {
      ID: req.ID.toString(),
      keys: !!req.keys,
    });
    return {
      header: this.header(this.store.currentRevision()),
      ID: req.ID,
      TTL: Number(r.TTL),
      grantedTTL: Number(r.grantedTTL),
      keys: r.keys.map((k) => Buffer.from(k, 'base64')),
    };
  }

  async leaseLeases(): Promise<api.LeaseLeasesResponse> {
    const resp = this.store.leaseLeases();
    return { ...resp, header: this.header(resp.header.revision) };
  }

  // ---- Watch ----------------------------------------------------------------------------------

  openWatch(sink: WatchSink): WatchSession {
    return this.hub.openSession(sink);
  }

  // ---- Cluster --------------------------------------------------------------------------------

  async memberList(): Promise<api.MemberListResponse> {
    return { header: this.headerNoRevision(), members: this.members() };
  }

  async memberAdd(req: api.MemberAddRequest): Promise<api.MemberAddResponse> {
    const peerURLs = (req.peerURLs ?? []).map(normalizeUrl);
    if (peerURLs.length === 0) throw new EtcdError(GrpcCode.InvalidArgument, 'etcdserver: no peer URLs given');
    for (const u of peerURLs) {
      if (!/^https?:\/\/[^/]+:\d+$/.test(u)) throw new EtcdError(GrpcCode.InvalidArgument, `etcdserver: invalid peer URL ${u}`);
    }
    const taken = new Set(this.node.members().flatMap((m) => m.peerURLs.map(normalizeUrl)));
    if (peerURLs.some((u) => taken.has(u))) throw Errors.peerURLExist();
    const ID = memberIdFor(peerURLs, this.opts.initialClusterToken, String(Date.now()));
    await this.confChange(req.isLearner ? ConfChangeType.AddLearner : ConfChangeType.AddVoter, ID, { name: '', peerURLs, clientURLs: [] });
    const members = this.members();
    const member = members.find((m) => m.ID === ID) ?? { ID, name: '', peerURLs, clientURLs: [], isLearner: req.isLearner };
    return { header: this.headerNoRevision(), member, members };
  }

  async memberRemove(req: { ID: number }): Promise<api.MemberRemoveResponse> {
    if (!this.members().some((m) => m.ID === req.ID)) throw Errors.memberNotFound();
    await this.confChange(ConfChangeType.RemoveNode, req.ID);
    return { header: this.headerNoRevision(), members: this.members() };
  }

  async memberPromote(req: { ID: number }): Promise<api.MemberListResponse> {
    const m = this.members().find((x) => x.ID === req.ID);
    if (!m) throw Errors.memberNotFound();
    if (!m.isLearner) throw Errors.memberNotLearner();
    if (!this.node.isLeader()) {
      await this.forward('member/promote', { ID: String(req.ID) });
      return { header: this.headerNoRevision(), members: this.members() };
    }
    // Like etcd: promote only a learner that holds at least 90% of the leader's log.
    const progress = this.node['core'].progress();
    const match = progress?.get(req.ID)?.match ?? 0;
    if (match < this.node.status().commit * 0.9) throw Errors.learnerNotReady();
    await this.confChange(ConfChangeType.AddVoter, req.ID);
    return { header: this.headerNoRevision(), members: this.members() };
  }

  // ---- Maintenance ----------------------------------------------------------------------------

  async status(): Promise<api.StatusResponse> {
    const st = this.node.status();
    const size = this.store.dbSize();
    return {
      header: this.header(this.store.currentRevision()),
      version: SERVER_VERSION,
      dbSize: size,
      leader: st.lead,
      raftIndex: st.commit,
      raftTerm: st.term,
      raftAppliedIndex: st.applied,
      dbSizeInUse: size,
      errors: this.store.alarms().map(alarmText),
      isLearner: st.confState.learners.includes(this.memberId) || undefined,
    };
  }

  async alarm(req: api.AlarmRequest): Promise<api.AlarmResponse> {
    if (req.action === AlarmAction.GET) {
      // A linearizable read (etcd 3.4 sends the GET through the log): no alarm raised before it is missed.
      if (!this.opts.testOnlyUnsafeLocalReads) await this.linearize();
      return { alarms: [...this.store.alarms()] };
    }
    if (req.action !== AlarmAction.ACTIVATE && req.action !== AlarmAction.DEACTIVATE) return { alarms: [] };
    if (!Number.isSafeInteger(req.memberID)) throw new EtcdError(GrpcCode.InvalidArgument, 'kvd: an alarm memberID must be below 2^53 (as every kvd member ID is)');
    return (await this.propose({ alarm: req })) as api.AlarmResponse;
  }

  async hashKV(req: api.HashKVRequest): Promise<api.HashKVResponse> {
    const r = await this.store.hashKV(Math.max(0, req.revision));
    return { header: this.header(r.revision), hash: r.hash, compact_revision: r.compactRevision };
  }

  async hash(): Promise<api.HashResponse> {
    const r = await this.store.hashKV(0);
    return { header: this.header(r.revision), hash: r.hash };
  }

  async defragment(): Promise<void> {
    const t0 = performance.now();
    await this.store.defragment();
    this.log.info({ ms: Math.round(performance.now() - t0) }, 'defragmented the store');
  }

  async transferLeadership(req: { targetID: number }): Promise<{ header: api.ResponseHeader }> {
    if (!this.node.isLeader()) throw Errors.notLeader();
    const voters = this.node.status().confState.voters;
    if (!voters.includes(req.targetID) || req.targetID === this.memberId) throw Errors.badLeaderTransferee();
    try {
      await this.node.transferLeadership(req.targetID);
    } catch {
      throw Errors.timeout();
    }
    return { header: this.header(this.store.currentRevision()) };
  }

  async *snapshot(): AsyncIterable<Uint8Array> {
    const data = await this.store.snapshot();
    const chunk = 64 * 1024;
    for (let off = 0; off < data.length; off += chunk) yield data.subarray(off, Math.min(off + chunk, data.length));
    if (data.length === 0) yield new Uint8Array(0);
  }

  async health(): Promise<{ health: boolean; reason?: string }> {
    if (this.node.leaderId() === 0) return { health: false, reason: 'RAFT NO LEADER' };
    try {
      await this.node.readIndex({ timeoutMs: 1000 });
      return { health: true };
    } catch {
      return { health: false, reason: 'RAFT READ INDEX TIMEOUT' };
    }
  }

  version(): { etcdserver: string; etcdcluster: string } {
    return { etcdserver: SERVER_VERSION, etcdcluster: CLUSTER_VERSION };
  }

  metrics(): Promise<{ contentType: string; body: string }> {
    return this.promMetrics.text();
  }

  // ---- Internals ------------------------------------------------------------------------------

  header(revision?: number): api.ResponseHeader {
    return { cluster_id: this.clusterId, member_id: this.memberId, revision, raft_term: this.node.term() };
  }

  private headerNoRevision(): api.ResponseHeader {
    return { cluster_id: this.clusterId, member_id: this.memberId, raft_term: this.node.term() };
  }

  private members(): api.Member[] {
    return this.node.members().map((m) => ({
      ID: m.id,
      name: m.name,
      peerURLs: m.peerURLs,
      clientURLs: m.clientURLs,
      isLearner: m.isLearner || undefined,
    }));
  }

  private async propose(req: InternalRequest, quota?: typeof QUOTA_CHECKED): Promise<unknown> {
    const payload = encodeRequest(req);
    if (payload.length > MAX_REQUEST_BYTES) throw Errors.requestTooLarge();
    if (quota && this.store.dbSize() + payload.length + QUOTA_OVERHEAD_BYTES > this.quotaBytes) await this.raiseNoSpace();
    let result: unknown;
    try {
      result = await this.node.propose(payload);
    } catch (err) {
      this.promMetrics.proposalsFailed.inc();
      throw this.mapRaftError(err);
    }
    if (result instanceof EtcdError) throw result;
    return result;
  }

  /** This member's HashKV at its current revision. */
  private async ownHash(): Promise<MemberHash & { revision: number }> {
    const r = await this.store.hashKV(0);
    return { memberId: this.memberId, hash: r.hash, compactRevision: r.compactRevision, revision: r.revision };
  }

  /** Another member's hash at `revision`: once it has applied it, or (`local`) from what it has applied. */
  private askHash(clientURL: string, revision: number, local: boolean): Promise<{ hash: number; compactRevision: number }> {
    const unreachable = () => new EtcdError(GrpcCode.Unavailable, `no answer from ${clientURL}`);
    return callMember(this.agents, clientURL, 'hashkv', { revision, local }, local ? 5000 : this.node.requestTimeoutMs, { unreachable });
  }

  /** Every other member that has published a client URL. */
  private peerClientURLs(): { memberId: number; clientURL: string }[] {
    return this.node
      .members()
      .filter((m) => m.id !== this.memberId && m.clientURLs.length > 0)
      .map((m) => ({ memberId: m.id, clientURL: m.clientURLs[0]! }));
  }

  /**
   * This member's store would exceed the quota: raise the NOSPACE alarm (once; through the log, so
   * that every member refuses the same writes from then on) and refuse the write, as etcd does.
   */
  private async raiseNoSpace(): Promise<never> {
    if (!isRaised(this.store.alarms(), this.memberId, AlarmType.NOSPACE)) {
      this.log.warn({ dbSize: this.store.dbSize(), quota: this.quotaBytes }, 'the store reached --quota-backend-bytes: raising a NOSPACE alarm');
      await this.propose({ alarm: { action: AlarmAction.ACTIVATE, memberID: this.memberId, alarm: AlarmType.NOSPACE } }).catch((err: unknown) => {
        this.log.warn({ err }, 'could not raise the NOSPACE alarm');
      });
    }
    throw Errors.noSpace();
  }

  private async linearize(): Promise<void> {
    try {
      await this.node.readIndex();
    } catch (err) {
      throw this.mapRaftError(err);
    }
  }

  private async confChange(type: ConfChangeType, nodeId: number, member?: Omit<MemberInfo, 'id'>): Promise<void> {
    try {
      await this.node.proposeConfChange({ type, nodeId, member });
    } catch (err) {
      if (err instanceof RaftError && err.code === 'ProposalDropped' && /already in progress|not committed an entry/.test(err.message)) {
        throw new EtcdError(GrpcCode.FailedPrecondition, 'etcdserver: unhealthy cluster');
      }
      throw this.mapRaftError(err);
    }
  }

  private mapRaftError(err: unknown): Error {
    if (err instanceof EtcdError) return err;
    if (err instanceof RaftError) {
      switch (err.code) {
        case 'ProposalDropped':
          return this.node.leaderId() === 0 ? Errors.noLeader() : Errors.leaderChanged();
        case 'ProposalTimeout':
        case 'ReadTimeout':
          return Errors.timeout();
        case 'Stopped':
          return Errors.stopped();
        case 'TooManyRequests':
          return Errors.tooManyRequests();
      }
    }
    this.log.error({ err }, 'kvd: unexpected error');
    return new EtcdError(GrpcCode.Unknown, (err as Error).message);
  }

  /** Calls the leader's internal endpoint (for what only the leader knows: lease deadlines, learner progress). */
  /**
   * Sends a leader-only request to the leader. It is given up with "leader changed" as soon as this
   * member sees another leader (or none), not at its timeout: a request forwarded to a leader that
   * hangs (stopped, partitioned) would otherwise hold the caller for the whole request timeout, and
   * a lease keep-alive stuck so loses its lease while a new leader is there to answer.
   */
  private async forward<T>(path: string, body: unknown): Promise<T> {
    const leaderId = this.node.leaderId();
    const leader = this.node.members().find((m) => m.id === leaderId);
    if (!leader) throw Errors.noLeader();
    if (leader.clientURLs.length === 0) throw Errors.notCapable();
    return forwardToLeader<T>(this.agents, leader.clientURLs[0]!, path, body, this.node.requestTimeoutMs, this.leaderTerm.signal);
  }

  private onLeaderChange(leader: number): void {
    this.leaderTerm.abort();
    this.leaderTerm = unlimitedController();
    this.promMetrics.leaderChanges.inc();
    if (leader === this.memberId) {
      // A new leader must not expire leases early: every lease gets its full TTL again, plus an
      // election timeout for the keep-alives that were on their way to the old leader (as etcd).
      this.store.promote(this.opts.electionMs ?? 1000);
      this.startLeaseExpiry();
    } else {
      this.store.demote();
      this.stopLeaseExpiry();
    }
    if (leader !== 0 && !this.published) void this.publish();
  }

  /** Makes this member's name and client URLs known to the cluster (etcd's publish). */
  private async publish(): Promise<void> {
    const mine = this.node.members().find((m) => m.id === this.memberId);
    const same =
      mine && mine.name === this.opts.name && mine.clientURLs.join(',') === this.opts.advertiseClientURLs.join(',');
    if (same) {
      this.published = true;
      return;
    }
    try {
      await this.node.publishAttributes({ name: this.opts.name, clientURLs: this.opts.advertiseClientURLs });
      this.published = true;
      this.log.info('kvd: published this member’s name and client URLs');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'kvd: could not publish member attributes yet; will retry at the next leader change');
    }
  }

  /**
   * Expiry runs on a timer set to the earliest lease deadline (capped at leaseCheckMs), so that a
   * lease is revoked when its TTL runs out rather than up to a polling interval later: etcd polls
   * every 500 ms, which let a dead holder's keys outlive its TTL by as much.
   */
  private startLeaseExpiry(): void {
    if (this.leaseTimer || this.stopped) return;
    const clock = this.opts.clock ?? Date.now;
    const cap = this.opts.leaseCheckMs ?? 500;
    const wait = Math.min(cap, Math.max(0, this.store.nextLeaseDeadline() - clock()));
    this.leaseTimer = setTimeout(() => {
      this.leaseTimer = undefined;
      this.revokeExpired();
      if (this.node.isLeader()) this.startLeaseExpiry();
    }, wait);
    this.leaseTimer.unref();
  }

  private stopLeaseExpiry(): void {
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    this.leaseTimer = undefined;
  }

  /** Only the leader expires leases, by proposing their revocation through Raft. */
  private revokeExpired(): void {
    if (!this.node.isLeader()) return;
    // Under a CORRUPT alarm every revoke would be refused: proposing them each tick only fills the log.
    if (this.store.alarms().some((a) => a.alarm === AlarmType.CORRUPT)) return;
    for (const ID of this.store.expired(500)) {
      if (this.revoking.has(ID)) continue;
      this.revoking.add(ID);
      this.propose({ lease_revoke: { ID } })
        .catch((err) => {
          if (!(err instanceof EtcdError && err.grpcCode === GrpcCode.NotFound)) {
            this.log.warn({ lease: ID.toString(), err: (err as Error).message }, 'kvd: revoking an expired lease failed; will retry');
          }
        })
        .finally(() => this.revoking.delete(ID));
    }
  }

  /** The member's internal endpoints on the client port (member to member only). */
  async serveInternal(path: string, body: Record<string, unknown>): Promise<unknown> {
    if (path === 'lease/keepalive' || path === 'lease/timetolive' || path === 'member/promote') {
      if (!this.node.isLeader()) throw Errors.notLeader();
    }
    switch (path) {
      case 'lease/keepalive': {
        const r = this.store.leaseKeepAlive({ ID: BigInt(String(body.ID)) });
        return { TTL: String(r.TTL) };
      }
      case 'lease/timetolive': {
        const r = await this.store.leaseTimeToLiveSettled({ ID: BigInt(String(body.ID)), keys: !!body.keys });
        return { TTL: String(r.TTL), grantedTTL: String(r.grantedTTL), keys: r.keys.map((k) => Buffer.from(k).toString('base64')) };
      }
      case 'hashkv': {
        // Asked by the leader's corruption check: answer once this member has applied the revision
        // (a linearizable read waits for everything committed when it started). A member starting
        // up asks for what is applied already (`local`): it is a future revision if not.
        if (body.local !== true) await this.linearize();
        const r = await this.store.hashKV(Number(body.revision));
        return { hash: r.hash, compactRevision: r.compactRevision };
      }
      case 'member/promote': {
        await this.memberPromote({ ID: Number(body.ID) });
        return {};
      }
      default:
        throw new EtcdError(GrpcCode.NotFound, `unknown internal endpoint ${path}`);
    }
  }

  /** Plain HTTP on the peer port: a joining member asks who is in the cluster. */
  servePeerHttp(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
    if (req.method === 'GET' && req.url === '/flotilla/cluster') {
      const body = JSON.stringify({ clusterId: this.clusterId, members: this.node.members() });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
  }

  observeRequest(method: string, code: number, seconds: number): void {
    this.promMetrics.observeRequest(method, code, seconds);
  }

  isLeader(): boolean {
    return this.node.isLeader();
  }
}

/** An AbortController whose signal takes any number of listeners (one per forwarded request). */
function unlimitedController(): AbortController {
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  return ac;
}

function throwIf(err: EtcdError | undefined): void {
  if (err) throw err;
}

function randomLeaseId(): bigint {
  for (;;) {
    const id = randomBytes(8).readBigUInt64BE() & 0x7fffffffffffffffn;
    if (id !== 0n) return id;
  }
}

function normalizeUrl(u: string): string {
  return u.replace(/\/$/, '');
}

function peersOtherThan(opts: KvMemberOptions): string[] {
  const mine = new Set(opts.advertisePeerURLs.map(normalizeUrl));
  return [...opts.initialCluster.values()].flat().map(normalizeUrl).filter((u) => !mine.has(u));
}

/**
 * This member's id and its cluster's: read from the data directory after the first start;
 * computed from --initial-cluster for a new cluster; asked of the existing members when joining
 * (then with the members they named, which the Raft node starts from).
 */
async function resolveIdentity(opts: KvMemberOptions, log: Logger): Promise<{ identity: MemberIdentity; joinedMembers?: MemberInfo[] }> {
  const file = join(opts.dataDir, 'member.json');
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as MemberIdentity;
    if (saved.name !== opts.name) log.warn({ saved: saved.name, flag: opts.name }, 'kvd: --name differs from the data directory; keeping the data directory’s identity');
    return { identity: saved };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  let identity: MemberIdentity;
  let joinedMembers: MemberInfo[] | undefined;
  if (opts.initialClusterState === 'new') {
    const ids = [...opts.initialCluster.values()].map((urls) => memberIdFor(urls, opts.initialClusterToken));
    identity = {
      memberId: memberIdFor(opts.advertisePeerURLs, opts.initialClusterToken),
      clusterId: clusterIdFor(ids, opts.initialClusterToken),
      name: opts.name,
    };
  } else {
    const info = await askToJoin(peersOtherThan(opts), opts.peerTls, log);
    const mine = new Set(opts.advertisePeerURLs.map(normalizeUrl));
    const me = info.members.find((m) => m.peerURLs.some((u) => mine.has(normalizeUrl(u))));
    if (!me) {
      throw new EtcdError(
        GrpcCode.FailedPrecondition,
        `this member (peer URLs ${opts.advertisePeerURLs.join(',')}) is not in the cluster: add it first with "kvctl member add ${opts.name} --peer-urls=${opts.advertisePeerURLs.join(',')}"`,
      );
    }
    identity = { memberId: me.id, clusterId: info.clusterId, name: opts.name };
    joinedMembers = info.members;
  }
  await writeFile(`${file}.tmp`, JSON.stringify(identity));
  await rename(`${file}.tmp`, file);
  return { identity, joinedMembers };
}

/** A joining member's question to the existing ones (on their peer ports), over TLS when those are https://. */
async function askToJoin(peerURLs: string[], tls: PeerTls | undefined, log: Logger): Promise<ClusterInfo> {
  const agents = new MemberAgents(tls?.dial);
  try {
    return await fetchClusterInfo(agents, peerURLs, log);
  } finally {
    agents.close();
  }
}
