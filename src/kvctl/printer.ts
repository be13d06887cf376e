// What a command hands to the output format it was asked for (-w simple|json|table), as etcdctl's
// `display` does: one method per kind of answer.
import type {
  AlarmResponse,
  DeleteRangeResponse,
  EndpointHashKV,
  EndpointHealth,
  EndpointStatus,
  Event,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  MemberAddResponse,
  MemberListResponse,
  PutResponse,
  RangeResponse,
  ResponseHeader,
  TxnResponse,
} from '../client/index.js';
import { Exit, KvctlError } from './errors.js';
import type { KvctlIo } from './io.js';
import { JsonPrinter } from './printer-json.js';
import { SimplePrinter } from './printer-simple.js';
import { TablePrinter } from './printer-table.js';

/** One watch message as etcdctl's clientv3.WatchResponse has it. */
export interface WatchDisplay {
  header: ResponseHeader;
  events: Event[];
  compactRevision: number;
  canceled: boolean;
  created: boolean;
}

/** A member's status with the endpoint as the user wrote it. */
export type StatusDisplay = EndpointStatus & { ep: string };

/** A member's history hash with the endpoint as the user wrote it. */
export type HashKVDisplay = EndpointHashKV & { ep: string };

/** A health check with the endpoint as the user wrote it. */
export type HealthDisplay = EndpointHealth & { ep: string };

export interface SnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

export interface Printer {
  get(r: RangeResponse): void;
  put(r: PutResponse): void;
  del(r: DeleteRangeResponse): void;
  txn(r: TxnResponse): void;
  watch(r: WatchDisplay): void;
  grant(r: LeaseGrantResponse): void;
  revoke(id: bigint, r: LeaseRevokeResponse): void;
  keepAlive(r: LeaseKeepAliveResponse): void;
  timeToLive(r: LeaseTimeToLiveResponse, keys: boolean): void;
  leases(r: LeaseLeasesResponse): void;
  memberAdd(r: MemberAddResponse): void;
  memberRemove(id: bigint, r: MemberListResponse): void;
  memberUpdate(id: bigint, r: MemberListResponse): void;
  memberPromote(id: bigint, r: MemberListResponse): void;
  memberList(r: MemberListResponse): void;
  endpointHealth(list: HealthDisplay[]): void;
  endpointStatus(list: StatusDisplay[]): void;
  endpointHashKV(list: HashKVDisplay[]): void;
  alarms(r: AlarmResponse): void;
  moveLeader(leader: bigint, target: bigint, header: ResponseHeader): void;
  snapshotStatus(s: SnapshotStatus): void;
}

export type OutputFormat = 'simple' | 'json' | 'table';

export interface PrinterOptions {
  hex: boolean;
  /** get --print-value-only. */
  valueOnly?: boolean;
  /** get --count-only: the simple format prints the count. */
  countOnly?: boolean;
}

export function newPrinter(format: string, io: KvctlIo, opts: PrinterOptions): Printer {
  switch (format) {
    case 'simple':
      return new SimplePrinter(io, opts);
    case 'json':
      return new JsonPrinter(io);
    case 'table':
      return new TablePrinter(io);
    case 'fields':
    case 'protobuf':
      throw new KvctlError(Exit.BadFeature, `${format} is not supported as output format by kvctl (use simple, json or table)`);
    default:
      throw new KvctlError(Exit.BadFeature, 'unsupported output format');
  }
}
