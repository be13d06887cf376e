// The table format: only for what etcdctl draws as tables (member list, endpoint status and
// health, snapshot status); every other command refuses it as etcdctl does (exit 4).
import { Exit, KvctlError } from './errors.js';
import type { KvctlIo } from './io.js';
import type { HashKVDisplay, HealthDisplay, Printer, SnapshotStatus, StatusDisplay } from './printer.js';
import type { MemberListResponse } from '../client/index.js';
import { HASHKV_HEADER, HEALTH_HEADER, MEMBER_HEADER, SNAPSHOT_HEADER, STATUS_HEADER, hashKVRows, healthRows, memberRows, snapshotRows, statusRows } from './rows.js';
import { renderTable } from './table.js';

function unsupported(): never {
  throw new KvctlError(Exit.BadFeature, 'table not supported as output format');
}

export class TablePrinter implements Printer {
  constructor(private readonly io: KvctlIo) {}

  get = unsupported;
  put = unsupported;
  del = unsupported;
  txn = unsupported;
  watch = unsupported;
  grant = unsupported;
  revoke = unsupported;
  keepAlive = unsupported;
  timeToLive = unsupported;
  leases = unsupported;
  memberAdd = unsupported;
  memberRemove = unsupported;
  memberUpdate = unsupported;
  memberPromote = unsupported;
  moveLeader = unsupported;
  alarms = unsupported;

  memberList(r: MemberListResponse): void {
    this.io.stdout(renderTable(MEMBER_HEADER, memberRows(r)));
  }

  endpointHealth(list: HealthDisplay[]): void {
    this.io.stdout(renderTable(HEALTH_HEADER, healthRows(list)));
  }

  endpointStatus(list: StatusDisplay[]): void {
    this.io.stdout(renderTable(STATUS_HEADER, statusRows(list)));
  }

  endpointHashKV(list: HashKVDisplay[]): void {
    this.io.stdout(renderTable(HASHKV_HEADER, hashKVRows(list)));
  }

  snapshotStatus(s: SnapshotStatus): void {
    this.io.stdout(renderTable(SNAPSHOT_HEADER, snapshotRows(s)));
  }
}
