// An in-memory KvService for the front end's tests: one member, no Raft, but etcd 3.4's answers for
// what the tests exercise (revisions, ranges, txns with etcd's inner headers, compaction, leases,
// watches with history and compaction, members, status, snapshots) and etcd's errors.
import * as api from '../../src/kv/api.js';
import { Errors } from '../../src/util/errors.js';
import type { KvService, WatchSession, WatchSink } from '../../src/server/service.js';

const key = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const EMPTY = new Uint8Array(0);

interface Lease {
  id: bigint;
  ttl: number;
  expiresAt: number;
  keys: Set<string>;
}

interface Watcher {
  id: number;
  session: FakeWatchSession;
  key: string;
  end: string | null; // null: one key; '': all keys >= key
  prevKv: boolean;
  noPut: boolean;
  noDelete: boolean;
  nextRev: number;
}

function inRange(k: string, from: string, end: string | null): boolean {
  if (end === null) return k === from;
  if (end === '\0') return k >= from;
  return k >= from && k < end;
}

export class FakeKvService implements KvService {
  readonly clusterId = 4224045203433386;
  readonly memberId = 8315221108441839;
  raftTerm = 2;
  revision = 1;
  compactRev = 0;
  /** Every version of every key, tombstones included (value undefined), in revision order. */
  private readonly history = new Map<string, Array<{ kv: api.KeyValue; deleted: boolean }>>();
  private readonly events: Array<{ rev: number; ev: api.Event }> = [];
  readonly leases = new Map<bigint, Lease>();
  private nextLeaseId = 7587862121213245000n;
  private readonly watchers = new Set<Watcher>();
  members: api.Member[] = [{ ID: 8315221108441839, name: 'default', peerURLs: ['http://127.0.0.1:2380'], clientURLs: ['http://127.0.0.1:2379'] }];
  healthy = true;
  snapshotData: Uint8Array = new Uint8Array(100_000).map((_, i) => i % 251);
  /** Errors to throw from the next call of a method (by name). */
  readonly failures = new Map<string, unknown>();
  openSessions = 0;
  now = (): number => Date.now();

  private fail(method: string): void {
    const e = this.failures.get(method);
    if (e !== undefined) {
      this.failures.delete(method);
      throw e;
    }
  }

  header(rev = this.revision): api.ResponseHeader {
    return { cluster_id: this.clusterId, member_id: this.memberId, revision: rev, raft_term: this.raftTerm };
  }

  // ---- MVCC ------------------------------------------------------------------------------------

  private latest(k: string, atRev: number): api.KeyValue | undefined {
    const versions = this.history.get(k);
    if (!versions) return undefined;
    for (let i = versions.length - 1; i >= 0; i--) {
      const v = versions[i]!;
      if (v.kv.mod_revision <= atRev) return v.deleted ? undefined : v.kv;
    }
    return undefined;
  }

  private keysIn(from: string, end: string | null, atRev: number): api.KeyValue[] {
    if (end === null) {
      const kv = this.latest(from, atRev);
      return kv ? [kv] : [];
    }
    const out: api.KeyValue[] = [];
    for (const k of [...this.history.keys()].sort()) {
      if (!inRange(k, from, end)) continue;
      const kv = this.latest(k, atRev);
      if (kv) out.push(kv);
    }
    return out;
  }

  private static endOf(range_end: Uint8Array | undefined): string | null {
    if (!range_end || range_end.length === 0) return null;
    return key(range_end);
  }

