// The reference model for the key index tests: the key index as it was before its memory layout was
// made compact, one Generation object per generation with every revision in an array. Its logic
// reads straight from etcd's keyIndex (a list of generations, each from the put that created the key
// to the tombstone that deleted it; the last one empty while the key is deleted), so the compact
// KeyIndex must answer every question as this one does.

export class Generation {
  /** Number of puts in this generation, including ones compacted away (so versions stay right). */
  ver = 0;
  /** Main revision of the put that created the key (its create_revision). */
  created = 0;
  revs: number[] | undefined = undefined;

  isEmpty(): boolean {
    return this.revs === undefined;
  }

  /** Number of revisions. */
  get length(): number {
    return this.revs === undefined ? 0 : this.revs.length >> 1;
  }

  main(i: number): number {
    return this.revs![2 * i]!;
  }

  sub(i: number): number {
    return this.revs![2 * i + 1]!;
  }

  push(main: number, sub: number): void {
    if (this.revs === undefined) this.revs = [main, sub];
    else this.revs.push(main, sub);
  }

  /** Index of the latest revision with main <= atRev, or -1. */
  findAtOrBelow(atRev: number): number {
    const r = this.revs;
    if (r === undefined) return -1;
    for (let i = (r.length >> 1) - 1; i >= 0; i--) if (r[2 * i]! <= atRev) return i;
    return -1;
  }

  /** Drops the revisions before index i. */
  dropBefore(i: number): void {
    if (i > 0 && this.revs) this.revs = this.revs.slice(2 * i);
  }
}

/** Where a key stood at some revision: the revision of its record and its metadata. */
export interface KeyAt {
  main: number;
  sub: number;
  create: number;
  version: number;
}

export class ModelKeyIndex {
  generations: Generation[] = [];

  /** Main revision of the last change (put or tombstone). */
  modified = 0;

  private last(): Generation {
    let g = this.generations[this.generations.length - 1];
    if (!g) {
      g = new Generation();
      this.generations = [g];
    }
    return g;
  }

  put(main: number, sub: number): void {
    const g = this.last();
    if (g.isEmpty()) g.created = main;
    g.push(main, sub);
    g.ver++;
    this.modified = main;
  }

  /** Rebuild: the first record seen for a key whose earlier history was compacted away. */
  restore(created: number, main: number, sub: number, ver: number): void {
    const g = new Generation();
    g.created = created;
    g.ver = ver;
    g.push(main, sub);
    this.generations = [g];
    this.modified = main;
  }

  /** Ends the live generation with a tombstone revision and opens an empty one. */
  tombstone(main: number, sub: number): boolean {
    const g = this.generations[this.generations.length - 1];
    if (!g || g.isEmpty()) return false;
    this.put(main, sub);
    this.generations.push(new Generation());
    return true;
  }

  isEmpty(): boolean {
    return this.generations.length === 1 && this.generations[0]!.isEmpty();
  }

  /**
   * The generation alive at `atRev` (etcd's findGeneration): a closed generation counts only if
   * its tombstone is after `atRev`.
   */
  private findGeneration(atRev: number): Generation | undefined {
    const lastg = this.generations.length - 1;
    for (let cg = lastg; cg >= 0; cg--) {
      const g = this.generations[cg]!;
      if (g.isEmpty()) continue;
      if (cg !== lastg && g.main(g.length - 1) <= atRev) return undefined;
      if (g.main(0) <= atRev) return g;
    }
    return undefined;
  }

  /** Whether the key existed at `atRev` (get() without allocating: counting a range). */
  existsAt(atRev: number): boolean {
    const g = this.findGeneration(atRev);
    return g !== undefined && g.findAtOrBelow(atRev) >= 0;
  }

  /** The key as of `atRev`, or undefined when it did not exist then (or that history is compacted). */
  get(atRev: number): KeyAt | undefined {
    const g = this.findGeneration(atRev);
    if (!g) return undefined;
    const n = g.findAtOrBelow(atRev);
    if (n < 0) return undefined;
    return { main: g.main(n), sub: g.sub(n), create: g.created, version: g.ver - (g.length - n - 1) };
  }

  /**
   * etcd's keyIndex.compact: drops every revision that no read at or above `atRev` can need. The
   * latest revision at or below `atRev` of the generation alive then is kept (and reported through
   * `keep`); generations that ended (tombstone) at or below `atRev` go entirely.
   */
  compact(atRev: number, keep: (main: number, sub: number) => void): void {
    let genIdx = 0;
    const gens = this.generations;
    // The first generation that is alive at atRev or was created after it.
    while (genIdx < gens.length - 1) {
      const g = gens[genIdx]!;
      if (g.main(g.length - 1) > atRev) break;
      genIdx++;
    }
    const g = gens[genIdx]!;
    const revIndex = g.findAtOrBelow(atRev);
    if (revIndex !== -1) keep(g.main(revIndex), g.sub(revIndex));
    g.dropBefore(revIndex);
    this.generations = gens.slice(genIdx);
  }
}
