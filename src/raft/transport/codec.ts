// Frame encoding of the peer transport.
//
// Every WebSocket message (binary) is one frame. Its first byte is the frame kind:
//
//   0x01 BATCH  [0x01][msgpack: MsgTuple[]]
//   0x02 CHUNK  [0x02][u32 BE header length][msgpack: ChunkHeader][raw snapshot bytes]
//
// Messages travel as positional tuples rather than objects with field names (about 3x smaller for
// heartbeats, and faster to pack and unpack):
//
//   MsgTuple   = [type, to, from, term, logTerm, index, commit, reject, rejectHint, context,
//                 EntryTuple[], SnapTuple?]
//   EntryTuple = [term, index, type, data]
//   SnapTuple  = [index, term, voters, learners, data?]               (no data inside a CHUNK)
//   ChunkHeader = [snapIndex, snapTerm, offset, total, last, MsgTuple?] (MsgTuple on offset 0 only)
//
// Integers above 2^32 are packed by msgpackr as float64, which is exact below 2^53; uint64/int64
// from other encoders are decoded as numbers too (int64AsType: 'number'). Entry data is copied out
// of the frame (one buffer per message, each entry's data a view of it), so it stays valid (and
// does not pin the frame in memory) after the frame is gone.
import { Packr, Unpackr, RESERVE_START_SPACE } from 'msgpackr';
import type { Entry, Message, Snapshot, SnapshotMeta } from '../types.js';
import { isLocalMessage, MessageType } from '../types.js';
import { TransportError } from './errors.js';

export const FRAME_BATCH = 0x01;
export const FRAME_CHUNK = 0x02;

/** Wire protocol version, sent in the upgrade request. */
export const PROTOCOL_VERSION = 1;

export interface ChunkHeader {
  snapIndex: number;
  snapTerm: number;
  offset: number;
  total: number;
  last: boolean;
  /** The Snap message without `snapshot.data`: present in the chunk at offset 0 only. */
  message?: Message;
}

export type DecodedFrame =
  | { kind: 'batch'; messages: Message[]; invalid: number }
  | { kind: 'chunk'; header: ChunkHeader; data: Uint8Array };

type EntryTuple = [number, number, number, Uint8Array];
type SnapTuple = [number, number, number[], number[], Uint8Array?];
type MsgTuple = unknown[];

/** A message type this build knows and that may cross the network (Prop does: followers forward proposals). */
export function isNetworkMessageType(type: number): boolean {
  return MessageType[type] !== undefined && !isLocalMessage(type);
}

/** Upper bound of a message's encoded size, used to cut batches before encoding them. */
export function estimateMessageBytes(m: Message): number {
  let n = 96;
  for (const e of m.entries) n += 40 + e.data.length;
  if (m.snapshot) {
    const cs = m.snapshot.meta.confState;
    n += 32 + 9 * (cs.voters.length + cs.learners.length) + m.snapshot.data.length;
  }
  return n;
}

export class Codec {
  private readonly packr = new Packr({ useRecords: false, moreTypes: false });
  private readonly unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

  /** Encodes messages into one BATCH frame (snapshots included inline). */
  encodeBatch(messages: readonly Message[]): Buffer {
    const tuples = messages.map((m) => messageToTuple(m, true));
    const buf = this.packr.pack(tuples, RESERVE_START_SPACE | 1) as Buffer;
    buf[0] = FRAME_BATCH;
    return buf;
  }

  /** Encodes one snapshot chunk: a fresh buffer holding the header and a copy of `parts`, in order. */
  encodeChunk(header: ChunkHeader, parts: readonly Uint8Array[]): Buffer {
    const h: unknown[] = [header.snapIndex, header.snapTerm, header.offset, header.total, header.last];
    if (header.message) h.push(messageToTuple(header.message, false));
    const hb = this.packr.pack(h) as Buffer;
    const frame = Buffer.allocUnsafe(5 + hb.length + parts.reduce((n, p) => n + p.length, 0));
    frame[0] = FRAME_CHUNK;
    frame.writeUInt32BE(hb.length, 1);
    frame.set(hb, 5);
    let at = 5 + hb.length;
    for (const p of parts) {
      frame.set(p, at);
      at += p.length;
    }
    return frame;
  }

