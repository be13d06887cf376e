// A node's stable storage: exactly what it persisted, and nothing it was merely handed. A crashed
// node restarts from this and only this.
import type { Entry, HardState, Snapshot } from '../types.js';

export class Disk {
  hardState: HardState = { term: 0, vote: 0, commit: 0 };
  snapshot: Snapshot | undefined;
  /** Contiguous entries. They may start at or below the snapshot's index (a tail kept for slow followers). */
  entries: Entry[] = [];

  snapshotIndex(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  lastIndex(): number {
    const last = this.entries[this.entries.length - 1];
    return Math.max(last ? last.index : 0, this.snapshotIndex());
  }

  lastTerm(): number {
    return this.termAt(this.lastIndex()) ?? 0;
  }

  termAt(i: number): number | undefined {
    if (i === 0) return 0;
    const first = this.entries[0];
    if (first && i >= first.index && i < first.index + this.entries.length) return this.entries[i - first.index]!.term;
    if (i === this.snapshotIndex()) return this.snapshot!.meta.term;
    return undefined;
  }

  /**
   * Writes entries starting at ents[0].index, replacing whatever was there and after. Returns a
   * description of the problem if the write would leave a hole or overwrite the snapshot.
   */
  append(ents: readonly Entry[]): string | undefined {
    if (ents.length === 0) return undefined;
    const from = ents[0]!.index;
    if (from <= this.snapshotIndex()) return `would overwrite index ${from}, covered by the snapshot at ${this.snapshotIndex()}`;
    if (from > this.lastIndex() + 1) return `would leave a hole: it starts at ${from} but the log ends at ${this.lastIndex()}`;
    for (let i = 1; i < ents.length; i++) {
      if (ents[i]!.index !== ents[i - 1]!.index + 1) return `entries are not contiguous after index ${ents[i - 1]!.index}`;
    }
    const first = this.entries[0];
    if (!first || this.entries[this.entries.length - 1]!.index < from - 1) {
      // The log is empty, or ends at the snapshot: nothing on disk joins the new entries.
      this.entries = ents.slice();
    } else {
      this.entries.length = from - first.index;
      for (const e of ents) this.entries.push(e);
    }
    return undefined;
  }

  /** A snapshot received from the leader replaces the whole log. */
  installSnapshot(snap: Snapshot): void {
    this.snapshot = snap;
    this.entries = [];
  }

  /** The application's own snapshot: entries below `keepFrom` are dropped. */
  compact(snap: Snapshot, keepFrom: number): void {
    if (snap.meta.index <= this.snapshotIndex()) return;
    this.snapshot = snap;
    const first = this.entries[0];
    if (first && keepFrom > first.index) this.entries = this.entries.slice(keepFrom - first.index);
  }
}
