// Snapshot data files. The data (tens of MiB) is kept out of LevelDB: it is written to
// <snapDir>/<name>.tmp, fsynced, renamed to <snapDir>/<name> and the directory fsynced; only then
// is the metadata row (file name, size, crc32) committed to LevelDB. Files that no metadata row
// points to (temp files from an interrupted write, complete files whose metadata never committed,
// older snapshots whose removal was interrupted) are deleted when the storage opens.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { StoredSnapshotMeta } from './codec.js';
import { StorageCorruptError } from './errors.js';

export const SNAPSHOT_SUFFIX = '.snap';
export const TEMP_SUFFIX = '.tmp';

/** Points of the snapshot write sequence where a crash test can stop the process. */
export type SnapshotFailpoint =
  /** The temp file is written and fsynced, not renamed yet. */
  | 'snapshot:temp-synced'
  /** The file is renamed and the directory fsynced; the metadata is not committed yet. */
  | 'snapshot:renamed'
  /** The metadata is committed; older snapshot files are not removed yet. */
  | 'snapshot:committed';

export type Failpoint = (point: SnapshotFailpoint) => void | Promise<void>;

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

/** `<index>-<term>-<random>.snap`, index and term as 16 hex digits so names sort by index. */
export function snapshotFileName(index: number, term: number): string {
  return `${hex16(index)}-${hex16(term)}-${randomBytes(4).toString('hex')}${SNAPSHOT_SUFFIX}`;
}

/** fsync a directory so that a rename or create in it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Creates `dir` inside `parent` if missing, and makes the new entry durable. */
export async function ensureDir(dir: string, parent: string): Promise<void> {
  if ((await mkdir(dir, { recursive: true })) !== undefined) await fsyncDir(parent);
}

export interface WrittenSnapshotFile {
  file: string;
  size: number;
  crc32: number;
  /** Number of fsync calls made (file + directory). */
  fsyncs: number;
  bytes: number;
}

/** Write `data` durably under a new name in `dir`. Does not touch LevelDB. */
export async function writeSnapshotFile(
  dir: string,
  index: number,
  term: number,
  data: Uint8Array,
  failpoint?: Failpoint,
): Promise<WrittenSnapshotFile> {
  const file = snapshotFileName(index, term);
  const finalPath = join(dir, file);
  const tempPath = finalPath + TEMP_SUFFIX;
  const fh = await open(tempPath, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await failpoint?.('snapshot:temp-synced');
    await rename(tempPath, finalPath);
  } catch (err) {
    await rm(tempPath, { force: true }).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dir);
  await failpoint?.('snapshot:renamed');
  return { file, size: data.byteLength, crc32: crc32(data), fsyncs: 2, bytes: data.byteLength };
}

/** Read and verify the data file a metadata row points to. */
export async function readSnapshotFile(dir: string, meta: StoredSnapshotMeta): Promise<Uint8Array> {
  const path = join(dir, meta.file);
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StorageCorruptError(
      path,
      `cannot read the data of the snapshot at index ${meta.index} (${code ?? (err as Error).message})`,
      err,
    );
  }
  if (buf.byteLength !== meta.size) {
    throw new StorageCorruptError(path, `snapshot file has ${buf.byteLength} bytes, metadata says ${meta.size}`);
  }
  const sum = crc32(buf);
  if (sum !== meta.crc32) {
    throw new StorageCorruptError(path, `snapshot file checksum ${sum} does not match metadata ${meta.crc32}`);
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Check that the referenced file exists with the recorded size (cheap; the checksum is checked on read). */
export async function checkSnapshotFile(dir: string, meta: StoredSnapshotMeta): Promise<void> {
  const path = join(dir, meta.file);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StorageCorruptError(path, `the data file of the snapshot at index ${meta.index} is missing (${code})`, err);
  }
  if (size !== meta.size) {
    throw new StorageCorruptError(path, `snapshot file has ${size} bytes, metadata says ${meta.size}`);
  }
}

/** Remove every snapshot file in `dir` except `keep` (and, with `keepAbove`, those of a newer index). Returns the names removed. */
export async function removeSnapshotFilesExcept(dir: string, keep: string | undefined, opts: { keepAbove?: number } = {}): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir)) {
    if (name === keep) continue;
    if (!name.endsWith(SNAPSHOT_SUFFIX) && !name.endsWith(TEMP_SUFFIX)) continue;
    // A file of a newer snapshot may be one being written, whose metadata is still to come.
    if (opts.keepAbove !== undefined && parseInt(name.slice(0, 16), 16) > opts.keepAbove) continue;
    await rm(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}
