// Compaction in two steps, as etcd does it:
//   - at apply time, synchronously: the compacted revision moves (reads below it fail at once) and
//     the key index drops every revision no read at or above it can need (compactIndex); the
//     revisions still needed at or below it form the `keep` set;
//   - in the background: the records at or below the revision that are not kept are deleted from
//     LevelDB in small batches, yielding between them so that applies and reads go on. Its end is
//     recorded ("compact-done"); a compaction interrupted by a crash runs again at the next open.
import type { KeyStr } from './bytes.js';
import type { Db } from './data-dir.js';
import { writeOps } from '../raft/storage/level-batch.js';
import { META, encodeNumber } from './record-codec.js';
import { parseRevKey, revId, revKeyAfter, revKeyLow } from './revision.js';
import type { MvccState } from './state.js';
import type { Logger } from '../util/log.js';

/** Compacts the key index at `rev`; returns the ids (revId) of the records at or below it to keep. */
export function compactIndex(st: MvccState, rev: number): Set<string> {
  const keep = new Set<string>();
  const empty: KeyStr[] = [];
  for (const [k, ki] of st.tree.entries()) {
    ki.compact(rev, (main, sub) => keep.add(revId(main, sub)));
    if (ki.isEmpty()) empty.push(k);
  }
  for (const k of empty) st.tree.delete(k);
  return keep;
}

export interface CompactorOptions {
  logger: Logger;
  /** Records examined per batch (etcd: 1000 per batch, 10 ms apart). */
  batchSize?: number;
  /** Called with the bytes removed, for the store's size estimate. */
  onRemoved?: (bytes: number) => void;
}

/** Runs the physical part of compactions against one database, one at a time, newest wins. */
export class Compactor {
  private next: { rev: number; keep: Set<string> } | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private waiters: { rev: number; resolve: () => void }[] = [];
  private readonly batchSize: number;

  constructor(
    private readonly db: Db,
    /** The last revision whose physical compaction finished. */
    private done: number,
    private readonly opts: CompactorOptions,
  ) {
    this.batchSize = opts.batchSize ?? 1000;
  }

  /**
   * Removes the records at or below `rev` that are not in `keep`. A later compaction replaces one
   * not started yet (its scan covers everything the older one would remove).
   */
  schedule(rev: number, keep: Set<string>): void {
    if (this.stopped) return;
    this.next = { rev, keep };
    if (!this.running) {
      this.running = this.loop().finally(() => {
        this.running = undefined;
      });
    }
  }

  /** Resolves once the physical compaction of `rev` (or a later one) has finished. */
  wait(rev: number): Promise<void> {
    if (this.done >= rev || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ rev, resolve }));
  }

  /** Stops after the current batch (the rest runs again at the next open). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  private async loop(): Promise<void> {
    while (this.next && !this.stopped) {
      const job = this.next;
      this.next = undefined;
      try {
        const finished = await this.compact(job.rev, job.keep);
        if (!finished) return;
        this.done = Math.max(this.done, job.rev);
        for (const w of this.waiters.filter((x) => x.rev <= this.done)) w.resolve();
        this.waiters = this.waiters.filter((x) => x.rev > this.done);
      } catch (err) {
        // A failed compaction leaves extra records behind, never missing ones; the next open retries.
        this.opts.logger.error({ err, revision: job.rev }, 'kv: physical compaction failed');
        return;
      }
    }
  }

  private async compact(rev: number, keep: Set<string>): Promise<boolean> {
    const started = Date.now();
    let removed = 0;
    let bytes = 0;
    const it = this.db.iterator({ gte: revKeyLow(0), lt: revKeyAfter(rev) });
    try {
      for (;;) {
        if (this.stopped) return false;
        const entries = await it.nextv(this.batchSize);
        if (entries.length === 0) break;
        const dels: { type: 'del'; key: Uint8Array }[] = [];
        for (const [key, value] of entries) {
          const r = parseRevKey(key);
          if (keep.has(revId(r.main, r.sub))) continue;
          dels.push({ type: 'del', key });
          bytes += key.length + value.length;
        }
        await writeOps(this.db, dels, false);
        removed += dels.length;
        this.opts.onRemoved?.(bytes);
        bytes = 0;
        // Let applies and reads run between batches.
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      await it.close();
    }
    await this.db.put(META.compactDone, encodeNumber(rev), { sync: false });
    this.opts.logger.info({ revision: rev, removed, ms: Date.now() - started }, 'kv: finished physical compaction');
    return true;
  }
}