  private doRange(r: api.RangeRequest, curRev: number): api.RangeResponse {
    if (r.key.length === 0) throw Errors.emptyKey();
    let rev = r.revision ?? 0;
    if (rev <= 0) rev = curRev;
    else if (rev > curRev) throw Errors.futureRev();
    else if (rev < this.compactRev) throw Errors.compacted();
    const from = key(r.key);
    const end = FakeKvService.endOf(r.range_end);
    let kvs = end !== null && end !== '\0' && end <= from ? [] : this.keysIn(from, end, rev);
    const count = kvs.length;
    kvs = kvs.filter(
      (kv) =>
        (!r.min_mod_revision || kv.mod_revision >= r.min_mod_revision) &&
        (!r.max_mod_revision || kv.mod_revision <= r.max_mod_revision) &&
        (!r.min_create_revision || kv.create_revision >= r.min_create_revision) &&
        (!r.max_create_revision || kv.create_revision <= r.max_create_revision),
    );
    let order = r.sort_order ?? api.SortOrder.NONE;
    const target = r.sort_target ?? api.SortTarget.KEY;
    if (order === api.SortOrder.NONE && target !== api.SortTarget.KEY) order = api.SortOrder.ASCEND;
    if (order !== api.SortOrder.NONE) {
      const val = (kv: api.KeyValue): string | number =>
        target === api.SortTarget.KEY
          ? key(kv.key)
          : target === api.SortTarget.VERSION
            ? kv.version
            : target === api.SortTarget.CREATE
              ? kv.create_revision
              : target === api.SortTarget.MOD
                ? kv.mod_revision
                : key(kv.value);
      kvs.sort((a, b) => (val(a) < val(b) ? -1 : val(a) > val(b) ? 1 : 0));
      if (order === api.SortOrder.DESCEND) kvs.reverse();
    }
    let more = false;
    const limit = r.limit ?? 0;
    if (r.count_only) {
      kvs = [];
    } else if (limit > 0 && kvs.length > limit) {
      kvs = kvs.slice(0, limit);
      more = true;
    }
    if (r.keys_only) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }));
    return { header: this.header(curRev), kvs, more, count };
  }

  private checkPut(r: api.PutRequest): void {
    if (r.key.length === 0) throw Errors.emptyKey();
    if (r.ignore_value && r.value && r.value.length > 0) throw Errors.valueProvided();
    if (r.ignore_lease && r.lease) throw Errors.leaseProvided();
  }

  /** Applies a put at `rev` (sub-revisions are not modelled). */
  private doPut(r: api.PutRequest, rev: number, changes: api.Event[]): api.PutResponse {
    const k = key(r.key);
    const prev = this.latest(k, rev);
    if ((r.ignore_value || r.ignore_lease) && !prev) throw Errors.keyNotFound();
    const lease = r.ignore_lease ? (prev?.lease ?? 0n) : (r.lease ?? 0n);
    if (lease !== 0n && !this.leases.has(lease)) throw Errors.leaseNotFound();
    const kv: api.KeyValue = {
      key: r.key,
      create_revision: prev ? prev.create_revision : rev,
      mod_revision: rev,
      version: prev ? prev.version + 1 : 1,
      value: r.ignore_value ? (prev?.value ?? EMPTY) : (r.value ?? EMPTY),
      lease,
    };
    if (prev && prev.lease !== 0n) this.leases.get(prev.lease)?.keys.delete(k);
    if (lease !== 0n) this.leases.get(lease)?.keys.add(k);
    let versions = this.history.get(k);
    if (!versions) this.history.set(k, (versions = []));
    versions.push({ kv, deleted: false });
    const ev: api.Event = { type: api.EventType.PUT, kv };
    if (prev) ev.prev_kv = prev;
    changes.push(ev);
    const resp: api.PutResponse = { header: this.header(rev) };
    if (r.prev_kv && prev) resp.prev_kv = prev;
    return resp;
  }

  private doDelete(r: api.DeleteRangeRequest, rev: number, changes: api.Event[]): api.DeleteRangeResponse {
    if (r.key.length === 0) throw Errors.emptyKey();
    const from = key(r.key);
    const end = FakeKvService.endOf(r.range_end);
    const doomed = end !== null && end !== '\0' && end <= from ? [] : this.keysIn(from, end, rev);
    for (const prev of doomed) {
      const k = key(prev.key);
      const kv: api.KeyValue = { key: prev.key, create_revision: 0, mod_revision: rev, version: 0, value: EMPTY, lease: 0n };
      this.history.get(k)!.push({ kv, deleted: true });
      if (prev.lease !== 0n) this.leases.get(prev.lease)?.keys.delete(k);
      changes.push({ type: api.EventType.DELETE, kv, prev_kv: prev });
    }
    return { header: this.header(rev), deleted: doomed.length, prev_kvs: r.prev_kv ? doomed : [] };
  }

  /** Publishes the changes of one revision to the watchers. */
  private commit(rev: number, changes: api.Event[]): void {
    if (changes.length === 0) return;
    this.revision = rev;
    for (const ev of changes) this.events.push({ rev, ev });
    for (const w of this.watchers) w.session.deliver(w);
  }

  async range(req: api.RangeRequest): Promise<api.RangeResponse> {
    this.fail('range');
    return this.doRange(req, this.revision);
  }

  async put(req: api.PutRequest): Promise<api.PutResponse> {
    this.fail('put');
    this.checkPut(req);
    const changes: api.Event[] = [];
    const rev = this.revision + 1;
    const resp = this.doPut(req, rev, changes);
    this.commit(rev, changes);
    return resp;
  }

  async deleteRange(req: api.DeleteRangeRequest): Promise<api.DeleteRangeResponse> {
    this.fail('deleteRange');
    const changes: api.Event[] = [];
    const resp = this.doDelete(req, this.revision + 1, changes);
    if (changes.length === 0) resp.header = this.header();
    this.commit(this.revision + 1, changes);
    return resp;
  }

  private checkTxn(r: api.TxnRequest): void {
    if (Math.max(r.compare.length, r.success.length, r.failure.length) > api.MAX_TXN_OPS) throw Errors.tooManyOps();
    for (const c of r.compare) if (c.key.length === 0) throw Errors.emptyKey();
    for (const ops of [r.success, r.failure]) {
      const puts = new Set<string>();
      for (const op of ops) {
        if ('request_put' in op) {
          this.checkPut(op.request_put);
          const k = key(op.request_put.key);
          if (puts.has(k)) throw Errors.duplicateKey();
          puts.add(k);
        } else if ('request_range' in op) {
          if (op.request_range.key.length === 0) throw Errors.emptyKey();
        } else if ('request_delete_range' in op) {
          if (op.request_delete_range.key.length === 0) throw Errors.emptyKey();
        } else if ('request_txn' in op) {
          this.checkTxn(op.request_txn);
        } else {
          throw Errors.keyNotFound();
        }
      }
    }
  }

  private compare(c: api.Compare, rev: number): boolean {
    const kv = this.latest(key(c.key), rev);
    let cmp: number;
    switch (c.target) {
      case api.CompareTarget.VALUE: {
        if (!kv) return false;
        const a = key(kv.value);
        const b = key(c.value ?? EMPTY);
        cmp = a < b ? -1 : a > b ? 1 : 0;
        break;
      }
      case api.CompareTarget.VERSION:
        cmp = Math.sign((kv?.version ?? 0) - (c.version ?? 0));
        break;
      case api.CompareTarget.CREATE:
        cmp = Math.sign((kv?.create_revision ?? 0) - (c.create_revision ?? 0));
        break;
      case api.CompareTarget.MOD:
        cmp = Math.sign((kv?.mod_revision ?? 0) - (c.mod_revision ?? 0));
        break;
      default: {
        const a = kv?.lease ?? 0n;
        const b = c.lease ?? 0n;
        cmp = a < b ? -1 : a > b ? 1 : 0;
      }
    }
    switch (c.result) {
      case api.CompareResult.EQUAL:
        return cmp === 0;
      case api.CompareResult.GREATER:
        return cmp > 0;
      case api.CompareResult.LESS:
        return cmp < 0;
      default:
        return cmp !== 0;
    }
  }

  /** Runs a txn's ops at write revision `rev`; inner headers hold only the revision (as etcd). */
  private runTxn(r: api.TxnRequest, rev: number, changes: api.Event[]): api.TxnResponse {
    const succeeded = r.compare.every((c) => this.compare(c, changes.length > 0 ? rev : rev - 1));
    const responses: api.ResponseOp[] = [];
    for (const op of succeeded ? r.success : r.failure) {
      const seen = changes.length > 0 ? rev : rev - 1;
      if ('request_range' in op) {
        const resp = this.doRange(op.request_range, seen);
        responses.push({ response_range: { ...resp, header: { revision: seen } } });
      } else if ('request_put' in op) {
        const resp = this.doPut(op.request_put, rev, changes);
        responses.push({ response_put: { ...resp, header: { revision: rev } } });
      } else if ('request_delete_range' in op) {
        const resp = this.doDelete(op.request_delete_range, rev, changes);
        responses.push({ response_delete_range: { ...resp, header: { revision: changes.length > 0 ? rev : rev - 1 } } });
      } else if ('request_txn' in op) {
        responses.push({ response_txn: { ...this.runTxn(op.request_txn, rev, changes), header: {} } });
      }
    }
    return { header: {}, succeeded, responses };
  }

  async txn(req: api.TxnRequest): Promise<api.TxnResponse> {
    this.fail('txn');
    this.checkTxn(req);
    const changes: api.Event[] = [];
    const rev = this.revision + 1;
    const resp = this.runTxn(req, rev, changes);
    this.commit(rev, changes);
    resp.header = this.header();
    return resp;
  }

  async compact(req: api.CompactionRequest): Promise<api.CompactionResponse> {
    this.fail('compact');
    if (req.revision <= this.compactRev) throw Errors.compacted();
    if (req.revision > this.revision) throw Errors.futureRev();
    this.compactRev = req.revision;
    return { header: this.header() };
  }

  // ---- leases ----------------------------------------------------------------------------------

  async leaseGrant(req: api.LeaseGrantRequest): Promise<api.LeaseGrantResponse> {
    this.fail('leaseGrant');
    if (req.TTL > api.MAX_LEASE_TTL) throw Errors.leaseTTLTooLarge();
    const ttl = Math.max(req.TTL, 2);
    let id = req.ID ?? 0n;
    if (id === 0n) id = this.nextLeaseId++;
    if (this.leases.has(id)) throw Errors.leaseExist();
    this.leases.set(id, { id, ttl, expiresAt: this.now() + ttl * 1000, keys: new Set() });
    return { header: this.header(), ID: id, TTL: ttl };
  }

  async leaseRevoke(req: api.LeaseRevokeRequest): Promise<api.LeaseRevokeResponse> {
    this.fail('leaseRevoke');
    const l = this.leases.get(req.ID);
    if (!l) throw Errors.leaseNotFound();
    this.leases.delete(req.ID);
    const changes: api.Event[] = [];
    const rev = this.revision + 1;
    for (const k of [...l.keys].sort()) this.doDelete({ key: bytes(k) }, rev, changes);
    this.commit(rev, changes);
    return { header: this.header() };
  }

  async leaseKeepAlive(req: api.LeaseKeepAliveRequest): Promise<api.LeaseKeepAliveResponse> {
    this.fail('leaseKeepAlive');
    const l = this.leases.get(req.ID);
    if (!l) return { header: this.header(), ID: req.ID, TTL: 0 };
    l.expiresAt = this.now() + l.ttl * 1000;
    return { header: this.header(), ID: req.ID, TTL: l.ttl };
  }

  async leaseTimeToLive(req: api.LeaseTimeToLiveRequest): Promise<api.LeaseTimeToLiveResponse> {
    this.fail('leaseTimeToLive');
    const l = this.leases.get(req.ID);
    if (!l) return { header: this.header(), ID: req.ID, TTL: -1, grantedTTL: 0, keys: [] };
    // etcd truncates: a 600 s lease shows 599 at once.
    const remaining = Math.max(0, Math.floor((l.expiresAt - this.now() - 1) / 1000));
    return {
      header: this.header(),
      ID: req.ID,
      TTL: remaining,
      grantedTTL: l.ttl,
      keys: req.keys ? [...l.keys].map(bytes) : [],
    };
  }

  async leaseLeases(): Promise<api.LeaseLeasesResponse> {
    this.fail('leaseLeases');
    return { header: this.header(), leases: [...this.leases.keys()].map((ID) => ({ ID })) };
  }

  // ---- watch -----------------------------------------------------------------------------------

  openWatch(sink: WatchSink): WatchSession {
    this.fail('openWatch');
    this.openSessions++;
    return new FakeWatchSession(this, sink);
  }

  /** @internal */ addWatcher(w: Watcher): void {
    this.watchers.add(w);
  }
  /** @internal */ removeWatcher(w: Watcher): void {
    this.watchers.delete(w);
  }
  /** @internal */ onSessionClosed(): void {
    this.openSessions--;
  }
  /** @internal */ eventsFrom(rev: number): Array<{ rev: number; ev: api.Event }> {
    return this.events.filter((e) => e.rev >= rev);
  }
  /** @internal */ keyOf(b: Uint8Array): string {
    return key(b);
  }

  // ---- cluster and maintenance -----------------------------------------------------------------

  async memberList(): Promise<api.MemberListResponse> {
    this.fail('memberList');
    return { header: this.header(), members: this.members };
  }

  async memberAdd(req: api.MemberAddRequest): Promise<api.MemberAddResponse> {
    this.fail('memberAdd');
    for (const m of this.members) for (const u of m.peerURLs) if (req.peerURLs.includes(u)) throw Errors.peerURLExist();
    const member: api.Member = { ID: 1000 + this.members.length, name: '', peerURLs: req.peerURLs, clientURLs: [] };
    if (req.isLearner) member.isLearner = true;
    this.members = [...this.members, member];
    return { header: this.header(), member, members: this.members };
  }

  async memberRemove(req: { ID: number }): Promise<api.MemberRemoveResponse> {
    this.fail('memberRemove');
    if (!this.members.some((m) => m.ID === req.ID)) throw Errors.memberNotFound();
    this.members = this.members.filter((m) => m.ID !== req.ID);
    return { header: this.header(), members: this.members };
  }

  async memberPromote(req: { ID: number }): Promise<api.MemberListResponse> {
    this.fail('memberPromote');
    const m = this.members.find((x) => x.ID === req.ID);
    if (!m) throw Errors.memberNotFound();
    if (!m.isLearner) throw Errors.memberNotLearner();
    delete m.isLearner;
    return { header: this.header(), members: this.members };
  }

  async status(): Promise<api.StatusResponse> {
    this.fail('status');
    return {
      header: this.header(),
      version: '3.4.23',
      dbSize: 20480,
      leader: this.memberId,
      raftIndex: 18,
      raftTerm: this.raftTerm,
      raftAppliedIndex: 18,
      dbSizeInUse: 16384,
    };
  }

  alarms: api.AlarmMember[] = [];

  async alarm(req: api.AlarmRequest): Promise<api.AlarmResponse> {
    this.fail('alarm');
    if (req.action === 0) return { alarms: this.alarms };
    const one = { memberID: req.memberID, alarm: req.alarm };
    const at = this.alarms.findIndex((a) => a.memberID === req.memberID && a.alarm === req.alarm);
    if (req.action === 1) {
      if (at === -1) this.alarms.push(one);
      return { alarms: [one] };
    }
    if (at === -1) return { alarms: [] };
    this.alarms.splice(at, 1);
    return { alarms: [one] };
  }

  /** Revisions whose hash was asked, and defragment calls: what the gateway passed on. */
  readonly hashedAt: number[] = [];
  defragments = 0;

  async hashKV(req: api.HashKVRequest): Promise<api.HashKVResponse> {
    this.fail('hashKV');
    if (req.revision > 0 && req.revision <= this.compactRev) throw Errors.compacted();
    if (req.revision > this.revision) throw Errors.futureRev();
    this.hashedAt.push(req.revision);
    // Above 2^31, to show it stays a JSON number; differs by revision.
    return { header: this.header(), hash: 3_000_000_000 + (req.revision > 0 ? req.revision : this.revision), compact_revision: this.compactRev || -1 };
  }

  async hash(): Promise<api.HashResponse> {
    this.fail('hash');
    return { header: this.header(), hash: 3_000_000_000 + this.revision };
  }

  async defragment(): Promise<void> {
    this.fail('defragment');
    this.defragments++;
  }

  async transferLeadership(req: { targetID: number }): Promise<{ header: api.ResponseHeader }> {
    this.fail('transferLeadership');
    if (!this.members.some((m) => m.ID === req.targetID)) throw Errors.badLeaderTransferee();
    return { header: this.header() };
  }

  async *snapshot(): AsyncIterable<Uint8Array> {
    this.fail('snapshot');
    const d = this.snapshotData;
    for (let i = 0; i < d.length; i += 10_000) {
      yield d.subarray(i, Math.min(d.length, i + 10_000));
      await Promise.resolve();
    }
    const e = this.failures.get('snapshot-mid');
    if (e !== undefined) {
      this.failures.delete('snapshot-mid');
      throw e;
    }
  }

  async health(): Promise<{ health: boolean; reason?: string }> {
    this.fail('health');
    return this.healthy ? { health: true } : { health: false, reason: 'no leader' };
  }

  version(): { etcdserver: string; etcdcluster: string } {
    this.fail('version');
    return { etcdserver: '3.4.23', etcdcluster: '3.4.0' };
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    this.fail('metrics');
    return {
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      body: '# HELP etcd_server_has_leader Whether or not a leader exists.\n# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\n',
    };
  }
}

