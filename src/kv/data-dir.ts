// The store's directory: one LevelDB database in a subdirectory named by the file CURRENT.
//
//   <dir>/CURRENT     the name of the live database directory ("db-<n>")
//   <dir>/db-<n>/     LevelDB (record-codec.ts describes its keys)
//
// A snapshot restore writes the new state into db-<n+1> while db-<n> stays untouched, then
// replaces CURRENT (write a temporary file, fsync, rename, fsync the directory): a crash at any
// point leaves either the old state or the new one, never a mix. Directories that CURRENT does not
// name are leftovers of an interrupted restore and are removed at open.
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { openDb, type Db } from '../raft/storage/lock.js';
import { fsyncDir } from '../raft/storage/snapshot-file.js';

export type { Db };

const CURRENT = 'CURRENT';

function dbName(n: number): string {
  return `db-${n}`;
}

function dbNumber(name: string): number | undefined {
  const m = /^db-(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

async function readCurrent(dir: string): Promise<string | undefined> {
  try {
    const name = (await readFile(join(dir, CURRENT), 'utf8')).trim();
    return dbNumber(name) === undefined ? undefined : name;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function writeCurrent(dir: string, name: string): Promise<void> {
  const tmp = join(dir, `${CURRENT}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(`${name}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, CURRENT));
  await fsyncDir(dir);
}

export interface OpenedDb {
  db: Db;
  name: string;
}

/** Opens the live database of `dir` (creating the directory and an empty database if needed). */
export async function openDataDir(dir: string): Promise<OpenedDb> {
  await mkdir(dir, { recursive: true });
  let name = await readCurrent(dir);
  if (!name) {
    name = dbName(0);
    await writeCurrent(dir, name);
  }
  const db = await openDb(dir, join(dir, name));
  // Only after the lock is ours: another process using this directory would hold it.
  for (const entry of await readdir(dir)) {
    if (entry !== name && dbNumber(entry) !== undefined) await rm(join(dir, entry), { recursive: true, force: true });
  }
  return { db, name };
}

/** A fresh, empty database next to the live one, for a restore to fill. */
export async function openNextDb(dir: string, live: string): Promise<OpenedDb> {
  const name = dbName((dbNumber(live) ?? 0) + 1);
  await rm(join(dir, name), { recursive: true, force: true });
  const db = await openDb(dir, join(dir, name));
  return { db, name };
}

/** Makes `name` the live database, atomically (the point of no return of a restore). */
export async function switchDb(dir: string, name: string): Promise<void> {
  await writeCurrent(dir, name);
}

/** Removes a database directory that is no longer live (closed first). */
export async function removeDb(dir: string, name: string): Promise<void> {
  await rm(join(dir, name), { recursive: true, force: true });
}

/**
 * Has LevelDB rewrite its files over every key of the database now (etcd's defragment), so that
 * the space of deleted and overwritten records goes back to the file system. `level`'s types do
 * not name `compactRange`; classic-level, which it runs on in Node, has it.
 */
export async function compactWholeDb(db: Db): Promise<void> {
  const impl = db as unknown as { compactRange(start: Uint8Array, end: Uint8Array): Promise<void> };
  // Every key space of the store ('l' leases, 'm' meta, 'r' records) lies between these two.
  await impl.compactRange(Uint8Array.of(0x00), Uint8Array.of(0xff));
}

/**
 * Defragments the store of a data directory no member is running on (`kvctl defrag --data-dir`):
 * `storeDir` is `<data-dir>/kv`. Never creates anything; a running member holds LevelDB's lock, so
 * this fails with DataDirLockedError rather than touch its files.
 */
export async function defragmentStoreDir(storeDir: string): Promise<void> {
  const name = await readCurrent(storeDir);
  if (!name) throw new Error(`${join(storeDir, CURRENT)} not found: not a kvd data directory`);
  const db = await openDb(storeDir, join(storeDir, name));
  try {
    await compactWholeDb(db);
  } finally {
    await db.close();
  }
}
