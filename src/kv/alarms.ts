// Alarms, as etcd's: a member that finds its store over --quota-backend-bytes proposes a NOSPACE
// alarm, and from the entry that raises it every member refuses the writes that add data (puts,
// txns with a put, lease grants) with "database space exceeded", until an operator frees space and
// disarms it; a CORRUPT alarm refuses every write. The alarms are part of the replicated state
// (applied from the log, kept in the store's meta and in snapshots), so all members refuse the
// same entries. Reads, deletes and compactions go on under NOSPACE: they are how space is freed;
// under CORRUPT only reads (ranges and txns of ranges, neither of which is a log entry).
import { AlarmAction, AlarmType, type AlarmMember, type AlarmRequest, type AlarmResponse, type RequestOp, type TxnRequest } from './api.js';
import { META, packr } from './record-codec.js';
import type { InternalRequest } from './request-codec.js';
import type { MvccState } from './state.js';
import type { ApplyBatch } from './write-txn.js';
import { Errors, type EtcdError } from '../util/errors.js';

/** The error a write gets under the alarms raised, or undefined when it may apply. */
export function refusedByAlarm(alarms: readonly AlarmMember[], req: InternalRequest): EtcdError | undefined {
  if (alarms.length === 0 || 'alarm' in req) return undefined;
  // A txn that only reads does not come this way (KvStore.readTxn serves it), so it is not refused.
  if (alarms.some((a) => a.alarm === AlarmType.CORRUPT)) return Errors.corrupt();
  if (!alarms.some((a) => a.alarm === AlarmType.NOSPACE)) return undefined;
  if ('put' in req || 'lease_grant' in req || ('txn' in req && txnHasPut(req.txn))) return Errors.noSpace();
  return undefined;
}

/** A put anywhere in the txn, either branch, nested txns included: a txn that may add data. */
export function txnHasPut(t: TxnRequest): boolean {
  const has = (op: RequestOp): boolean => 'request_put' in op || ('request_txn' in op && txnHasPut(op.request_txn));
  return (t.success ?? []).some(has) || (t.failure ?? []).some(has);
}

/**
 * Raises or clears one alarm (etcd keeps one per member and type); the answer lists what changed,
 * as etcd's: the alarm raised (also when it was up already), the alarm cleared, or nothing.
 */
export function applyAlarm(st: MvccState, batch: ApplyBatch, req: AlarmRequest): AlarmResponse {
  const at = st.alarms.findIndex((a) => a.memberID === req.memberID && a.alarm === req.alarm);
  const one: AlarmMember = { memberID: req.memberID, alarm: req.alarm };
  if (req.action === AlarmAction.ACTIVATE) {
    if (at === -1) st.alarms = [...st.alarms, one];
  } else if (req.action === AlarmAction.DEACTIVATE) {
    if (at === -1) return { alarms: [] };
    st.alarms = st.alarms.filter((_, i) => i !== at);
  } else {
    return { alarms: [] };
  }
  batch.ops.push({ type: 'put', key: META.alarms, value: encodeAlarms(st.alarms) });
  return { alarms: [one] };
}

/** Whether `alarm` is raised for the member. */
export function isRaised(alarms: readonly AlarmMember[], memberID: number, alarm: AlarmType): boolean {
  return alarms.some((a) => a.memberID === memberID && a.alarm === alarm);
}

/** The alarms as stored (meta value, snapshot header): [[member id, alarm type], ...]. */
export function alarmTuples(alarms: readonly AlarmMember[]): [number, number][] {
  return alarms.map((a) => [a.memberID, a.alarm]);
}

export function encodeAlarms(alarms: readonly AlarmMember[]): Uint8Array {
  return packr.pack(alarmTuples(alarms));
}

/** The alarms of a meta value or snapshot header field; throws on anything else. */
export function decodeAlarms(v: unknown): AlarmMember[] {
  if (!Array.isArray(v)) throw new TypeError('alarms: not a list');
  return v.map((a: unknown) => {
    if (!Array.isArray(a) || typeof a[0] !== 'number' || typeof a[1] !== 'number') throw new TypeError('alarms: bad entry');
    return { memberID: a[0], alarm: a[1] as AlarmType };
  });
}
