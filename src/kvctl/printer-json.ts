// The json format: Go's encoding/json of the structs etcdctl prints (the gRPC messages, clientv3's
// wrappers for watch and leases, etcdctl's own for endpoint status/health), one line each.
import type {
  AlarmResponse,
  DeleteRangeResponse,
  Event,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  Member,
  MemberAddResponse,
  MemberListResponse,
  PutResponse,
  RangeResponse,
  ResponseHeader,
  TxnResponse,
} from '../client/index.js';
import { goDuration } from './format.js';
import type { KvctlIo } from './io.js';
import { b64, encodeJson, headerJson, kvJson, omit, type JsonValue } from './json.js';
import type { HashKVDisplay, HealthDisplay, Printer, SnapshotStatus, StatusDisplay, WatchDisplay } from './printer.js';

type Obj = { [k: string]: JsonValue | undefined };

export function rangeJson(r: RangeResponse): Obj {
  return { header: headerJson(r.header), kvs: omit(r.kvs.map(kvJson)), more: omit(r.more), count: omit(r.count) };
}

export function putJson(r: PutResponse): Obj {
  return { header: headerJson(r.header), prev_kv: r.prev_kv ? kvJson(r.prev_kv) : undefined };
}

export function delJson(r: DeleteRangeResponse): Obj {
  return { header: headerJson(r.header), deleted: omit(r.deleted), prev_kvs: omit(r.prev_kvs.map(kvJson)) };
}

/** A txn's responses are Go oneofs: `{"Response":{"ResponsePut":{...}}}`. */
export function txnJson(r: TxnResponse): Obj {
  const responses = r.responses.map((op): JsonValue => {
    if ('response_range' in op) return { Response: { ResponseRange: rangeJson(op.response_range) } };
    if ('response_put' in op) return { Response: { ResponsePut: putJson(op.response_put) } };
    if ('response_delete_range' in op) return { Response: { ResponseDeleteRange: delJson(op.response_delete_range) } };
    return { Response: { ResponseTxn: txnJson(op.response_txn) } };
  });
  return { header: headerJson(r.header), succeeded: omit(r.succeeded), responses: omit(responses) };
}

export function eventJson(e: Event): JsonValue {
  return { type: omit(e.type as number), kv: kvJson(e.kv), prev_kv: e.prev_kv ? kvJson(e.prev_kv) : undefined };
}

export function memberJson(m: Member): JsonValue {
  return {
    ID: omit(m.ID),
    name: omit(m.name),
    peerURLs: omit(m.peerURLs),
    clientURLs: omit(m.clientURLs),
    isLearner: omit(m.isLearner),
  };
}

export class JsonPrinter implements Printer {
  constructor(private readonly io: KvctlIo) {}

  private print(v: JsonValue): void {
    this.io.stdout(`${encodeJson(v)}\n`);
  }

  get(r: RangeResponse): void {
    this.print(rangeJson(r));
  }

  put(r: PutResponse): void {
    this.print(putJson(r));
  }

  del(r: DeleteRangeResponse): void {
    this.print(delJson(r));
  }

  txn(r: TxnResponse): void {
    this.print(txnJson(r));
  }

  /** clientv3.WatchResponse: exported Go field names, nothing omitted. */
  watch(r: WatchDisplay): void {
    this.print({
      Header: headerJson(r.header),
      Events: r.events.map(eventJson),
      CompactRevision: r.compactRevision,
      Canceled: r.canceled,
      Created: r.created,
    });
  }

  /** clientv3's lease answers embed the header: its fields come first, flattened. */
  grant(r: LeaseGrantResponse): void {
    this.print({ ...headerJson(r.header), ID: r.ID, TTL: r.TTL, Error: r.error ?? '' });
  }

  revoke(_id: bigint, r: LeaseRevokeResponse): void {
    this.print({ header: headerJson(r.header) });
  }

  keepAlive(r: LeaseKeepAliveResponse): void {
    this.print({ ...headerJson(r.header), ID: r.ID, TTL: r.TTL });
  }

  timeToLive(r: LeaseTimeToLiveResponse): void {
    this.print({
      ...headerJson(r.header),
      id: r.ID,
      ttl: r.TTL,
      'granted-ttl': r.grantedTTL,
      keys: r.keys.length ? r.keys.map((k) => b64(k)) : null,
    });
  }

  leases(r: LeaseLeasesResponse): void {
    this.print({ ...headerJson(r.header), leases: r.leases.map((l) => ({ id: l.ID })) });
  }

  memberAdd(r: MemberAddResponse): void {
    this.print({ header: headerJson(r.header), member: memberJson(r.member), members: omit(r.members.map(memberJson)) });
  }

  memberRemove(_id: bigint, r: MemberListResponse): void {
    this.memberList(r);
  }

  memberUpdate(_id: bigint, r: MemberListResponse): void {
    this.memberList(r);
  }

  memberPromote(_id: bigint, r: MemberListResponse): void {
    this.memberList(r);
  }

  memberList(r: MemberListResponse): void {
    this.print({ header: headerJson(r.header), members: omit(r.members.map(memberJson)) });
  }

  endpointHealth(list: HealthDisplay[]): void {
    this.print(list.map((h) => ({ endpoint: h.ep, health: h.health, took: goDuration(h.took * 1e6), error: omit(h.error) })));
  }

  endpointStatus(list: StatusDisplay[]): void {
    this.print(
      list.map((s) => ({
        Endpoint: s.ep,
        Status: {
          header: headerJson(s.header),
          version: omit(s.version),
          dbSize: omit(s.dbSize),
          leader: omit(s.leader),
          raftIndex: omit(s.raftIndex),
          raftTerm: omit(s.raftTerm),
          raftAppliedIndex: omit(s.raftAppliedIndex),
          errors: omit(s.errors),
          dbSizeInUse: omit(s.dbSizeInUse),
          isLearner: omit(s.isLearner),
        },
      })),
    );
  }

  alarms(r: AlarmResponse): void {
    this.print({ alarms: omit(r.alarms.map((a) => ({ memberID: omit(a.memberID), alarm: omit(a.alarm) }))) });
  }

  endpointHashKV(list: HashKVDisplay[]): void {
    this.print(
      list.map((h) => ({
        Endpoint: h.ep,
        HashKV: { header: headerJson(h.header), hash: omit(h.hash), compact_revision: omit(h.compact_revision) },
      })),
    );
  }

  moveLeader(_leader: bigint, _target: bigint, header: ResponseHeader): void {
    const h = headerJson(header);
    this.print(Object.values(h).some((v) => v !== undefined) ? { header: h } : {});
  }

  snapshotStatus(s: SnapshotStatus): void {
    this.print({ hash: s.hash, revision: s.revision, totalKey: s.totalKey, totalSize: s.totalSize });
  }
}
