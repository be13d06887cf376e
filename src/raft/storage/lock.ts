// Opening the LevelDB database of a data directory. LevelDB takes an exclusive lock (fcntl on the
// file LOCK) so that one process at a time owns the directory; classic-level reports a held lock
// as LEVEL_DATABASE_NOT_OPEN with cause.code LEVEL_LOCKED ("IO error: lock .../LOCK: Resource
// temporarily unavailable" from another process, "already held by process" from this one). Those
// become DataDirLockedError; other open failures become StorageOpenError / StorageCorruptError.
import { Level } from 'level';
import { DataDirLockedError, StorageCorruptError, StorageOpenError } from './errors.js';

export type Db = Level<Uint8Array, Uint8Array>;

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Open (creating if missing) the LevelDB database at `location`. `dir` is the data directory named in
 * errors.
 */
export async function openDb(dir: string, location: string): Promise<Db> {
  const db: Db = new Level<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view' });
  try {
    await db.open({ createIfMissing: true });
  } catch (err) {
    const cause = (err as { cause?: unknown } | null)?.cause;
    const causeCode = errorCode(cause);
    if (causeCode === 'LEVEL_LOCKED') throw new DataDirLockedError(dir, err);
    if (causeCode === 'LEVEL_CORRUPTION') {
      throw new StorageCorruptError(location, `LevelDB reports corruption: ${errorMessage(cause)}`, err);
    }
    throw new StorageOpenError(dir, cause === undefined ? errorMessage(err) : errorMessage(cause), err);
  }
  return db;
}
