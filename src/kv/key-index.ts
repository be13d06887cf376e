// The history of one key, as etcd's mvcc keyIndex: generations, each running from the put that
// created the key to the tombstone that deleted it, the last one empty while the key is deleted or
// holding the live key's revisions. Reads at a past revision find the generation alive at that
// revision and the latest revision in it at or below the target. The live value is held here while
// the value cache keeps it (value-cache.ts): reads of cached keys never touch LevelDB.
//
// The layout is for a store of millions of keys, most with one generation of one revision: the live
// generation is held in fields of the index itself, its latest revision as (modified, sub) and only
// earlier ones in an array; generations that ended are objects of their own, kept only for keys that
// were deleted. The live value is a one-byte string (one char per byte): a single heap object of
// its length plus 16 bytes, where a Uint8Array costs two objects and about 190 bytes more, and a
// view of the Raft entry that carried the value would keep the whole entry alive. A KeyValue is
// built when one is read (live()). test/kv/key-index-model.ts is the plain layout this one must
// answer alike.
import type { KeyValue, LeaseId } from './api.js';
import { EMPTY_BYTES, type KeyStr } from './bytes.js';

/** A generation that ended: its revisions as [main0, sub0, main1, sub1, ...], the tombstone last. */
class ClosedGeneration {
  constructor(
    readonly created: number,
    /** Puts and the tombstone, including ones compacted away (so versions stay right). */
    readonly ver: number,
    public revs: number[],
  ) {}

  get length(): number {
    return this.revs.length >> 1;
  }

  lastMain(): number {
    return this.revs[this.revs.length - 2]!;
  }
}

/** Where a key stood at some revision: the revision of its record and its metadata. */
export interface KeyAt {
  main: number;
  sub: number;
  create: number;
  version: number;
}

/** Index of the latest pair in a flat revision array with main <= atRev, or -1. */
function findAtOrBelow(revs: number[], atRev: number): number {
  for (let i = (revs.length >> 1) - 1; i >= 0; i--) if (revs[2 * i]! <= atRev) return i;
  return -1;
}

export class KeyIndex {
  /** Main revision of the last change (put or tombstone); the live revision's main while live. */
  modified = 0;
  /** Main revision of the put that created the live generation; 0 while the key is deleted. */
  created = 0;
  /** Puts in the live generation, including ones compacted away. */
  ver = 0;
  /** Sub revision of the live generation's latest revision. */
  sub = 0;
  /** The live generation's revisions before its latest, flat; undefined when there are none. */
  private older: number[] | undefined = undefined;
  /** Generations that ended, oldest first; undefined when there are none. */
  private closed: ClosedGeneration[] | undefined = undefined;
  /**
   * The live value, one char per byte, while the value cache holds it (set and dropped only
   * through the ValueCache, which counts its bytes); undefined otherwise and while deleted.
   */
  value: string | undefined = undefined;
  /** The value cache's mark: 0 not in its ring, 1 in it, 2 in it and read since the hand passed. */
  cache = 0;
  /** The live value's lease (0n for none). */
  lease: LeaseId = 0n;

  /** `key` is the key as the tree holds it (the same string: no copy per key). */
  constructor(readonly key: KeyStr) {}

  /** Whether the key exists now. */
  isLive(): boolean {
    return this.created !== 0;
  }

  /** Whether the live value is in memory (or the key is deleted: nothing to read). */
  hasValue(): boolean {
    return this.created === 0 || this.value !== undefined;
  }

  /** Whether the record at revision `main` is the live one and its value is in memory (no fetch needed). */
  cachedAt(main: number): boolean {
    return this.value !== undefined && this.modified === main;
  }

  /**
   * The live key as a KeyValue of its own (a copy: the caller may keep it), undefined while
   * deleted. With its value, that value must be in memory (the caller loaded it: prefetch).
   */
  live(withValue = true): KeyValue | undefined {
    if (this.created === 0) return undefined;
    const v = this.value;
    if (withValue) {
      if (v === undefined) throw new Error(`kv: the value of a key at revision ${this.modified} is not in memory`);
      if (this.cache === 1) this.cache = 2;
    }
    return {
      key: Buffer.from(this.key, 'latin1'),
      create_revision: this.created,
      mod_revision: this.modified,
      version: this.ver,
      value: withValue && v!.length > 0 ? Buffer.from(v!, 'latin1') : EMPTY_BYTES,
      lease: this.lease,
    };
  }

  /** A put at (main, sub) with `lease`; its value goes in through the ValueCache. */
  put(main: number, sub: number, lease: LeaseId): void {
    if (this.created === 0) {
      this.created = main;
    } else if (this.older === undefined) {
      this.older = [this.modified, this.sub];
    } else {
      this.older.push(this.modified, this.sub);
    }
    this.ver++;
    this.modified = main;
    this.sub = sub;
    this.lease = lease;
  }