class FakeWatchSession implements WatchSession {
  private nextId = 0;
  private readonly mine = new Map<number, Watcher>();
  private queue: api.WatchResponse[] = [];
  private flushing = false;
  private closed = false;

  constructor(
    private readonly svc: FakeKvService,
    private readonly sink: WatchSink,
  ) {}

  /** Sends in order, waiting whenever the sink asks to (backpressure). */
  private send(resp: api.WatchResponse): void {
    if (this.closed) return;
    this.queue.push(resp);
    if (!this.flushing) void this.flush();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.queue.length > 0 && !this.closed) {
      const r = this.queue.shift()!;
      const wait = this.sink(r);
      if (wait) await wait;
    }
    this.flushing = false;
  }

  handle(req: api.WatchRequest): void {
    if (this.closed) return;
    const svc = this.svc;
    if ('create_request' in req) {
      const c = req.create_request;
      let id = c.watch_id ?? 0;
      if (id === 0) {
        while (this.mine.has(this.nextId)) this.nextId++;
        id = this.nextId++;
      } else if (this.mine.has(id)) {
        this.send({
          header: svc.header(),
          watch_id: -1,
          created: true,
          canceled: true,
          cancel_reason: 'mvcc: duplicate watch ID provided on the WatchStream',
          events: [],
        });
        return;
      }
      const start = c.start_revision ?? 0;
      this.send({ header: svc.header(), watch_id: id, created: true, events: [] });
      if (start > 0 && start < svc.compactRev) {
        this.send({ header: { ...svc.header(), revision: 0 }, watch_id: id, canceled: true, compact_revision: svc.compactRev, events: [] });
        return;
      }
      const end = c.range_end && c.range_end.length > 0 ? svc.keyOf(c.range_end) : null;
      const w: Watcher = {
        id,
        session: this,
        key: svc.keyOf(c.key),
        end,
        prevKv: c.prev_kv ?? false,
        noPut: (c.filters ?? []).includes(api.WatchFilterType.NOPUT),
        noDelete: (c.filters ?? []).includes(api.WatchFilterType.NODELETE),
        nextRev: start > 0 ? start : svc.revision + 1,
      };
      this.mine.set(id, w);
      svc.addWatcher(w);
      this.deliver(w);
    } else if ('cancel_request' in req) {
      const w = this.mine.get(req.cancel_request.watch_id);
      if (!w) return;
      this.mine.delete(w.id);
      svc.removeWatcher(w);
      this.send({ header: svc.header(), watch_id: w.id, canceled: true, events: [] });
    } else {
      this.send({ header: svc.header(), watch_id: -1, events: [] });
    }
  }

  /** Sends the watcher's events from its next revision on: history in one message, then one per revision. */
  deliver(w: Watcher): void {
    const svc = this.svc;
    const all = svc.eventsFrom(w.nextRev).filter(({ ev }) => inRange(svc.keyOf(ev.kv.key), w.key, w.end));
    if (svc.revision < w.nextRev) return;
    w.nextRev = svc.revision + 1;
    const evs = all
      .filter(({ ev }) => !(ev.type === api.EventType.PUT ? w.noPut : w.noDelete))
      .map(({ ev }) => {
        const out: api.Event = { type: ev.type, kv: ev.kv };
        if (w.prevKv && ev.prev_kv) out.prev_kv = ev.prev_kv;
        return out;
      });
    if (evs.length > 0) this.send({ header: svc.header(), watch_id: w.id, events: evs });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.mine.values()) this.svc.removeWatcher(w);
    this.mine.clear();
    this.svc.onSessionClosed();
  }
}
