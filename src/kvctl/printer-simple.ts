// The simple format: what scripts parse. Each line as etcdctl 3.4 prints it: keys and values as
// raw bytes (or \x.. with --hex), lease IDs as %016x, member IDs as %x, rows joined by ", ".
import type {
  AlarmResponse,
  DeleteRangeResponse,
  KeyValue,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseTimeToLiveResponse,
  MemberAddResponse,
  MemberListResponse,
  PutResponse,
  RangeResponse,
  ResponseHeader,
  TxnResponse,
} from '../client/index.js';
import { ALARM_NAMES, EventType } from '../client/index.js';
import { goDuration, hex16, hexEscaped, hexId, hexPad16 } from './format.js';
import type { KvctlIo } from './io.js';
import type { HashKVDisplay, HealthDisplay, Printer, PrinterOptions, SnapshotStatus, StatusDisplay, WatchDisplay } from './printer.js';
import { hashKVRows, memberRows, snapshotRows, statusRows } from './rows.js';

const NL = Buffer.from('\n');

export class SimplePrinter implements Printer {
  constructor(
    private readonly io: KvctlIo,
    private readonly opts: PrinterOptions,
  ) {}

  private line(s: string): void {
    this.io.stdout(`${s}\n`);
  }

  private bytesLine(b: Uint8Array): void {
    if (this.opts.hex) {
      this.line(hexEscaped(b));
      return;
    }
    this.io.stdout(Buffer.concat([Buffer.from(b.buffer, b.byteOffset, b.byteLength), NL]));
  }

  /** etcdctl's printKV: the key line (unless --print-value-only), then the value line. */
  private kv(kv: KeyValue): void {
    if (!this.opts.valueOnly) this.bytesLine(kv.key);
    this.bytesLine(kv.value);
  }

  get(r: RangeResponse): void {
    if (this.opts.countOnly) {
      this.line(String(r.count));
      return;
    }
    for (const kv of r.kvs) this.kv(kv);
  }

  put(r: PutResponse): void {
    this.line('OK');
    if (r.prev_kv) this.kv(r.prev_kv);
  }

  del(r: DeleteRangeResponse): void {
    this.line(String(r.deleted));
    for (const kv of r.prev_kvs) this.kv(kv);
  }

  txn(r: TxnResponse): void {
    this.line(r.succeeded ? 'SUCCESS' : 'FAILURE');
    for (const op of r.responses) {
      this.line('');
      if ('response_range' in op) this.get(op.response_range);
      else if ('response_put' in op) this.put(op.response_put);
      else if ('response_delete_range' in op) this.del(op.response_delete_range);
      else this.txn(op.response_txn);
    }
  }

  watch(r: WatchDisplay): void {
    for (const e of r.events) {
      this.line(e.type === EventType.DELETE ? 'DELETE' : 'PUT');
      if (e.prev_kv) this.kv(e.prev_kv);
      this.kv(e.kv);
    }
  }

  grant(r: LeaseGrantResponse): void {
    this.line(`lease ${hex16(r.ID)} granted with TTL(${r.TTL}s)`);
  }

  revoke(id: bigint): void {
    this.line(`lease ${hex16(id)} revoked`);
  }

  keepAlive(r: LeaseKeepAliveResponse): void {
    this.line(`lease ${hex16(r.ID)} keepalived with TTL(${r.TTL})`);
  }

  timeToLive(r: LeaseTimeToLiveResponse, keys: boolean): void {
    if (r.grantedTTL === 0 && r.TTL === -1) {
      this.line(`lease ${hex16(r.ID)} already expired`);
      return;
    }
    let txt = `lease ${hex16(r.ID)} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s)`;
    if (keys) txt += `, attached keys([${r.keys.map((k) => Buffer.from(k).toString('utf8')).join(' ')}])`;
    this.line(txt);
  }

  leases(r: LeaseLeasesResponse): void {
    this.line(`found ${r.leases.length} leases`);
    for (const l of r.leases) this.line(hex16(l.ID));
  }

  memberAdd(r: MemberAddResponse): void {
    this.line(`Member ${hexPad16(r.member.ID)} added to cluster ${hexPad16(r.header.cluster_id ?? 0n)}`);
  }

  memberRemove(id: bigint, r: MemberListResponse): void {
    this.line(`Member ${hexPad16(id)} removed from cluster ${hexPad16(r.header.cluster_id ?? 0n)}`);
  }

  memberUpdate(id: bigint, r: MemberListResponse): void {
    this.line(`Member ${hexPad16(id)} updated in cluster ${hexPad16(r.header.cluster_id ?? 0n)}`);
  }

  memberPromote(id: bigint, r: MemberListResponse): void {
    this.line(`Member ${hexPad16(id)} promoted in cluster ${hexPad16(r.header.cluster_id ?? 0n)}`);
  }

  memberList(r: MemberListResponse): void {
    for (const row of memberRows(r)) this.line(row.join(', '));
  }

  /** On standard error, as etcdctl: standard output stays empty. */
  endpointHealth(list: HealthDisplay[]): void {
    for (const h of list) {
      if (h.health && !h.error) this.io.stderr(`${h.ep} is healthy: successfully committed proposal: took = ${goDuration(h.took * 1e6)}\n`);
      else this.io.stderr(`${h.ep} is unhealthy: failed to commit proposal: ${h.error ?? 'unhealthy'}\n`);
    }
  }

  endpointStatus(list: StatusDisplay[]): void {
    for (const row of statusRows(list)) this.line(row.join(', '));
  }

  alarms(r: AlarmResponse): void {
    // The proto's text form, as etcdctl prints it with %+v: a zero field left out, a space after each.
    for (const a of r.alarms) this.line(`memberID:${a.memberID} ${a.alarm === 0 ? '' : `alarm:${ALARM_NAMES[a.alarm] ?? a.alarm} `}`);
  }

  endpointHashKV(list: HashKVDisplay[]): void {
    for (const row of hashKVRows(list)) this.line(row.join(', '));
  }

  moveLeader(leader: bigint, target: bigint, _header: ResponseHeader): void {
    this.line(`Leadership transferred from ${hexId(leader)} to ${hexId(target)}`);
  }

  snapshotStatus(s: SnapshotStatus): void {
    for (const row of snapshotRows(s)) this.line(row.join(', '));
  }
}