  /** Rebuild: the first record seen for a key whose earlier history was compacted away. */
  restore(created: number, main: number, sub: number, ver: number, lease: LeaseId): void {
    this.closed = undefined;
    this.older = undefined;
    this.created = created;
    this.ver = ver;
    this.modified = main;
    this.sub = sub;
    this.lease = lease;
  }

  /**
   * Ends the live generation with a tombstone revision; false when the key is not live. The
   * caller drops the value through the ValueCache.
   */
  tombstone(main: number, sub: number): boolean {
    if (this.created === 0) return false;
    const revs = this.older ?? [];
    revs.push(this.modified, this.sub, main, sub);
    const g = new ClosedGeneration(this.created, this.ver + 1, revs);
    if (this.closed === undefined) this.closed = [g];
    else this.closed.push(g);
    this.older = undefined;
    this.created = 0;
    this.ver = 0;
    this.sub = 0;
    this.modified = main;
    this.lease = 0n;
    return true;
  }

  /** No history at all: the tree may drop the key. */
  isEmpty(): boolean {
    return this.created === 0 && this.closed === undefined;
  }

  /** Number of revisions in the live generation. */
  private liveLength(): number {
    if (this.created === 0) return 0;
    return this.older === undefined ? 1 : (this.older.length >> 1) + 1;
  }

  private liveMain(i: number): number {
    return i === this.liveLength() - 1 ? this.modified : this.older![2 * i]!;
  }

  private liveSub(i: number): number {
    return i === this.liveLength() - 1 ? this.sub : this.older![2 * i + 1]!;
  }

  /** Index of the live generation's latest revision with main <= atRev, or -1. */
  private liveAtOrBelow(atRev: number): number {
    if (this.created === 0) return -1;
    if (this.modified <= atRev) return this.liveLength() - 1;
    return this.older === undefined ? -1 : findAtOrBelow(this.older, atRev);
  }

  /**
   * The generation alive at `atRev` (etcd's findGeneration): 'live', a closed generation (which
   * counts only if its tombstone is after `atRev`), or undefined.
   */
  private findGeneration(atRev: number): 'live' | ClosedGeneration | undefined {
    if (this.created !== 0 && this.liveMain(0) <= atRev) return 'live';
    const closed = this.closed;
    if (closed === undefined) return undefined;
    for (let cg = closed.length - 1; cg >= 0; cg--) {
      const g = closed[cg]!;
      if (g.lastMain() <= atRev) return undefined;
      if (g.revs[0]! <= atRev) return g;
    }
    return undefined;
  }

  /** Whether the key existed at `atRev` (get() without allocating: counting a range). */
  existsAt(atRev: number): boolean {
    const g = this.findGeneration(atRev);
    if (g === undefined) return false;
    return (g === 'live' ? this.liveAtOrBelow(atRev) : findAtOrBelow(g.revs, atRev)) >= 0;
  }

  /** The key as of `atRev`, or undefined when it did not exist then (or that history is compacted). */
  get(atRev: number): KeyAt | undefined {
    const g = this.findGeneration(atRev);
    if (g === undefined) return undefined;
    if (g === 'live') {
      const n = this.liveAtOrBelow(atRev);
      if (n < 0) return undefined;
      const version = this.ver - (this.liveLength() - n - 1);
      return { main: this.liveMain(n), sub: this.liveSub(n), create: this.created, version };
    }
    const n = findAtOrBelow(g.revs, atRev);
    if (n < 0) return undefined;
    return { main: g.revs[2 * n]!, sub: g.revs[2 * n + 1]!, create: g.created, version: g.ver - (g.length - n - 1) };
  }

  /**
   * etcd's keyIndex.compact: drops every revision that no read at or above `atRev` can need. The
   * latest revision at or below `atRev` of the generation alive then is kept (and reported through
   * `keep`); generations that ended (tombstone) at or below `atRev` go entirely.
   */
  compact(atRev: number, keep: (main: number, sub: number) => void): void {
    const closed = this.closed;
    let first = 0;
    const n = closed === undefined ? 0 : closed.length;
    // The first generation that is alive at atRev or was created after it.
    while (first < n && closed![first]!.lastMain() <= atRev) first++;
    if (first < n) {
      const g = closed![first]!;
      const i = findAtOrBelow(g.revs, atRev);
      if (i !== -1) keep(g.revs[2 * i]!, g.revs[2 * i + 1]!);
      if (i > 0) g.revs = g.revs.slice(2 * i);
      if (first > 0) this.closed = closed!.slice(first);
      return;
    }
    this.closed = undefined;
    const i = this.liveAtOrBelow(atRev);
    if (i === -1) return;
    keep(this.liveMain(i), this.liveSub(i));
    if (i === 0) return;
    this.older = i === this.liveLength() - 1 ? undefined : this.older!.slice(2 * i);
  }
}
