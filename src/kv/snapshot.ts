// The store as one byte string, for Raft's InstallSnapshot and for backups:
//
//   "FKVS" u32be(format 1)
//   u32be(n) msgpack [applied index, revision, compactMain, [[lease id, ttl], ...], [[member id, alarm], ...]]
//                    (the alarms were added later: a header without them has none)
//   then, to the end, every change record: u32be(n) followed by n bytes = record key (13) + value
//
// The records are the LevelDB ones byte for byte (all revisions since the last compaction, and
// possibly some at or below it that physical compaction had not removed yet: the index rebuilt
// from them is compacted again, so they are harmless). The key index is not in the snapshot; it
// is rebuilt from the records, as at every start.
import type { AlarmMember, LeaseId } from './api.js';
import { alarmTuples, decodeAlarms } from './alarms.js';
import { KvCorruptError, packr } from './record-codec.js';
import { isRevKey, REV_KEY_LENGTH } from './revision.js';

const MAGIC = [0x46, 0x4b, 0x56, 0x53]; // "FKVS"
const FORMAT = 1;

export interface SnapshotHeader {
  applied: number;
  revision: number;
  compactMain: number;
  leases: [LeaseId, number][];
  /** The alarms raised (absent from snapshots made before alarms existed: none). */
  alarms: AlarmMember[];
}

/** Bytes per block of a snapshot being built. */
const BLOCK_BYTES = 8 * 1024 * 1024;

/**
 * Builds the byte string from the header and the records (key, value) in revision order. The
 * records are copied into large blocks as they come: keeping the iterator's two Buffers and a
 * length per record alive until the end (millions of small objects at a million keys) made major
 * collections long enough for the leader building a snapshot to lose its followers.
 */
export class SnapshotWriter {
  private blocks: Buffer[] = [];
  private block: Buffer;
  private at = 0;

  constructor(h: SnapshotHeader) {
    this.block = Buffer.allocUnsafe(BLOCK_BYTES);
    const head = packr.pack([h.applied, h.revision, h.compactMain, h.leases, alarmTuples(h.alarms)]);
    const pre = this.room(12);
    pre.set(MAGIC, 0);
    pre.writeUInt32BE(FORMAT, 4);
    pre.writeUInt32BE(head.length, 8);
    this.room(head.length).set(head);
  }

  /** The next `n` bytes of the current block (a new block when they do not fit). */
  private room(n: number): Buffer {
    if (this.at + n > this.block.length) {
      if (this.at > 0) this.blocks.push(this.block.subarray(0, this.at));
      this.block = Buffer.allocUnsafe(Math.max(BLOCK_BYTES, n));
      this.at = 0;
    }
    const out = this.block.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  record(key: Uint8Array, value: Uint8Array): void {
    const n = key.length + value.length;
    const out = this.room(4 + n);
    out.writeUInt32BE(n, 0);
    out.set(key, 4);
    out.set(value, 4 + key.length);
  }

  /** The byte string as consecutive pieces (no copy); the writer is then empty. */
  finish(): Uint8Array[] {
    const blocks = [...this.blocks, this.block.subarray(0, this.at)];
    this.blocks = [];
    this.block = Buffer.alloc(0);
    this.at = 0;
    return blocks;
  }
}

function corrupt(detail: string): never {
  throw new KvCorruptError('snapshot', detail);
}

export function readSnapshotHeader(data: Uint8Array): { header: SnapshotHeader; body: number } {
  if (data.length < 12 || MAGIC.some((b, i) => data[i] !== b)) corrupt('not a kv snapshot');
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (v.getUint32(4) !== FORMAT) corrupt(`unknown format ${v.getUint32(4)}`);
  const n = v.getUint32(8);
  if (12 + n > data.length) corrupt('truncated header');
  const h = packr.unpack(data.subarray(12, 12 + n)) as unknown;
  if (!Array.isArray(h) || (h.length !== 4 && h.length !== 5) || !Array.isArray(h[3])) corrupt('bad header');
  const [applied, revision, compactMain, leases, alarmList] = h as [unknown, unknown, unknown, unknown[], unknown];
  if (typeof applied !== 'number' || typeof revision !== 'number' || typeof compactMain !== 'number') corrupt('bad header numbers');
  const ls: [LeaseId, number][] = leases.map((l) => {
    if (!Array.isArray(l) || typeof l[1] !== 'number') corrupt('bad lease');
    const id = typeof l[0] === 'bigint' ? l[0] : typeof l[0] === 'number' ? BigInt(l[0]) : corrupt('bad lease id');
    return [id, l[1]];
  });
  let alarms: AlarmMember[] = [];
  try {
    if (alarmList !== undefined) alarms = decodeAlarms(alarmList);
  } catch (err) {
    corrupt((err as Error).message);
  }
  return { header: { applied, revision, compactMain, leases: ls, alarms }, body: 12 + n };
}

/** The records after the header: [key, value] views into `data`. */
export function* snapshotRecords(data: Uint8Array, from: number): Generator<[Uint8Array, Uint8Array]> {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = from;
  while (at < data.length) {
    if (at + 4 > data.length) corrupt('truncated record length');
    const n = v.getUint32(at);
    at += 4;
    if (n < REV_KEY_LENGTH || at + n > data.length) corrupt('truncated record');
    const key = data.subarray(at, at + REV_KEY_LENGTH);
    if (!isRevKey(key)) corrupt('bad record key');
    yield [key, data.subarray(at + REV_KEY_LENGTH, at + n)];
    at += n;
  }
}
