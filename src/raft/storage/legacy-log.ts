// Converting a format 1 data directory, which kept the hard state, the snapshot metadata and every
// log entry as LevelDB keys, to format 2 (the write-ahead log, wal.ts).
//
// Crash safety: the log is first written to a fresh write-ahead log and synced; only then does one
// synced LevelDB batch delete the old keys and set the format version to 2. A crash before that
// batch leaves format 1 in place, and the next open converts again (over whatever segments the
// interrupted conversion left).
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../util/log.js';
import type { Entry, HardState } from '../types.js';
import { decodeLegacyEntry, decodeLegacyHardState, decodeLegacySnapshotMeta, encodeVersion } from './codec.js';
import { StorageCorruptError } from './errors.js';
import {
  describeKey,
  ENTRY_KEY_MAX,
  ENTRY_KEY_MIN,
  entryIndexFromKey,
  entryKey,
  FORMAT_VERSION,
  HARD_STATE_KEY,
  SNAPSHOT_META_KEY,
  VERSION_KEY,
} from './keys.js';
import { writeOps, type LevelOp } from './level-batch.js';
import type { Db } from './lock.js';
import { fsyncDir } from './snapshot-file.js';
import { EMPTY_HARD_STATE, WalWriter } from './wal.js';
import { RecordKind } from './wal-record.js';

/** Entries per record written by the conversion (bounds a record's size). */
const ENTRIES_PER_RECORD = 10_000;

export async function convertLegacyLog(db: Db, walDir: string, log: Logger): Promise<void> {
  const hsValue = await db.get(HARD_STATE_KEY);
  const hardState: HardState = hsValue === undefined ? { ...EMPTY_HARD_STATE } : decodeLegacyHardState(describeKey(HARD_STATE_KEY), hsValue);
  const metaValue = await db.get(SNAPSHOT_META_KEY);
  const snapshot = metaValue === undefined ? undefined : decodeLegacySnapshotMeta(describeKey(SNAPSHOT_META_KEY), metaValue);

  const entries: Entry[] = [];
  for await (const [key, value] of db.iterator({ gte: ENTRY_KEY_MIN, lte: ENTRY_KEY_MAX })) {
    const index = entryIndexFromKey(key);
    if (index === undefined) throw new StorageCorruptError(describeKey(key), 'not a valid entry key');
    const expected = entries.length === 0 ? index : entries[entries.length - 1]!.index + 1;
    if (index !== expected) {
      throw new StorageCorruptError(describeKey(entryKey(expected)), `missing: the log jumps from ${expected - 1} to ${index}`);
    }
    entries.push(decodeLegacyEntry(describeKey(key), index, value));
  }
  const first = entries.length > 0 ? entries[0]!.index : 0;
  const last = entries.length > 0 ? entries[entries.length - 1]!.index : 0;

  // Segments left by an interrupted conversion are replaced.
  for (const name of await readdir(walDir)) if (name.endsWith('.wal')) await unlink(join(walDir, name));
  await fsyncDir(walDir);
  const wal = await WalWriter.start(walDir, [], { hardState, snapshot, first: 0, last: 0 });
  try {
    for (let i = 0; i < entries.length; i += ENTRIES_PER_RECORD) {
      const part = entries.slice(i, i + ENTRIES_PER_RECORD);
      await wal.write({ kind: RecordKind.Change, first, last: part[part.length - 1]!.index, entries: part }, true);
    }
  } finally {
    wal.close();
  }

  const ops: LevelOp[] = [
    { type: 'del', key: HARD_STATE_KEY },
    { type: 'del', key: SNAPSHOT_META_KEY },
    ...entries.map((e): LevelOp => ({ type: 'del', key: entryKey(e.index) })),
    { type: 'put', key: VERSION_KEY, value: encodeVersion(FORMAT_VERSION) },
  ];
  await writeOps(db, ops, true);
  log.info({ firstIndex: first, lastIndex: last, entries: entries.length }, 'converted the raft log from LevelDB (format 1) to the write-ahead log (format 2)');
}