  /**
   * Decodes one frame. Throws TransportError('BAD_FRAME') for anything malformed. Messages of an
   * unknown type are left out and counted in `invalid` (a newer peer may know more types).
   */
  decode(frame: Uint8Array): DecodedFrame {
    if (frame.length < 2) throw bad(`frame of ${frame.length} bytes`);
    const kind = frame[0];
    if (kind === FRAME_BATCH) {
      const value = this.unpack(frame.subarray(1));
      if (!Array.isArray(value)) throw bad('batch is not an array');
      const messages: Message[] = [];
      let invalid = 0;
      for (const t of value) {
        const m = tupleToMessage(t);
        if (m) messages.push(m);
        else invalid++;
      }
      return { kind: 'batch', messages, invalid };
    }
    if (kind === FRAME_CHUNK) {
      if (frame.length < 5) throw bad('chunk frame without header length');
      const view = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
      const hl = view.readUInt32BE(1);
      if (hl === 0 || 5 + hl > frame.length) throw bad(`chunk header length ${hl} out of range`);
      const h = this.unpack(frame.subarray(5, 5 + hl));
      if (!Array.isArray(h) || h.length < 5 || h.length > 6) throw bad('chunk header is not a 5- or 6-tuple');
      const [snapIndex, snapTerm, offset, total, last] = h;
      if (!isUint(snapIndex) || !isUint(snapTerm) || !isUint(offset) || !isUint(total) || typeof last !== 'boolean') {
        throw bad('chunk header fields have wrong types');
      }
      const header: ChunkHeader = { snapIndex, snapTerm, offset, total, last };
      if (h.length === 6) {
        const m = tupleToMessage(h[5]);
        if (!m || m.type !== MessageType.Snap || !m.snapshot) throw bad('chunk header message is not a Snap');
        header.message = m;
      }
      return { kind: 'chunk', header, data: frame.subarray(5 + hl) };
    }
    throw bad(`unknown frame kind 0x${kind.toString(16)}`);
  }

  private unpack(bytes: Uint8Array): unknown {
    try {
      return this.unpackr.unpack(bytes);
    } catch (err) {
      throw bad(`msgpack: ${(err as Error).message}`);
    }
  }
}

function bad(msg: string): TransportError {
  return new TransportError('BAD_FRAME', msg);
}

function isUint(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function isBytes(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array;
}

function isIdList(x: unknown): x is number[] {
  return Array.isArray(x) && x.every(isUint);
}

function messageToTuple(m: Message, withSnapshotData: boolean): MsgTuple {
  const entries: EntryTuple[] = new Array(m.entries.length);
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]!;
    entries[i] = [e.term, e.index, e.type, e.data];
  }
  const t: MsgTuple = [
    m.type, m.to, m.from, m.term, m.logTerm, m.index, m.commit, m.reject, m.rejectHint, m.context, entries,
  ];
  if (m.snapshot) {
    const meta = m.snapshot.meta;
    const s: SnapTuple = [meta.index, meta.term, meta.confState.voters, meta.confState.learners];
    if (withSnapshotData) s.push(m.snapshot.data);
    t.push(s);
  }
  return t;
}

/** Returns undefined for a message of an unknown type; throws for a malformed tuple. */
function tupleToMessage(t: unknown): Message | undefined {
  if (!Array.isArray(t) || t.length < 11 || t.length > 12) throw bad('message is not an 11- or 12-tuple');
  const [type, to, from, term, logTerm, index, commit, reject, rejectHint, context, rawEntries] = t;
  if (
    !isUint(type) || !isUint(to) || !isUint(from) || !isUint(term) || !isUint(logTerm) || !isUint(index) ||
    !isUint(commit) || typeof reject !== 'boolean' || !isUint(rejectHint) || !isUint(context) ||
    !Array.isArray(rawEntries)
  ) {
    throw bad('message fields have wrong types');
  }
  const entries: Entry[] = new Array(rawEntries.length);
  let total = 0;
  for (let i = 0; i < rawEntries.length; i++) {
    const e: unknown = rawEntries[i];
    if (!Array.isArray(e) || e.length !== 4 || !isUint(e[0]) || !isUint(e[1]) || !isUint(e[2]) || !isBytes(e[3])) {
      throw bad('entry is not a [term, index, type, data] tuple');
    }
    total += (e[3] as Uint8Array).length;
  }
  // Copy (the decoded bytes are views into the frame), all of one message's entries into one
  // buffer: one allocation per message rather than one per entry. The entries of a message are
  // appended, kept and compacted away together, so none holds much memory for the others.
  const own = new Uint8Array(total);
  let at = 0;
  for (let i = 0; i < rawEntries.length; i++) {
    const e = rawEntries[i] as EntryTuple;
    const data = e[3];
    own.set(data, at);
    entries[i] = { term: e[0], index: e[1], type: e[2], data: own.subarray(at, at + data.length) };
    at += data.length;
  }
  const m: Message = { type, to, from, term, logTerm, index, entries, commit, reject, rejectHint, context };
  if (t.length === 12) {
    const s: unknown = t[11];
    if (!Array.isArray(s) || s.length < 4 || s.length > 5 || !isUint(s[0]) || !isUint(s[1]) || !isIdList(s[2]) || !isIdList(s[3])) {
      throw bad('snapshot is not an [index, term, voters, learners, data?] tuple');
    }
    if (s.length === 5 && !isBytes(s[4])) throw bad('snapshot data is not bytes');
    const meta: SnapshotMeta = { index: s[0], term: s[1], confState: { voters: s[2], learners: s[3] } };
    const snapshot: Snapshot = { meta, data: s.length === 5 ? new Uint8Array(s[4] as Uint8Array) : new Uint8Array(0) };
    m.snapshot = snapshot;
  }
  if (!isNetworkMessageType(type)) return undefined;
  return m;
}
