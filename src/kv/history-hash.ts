// One number for a member's key-value history, as etcd's HashKV gives it: two members that applied
// the same log agree on it, and a member whose store went wrong (a lost or changed record) does not.
//
// The input is the change records up to a revision, newest first, as LevelDB holds them (key and
// value bytes, which every member writes identically from the same entries). What a member still
// has at or below the compacted revision depends on how far its background compaction got, so
// those records count only if compaction keeps them: a key's latest record at or below that
// revision, when it is a put (etcd's keep set, and what `compactIndex` keeps). Newest first, that
// is the first record of each key met there, so nothing but the keys seen has to be held. The
// compactor deletes in revision order, so a record it has not reached yet is never hidden by a
// later one it deleted: the latest record of a key seen here is the one the full history has.
//
// CRC-32 (zlib's): etcd uses CRC-32C over its own record encoding and its own order, so the numbers
// of the two systems are not comparable anyway; what matters is that kvd's members agree.
import { crc32 } from 'node:zlib';
import { keyStr } from './bytes.js';
import { packr } from './record-codec.js';

export class HistoryHasher {
  private hash = 0;
  /** Keys met at or below the compacted revision: their latest record there was seen. */
  private readonly seen = new Set<string>();

  /** `compactMain`: the compacted revision (-1 when nothing was compacted). */
  constructor(private readonly compactMain: number) {}

  /** The next record, newest first: its revision, LevelDB key and value. */
  add(main: number, k: Uint8Array, v: Uint8Array): void {
    if (main <= this.compactMain) {
      // [key, create, version, value, lease] for a put, [key] for a tombstone (record-codec.ts).
      const rec = packr.unpack(v) as [Uint8Array, ...unknown[]];
      const id = keyStr(rec[0]);
      if (this.seen.has(id)) return;
      this.seen.add(id);
      if (rec.length === 1) return;
    }
    this.hash = crc32(v, crc32(k, this.hash));
  }

  finish(): number {
    return this.hash;
  }
}
