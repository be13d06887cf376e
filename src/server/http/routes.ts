// The gateway's endpoints: path (after /v3 or /v3beta) -> how to decode, call and encode.
import type * as api from '../../kv/api.js';
import { isTxnReadOnly } from '../../kv/txn.js';
import { EtcdError, GrpcCode } from '../../util/errors.js';
import type { KvService } from '../service.js';
import * as dec from './codec/decode.js';
import * as enc from './codec/encode.js';
import type { JsonValue } from './codec/json.js';
import { deleteRangeSize, putSize, rangeSize, txnSize } from './codec/proto-size.js';
import { checkPutRequest, checkTxnRequest, hasEmptyOp } from './validate.js';

export interface UnaryRoute {
  readonly kind: 'unary';
  readonly decode: (v: JsonValue) => unknown;
  readonly call: (svc: KvService, req: unknown) => Promise<unknown>;
  readonly encode: (resp: unknown) => string;
  /** Protobuf size of the request (for gRPC's message limit); absent for small messages. */
  readonly size?: (req: unknown) => number;
  /** Whether the request goes through Raft (and so under the 1.5 MiB entry limit). */
  readonly raft?: (req: unknown) => boolean;
  /** etcd's own checks, run before the size limit when a request is over it (see validate.ts). */
  readonly check?: (req: unknown) => void;
  /** Checks that must always run in the front end (the service cannot see the problem). */
  readonly precheck?: (req: unknown) => void;
}

export type Route = UnaryRoute | { readonly kind: 'watch' } | { readonly kind: 'keepalive' } | { readonly kind: 'snapshot' };

function unary<Req, Resp>(r: {
  decode: (v: JsonValue) => Req;
  call: (svc: KvService, req: Req) => Promise<Resp>;
  encode: (resp: Resp) => string;
  size?: (req: Req) => number;
  raft?: (req: Req) => boolean;
  check?: (req: Req) => void;
  precheck?: (req: Req) => void;
}): UnaryRoute {
  return { kind: 'unary', ...r } as unknown as UnaryRoute;
}

const always = (): boolean => true;

/** MoveLeader's and Defragment's responses in etcd 3.4 have no header at all. */
const encodeEmpty = (): string => '{}';

function memberUpdate(svc: KvService, req: { ID: number; peerURLs: string[] }): Promise<api.MemberRemoveResponse> {
  const fn = (svc as unknown as { memberUpdate?: (r: { ID: number; peerURLs: string[] }) => Promise<api.MemberRemoveResponse> }).memberUpdate;
  if (typeof fn !== 'function') {
    return Promise.reject(new EtcdError(GrpcCode.Unimplemented, 'etcdserver: member update is not implemented by kvd'));
  }
  return fn.call(svc, req);
}

const leaseRevoke = unary({
  decode: dec.decodeLeaseIdRequest,
  call: (s, r) => s.leaseRevoke(r),
  encode: enc.encodeHeaderOnly,
});
const leaseTimeToLive = unary({
  decode: dec.decodeLeaseTimeToLiveRequest,
  call: (s, r) => s.leaseTimeToLive(r),
  encode: enc.encodeLeaseTimeToLiveResponse,
});
const leaseLeases = unary({
  decode: dec.decodeEmpty,
  call: (s) => s.leaseLeases(),
  encode: enc.encodeLeaseLeasesResponse,
});

export const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  [
    '/kv/range',
    unary({ decode: dec.decodeRangeRequest, call: (s, r) => s.range(r), encode: enc.encodeRangeResponse, size: rangeSize }),
  ],
  [
    '/kv/put',
    unary({
      decode: dec.decodePutRequest,
      call: (s, r) => s.put(r),
      encode: enc.encodePutResponse,
      size: putSize,
      raft: always,
      check: checkPutRequest,
    }),
  ],
  [
    '/kv/deleterange',
    unary({
      decode: dec.decodeDeleteRangeRequest,
      call: (s, r) => s.deleteRange(r),
      encode: enc.encodeDeleteRangeResponse,
      size: deleteRangeSize,
      raft: always,
    }),
  ],
  [
    '/kv/txn',
    unary({
      decode: dec.decodeTxnRequest,
      call: (s, r) => s.txn(r),
      encode: enc.encodeTxnResponse,
      size: txnSize,
      raft: (r) => !isTxnReadOnly(r),
      check: checkTxnRequest,
      precheck: (r) => {
        if (hasEmptyOp(r)) checkTxnRequest(r);
      },
    }),
  ],
  ['/kv/compaction', unary({ decode: dec.decodeCompactionRequest, call: (s, r) => s.compact(r), encode: enc.encodeHeaderOnly })],
  ['/watch', { kind: 'watch' }],
  ['/lease/grant', unary({ decode: dec.decodeLeaseGrantRequest, call: (s, r) => s.leaseGrant(r), encode: enc.encodeLeaseGrantResponse })],
  ['/lease/revoke', leaseRevoke],
  ['/kv/lease/revoke', leaseRevoke],
  ['/lease/keepalive', { kind: 'keepalive' }],
  ['/lease/timetolive', leaseTimeToLive],
  ['/kv/lease/timetolive', leaseTimeToLive],
  ['/lease/leases', leaseLeases],
  ['/kv/lease/leases', leaseLeases],
  ['/cluster/member/list', unary({ decode: dec.decodeEmpty, call: (s) => s.memberList(), encode: enc.encodeMembersResponse })],
  ['/cluster/member/add', unary({ decode: dec.decodeMemberAddRequest, call: (s, r) => s.memberAdd(r), encode: enc.encodeMemberAddResponse })],
  ['/cluster/member/remove', unary({ decode: dec.decodeMemberIdRequest, call: (s, r) => s.memberRemove(r), encode: enc.encodeMembersResponse })],
  ['/cluster/member/update', unary({ decode: dec.decodeMemberUpdateRequest, call: memberUpdate, encode: enc.encodeMembersResponse })],
  ['/cluster/member/promote', unary({ decode: dec.decodeMemberIdRequest, call: (s, r) => s.memberPromote(r), encode: enc.encodeMembersResponse })],
  ['/maintenance/status', unary({ decode: dec.decodeEmpty, call: (s) => s.status(), encode: enc.encodeStatusResponse })],
  ['/maintenance/snapshot', { kind: 'snapshot' }],
  // etcd 3.4's gateway maps HashKV onto /maintenance/hash, where Hash answers instead; kvd serves
  // HashKV on a path of its own too (docs/api.md).
  ['/maintenance/alarm', unary({ decode: dec.decodeAlarmRequest, call: (s, r) => s.alarm(r), encode: enc.encodeAlarmResponse })],
  ['/maintenance/hash', unary({ decode: dec.decodeEmpty, call: (s) => s.hash(), encode: enc.encodeHashResponse })],
  ['/maintenance/hashkv', unary({ decode: dec.decodeHashKVRequest, call: (s, r) => s.hashKV(r), encode: enc.encodeHashKVResponse })],
  ['/maintenance/defragment', unary({ decode: dec.decodeEmpty, call: (s) => s.defragment(), encode: encodeEmpty })],
  [
    '/maintenance/transfer-leadership',
    unary({ decode: dec.decodeMoveLeaderRequest, call: (s, r) => s.transferLeadership(r), encode: encodeEmpty }),
  ],
]);
