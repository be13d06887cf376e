// Small helpers on events: their revision, prev_kv stripping, etcd's DELETE shape, and cutting a
// replay into messages without splitting a revision.
import { EventType, type Event, type KeyValue } from '../api.js';

/** The revision an event belongs to (a DELETE's kv carries the deletion revision too). */
export function eventRevision(ev: Event): number {
  return ev.kv.mod_revision;
}

/** The event without prev_kv (the same object when it has none). */
export function withoutPrevKv(ev: Event): Event {
  return ev.prev_kv === undefined ? ev : { type: ev.type, kv: ev.kv };
}

/**
 * Whether the event should carry prev_kv and does not: the store leaves it out of the DELETEs of a
 * request that did not ask for the previous values when they were not in memory (a PUT of a key
 * that existed always has it). A watcher that wants prev_kv reads such a revision from history.
 */
export function lacksPrevKv(ev: Event): boolean {
  return ev.prev_kv === undefined && (ev.type === EventType.DELETE || ev.kv.version > 1);
}

const EMPTY = new Uint8Array(0);

/**
 * etcd's DELETE event: the kv holds only `key` and `mod_revision`. Returns the event itself when it
 * already has that shape (the store is expected to produce it), else a normalized copy.
 */
export function normalizeEvent(ev: Event): Event {
  if (ev.type !== EventType.DELETE) return ev;
  const kv = ev.kv;
  if (!kv.create_revision && !kv.version && !(kv.value && kv.value.length > 0) && !kv.lease) return ev;
  const slim: KeyValue = { key: kv.key, create_revision: 0, mod_revision: kv.mod_revision, version: 0, value: EMPTY, lease: 0n };
  return ev.prev_kv === undefined ? { type: ev.type, kv: slim } : { type: ev.type, kv: slim, prev_kv: ev.prev_kv };
}

/** Per-event overhead in the size estimate (revisions, version, type, framing). */
const EVENT_OVERHEAD = 32;

/** An estimate of an event's encoded size: keys and values plus a fixed overhead. */
export function eventSize(ev: Event): number {
  let n = EVENT_OVERHEAD + ev.kv.key.length + (ev.kv.value?.length ?? 0);
  if (ev.prev_kv) n += ev.prev_kv.key.length + (ev.prev_kv.value?.length ?? 0) + EVENT_OVERHEAD;
  return n;
}

/**
 * Splits events (in revision order) into messages of at most `max` events and about `maxBytes`,
 * cutting only between revisions. A single revision above either bound makes one message of its own.
 */
export function chunkByRevision(events: Event[], max: number, maxBytes = Infinity): Event[][] {
  if (events.length <= max && maxBytes === Infinity) return [events];
  const out: Event[][] = [];
  let cur: Event[] = [];
  let curBytes = 0;
  let i = 0;
  while (i < events.length) {
    // The events of one revision: [i, j).
    const rev = eventRevision(events[i]);
    let j = i + 1;
    let bytes = eventSize(events[i]);
    while (j < events.length && eventRevision(events[j]) === rev) bytes += eventSize(events[j++]);
    if (cur.length > 0 && (cur.length + (j - i) > max || curBytes + bytes > maxBytes)) {
      out.push(cur);
      cur = [];
      curBytes = 0;
    }
    for (let k = i; k < j; k++) cur.push(events[k]);
    curBytes += bytes;
    i = j;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/**
 * etcd's fragments: consecutive pieces each below `maxBytes` (but at least one event), for a message
 * of at least `maxBytes`; a smaller message stays whole (one piece).
 */
export function splitBySize(events: Event[], maxBytes: number): Event[][] {
  let total = 0;
  for (const ev of events) total += eventSize(ev);
  if (total < maxBytes) return [events];
  const out: Event[][] = [];
  let cur: Event[] = [];
  let curBytes = 0;
  for (const ev of events) {
    const n = eventSize(ev);
    if (cur.length > 0 && curBytes + n >= maxBytes) {
      out.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(ev);
    curBytes += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
