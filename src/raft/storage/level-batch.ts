// One atomic LevelDB write of many operations, the way both stores write (the Raft log's batches,
// the key-value store's write-behind).
//
// Why not just `db.batch().put(...)`: abstract-level's public put() checks the key and value,
// spreads an options object, looks the encodings up and runs them, on every operation; that
// costs more than LevelDB's own copy of the bytes into its write batch (measured: 3.1-3.6 µs of
// CPU per 300-byte operation through the public put, 1.1-1.5 µs through the implementation's
// _put; the stores write two operations per put request on every member). Our operations are
// already bytes ('view' encoding both ways, no hooks, no sublevels), so they go straight to the
// chained batch's implementation methods (`_put`, `_del`, `_write`: abstract-level's interface
// for its implementations, which classic-level provides). The public path is kept for a batch
// that does not have them; test/raft/level-batch.test.ts checks that classic-level's batches take
// the fast one.
import type { Db } from './lock.js';

export type LevelOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

/** The implementation side of classic-level's chained batch. */
interface BatchImpl {
  _put(key: Uint8Array, value: Uint8Array): void;
  _del(key: Uint8Array): void;
  _write(options: { sync: boolean }): Promise<void>;
  close(): Promise<void>;
}

function implOf(b: unknown): BatchImpl | undefined {
  const i = b as Partial<BatchImpl>;
  return typeof i._put === 'function' && typeof i._del === 'function' && typeof i._write === 'function' ? (i as BatchImpl) : undefined;
}

/** Writes `ops` as one LevelDB batch, synced when `sync`. Keys and values are copied before it returns its promise. */
export async function writeOps(db: Db, ops: readonly LevelOp[], sync: boolean): Promise<void> {
  if (ops.length === 0) return;
  const b = db.batch();
  const impl = implOf(b);
  if (impl === undefined) {
    for (const op of ops) {
      if (op.type === 'put') b.put(op.key, op.value);
      else b.del(op.key);
    }
    await b.write({ sync });
    return;
  }
  try {
    for (const op of ops) {
      if (op.type === 'put') impl._put(op.key, op.value);
      else impl._del(op.key);
    }
    await impl._write({ sync });
  } finally {
    await impl.close();
  }
}
