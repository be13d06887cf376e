// The LevelDB key layout. One byte names the key space; entry keys add the index as 8 bytes
// big-endian, so that LevelDB's bytewise order is numeric order.
//
//   'v'                  format version (msgpack number)
//
// Format 1 also kept the log in LevelDB (format 2 keeps it in the write-ahead log, wal.ts); these
// keys are read only to convert such a directory (legacy-log.ts):
//   'h'                  hard state
//   's'                  metadata of the newest snapshot (its data lives in a file, see snapshot-file.ts)
//   'e' + u64be(index)   log entry
import { putUint64BE } from '../../util/big-endian.js';

export const FORMAT_VERSION = 2;
/** The format that kept the log in LevelDB; converted when opened. */
export const LEGACY_FORMAT_VERSION = 1;

const SPACE_VERSION = 0x76; // 'v'
const SPACE_HARD_STATE = 0x68; // 'h'
const SPACE_SNAPSHOT = 0x73; // 's'
const SPACE_ENTRY = 0x65; // 'e'

export const VERSION_KEY: Uint8Array = Uint8Array.of(SPACE_VERSION);
export const HARD_STATE_KEY: Uint8Array = Uint8Array.of(SPACE_HARD_STATE);
export const SNAPSHOT_META_KEY: Uint8Array = Uint8Array.of(SPACE_SNAPSHOT);

const ENTRY_KEY_LENGTH = 9;
const TWO_32 = 0x1_0000_0000;

/** The lowest and highest possible entry keys: bounds for iterating the whole log. */
export const ENTRY_KEY_MIN: Uint8Array = Uint8Array.of(SPACE_ENTRY, 0, 0, 0, 0, 0, 0, 0, 0);
export const ENTRY_KEY_MAX: Uint8Array = Uint8Array.of(SPACE_ENTRY, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

export function isLogIndex(index: unknown): index is number {
  return typeof index === 'number' && Number.isSafeInteger(index) && index >= 1;
}

export function entryKey(index: number): Uint8Array {
  if (!isLogIndex(index)) throw new RangeError(`log index must be a positive safe integer, got ${String(index)}`);
  const key = new Uint8Array(ENTRY_KEY_LENGTH);
  key[0] = SPACE_ENTRY;
  putUint64BE(key, 1, index);
  return key;
}

export function isEntryKey(key: Uint8Array): boolean {
  return key.length === ENTRY_KEY_LENGTH && key[0] === SPACE_ENTRY;
}

/** The index in an entry key, or undefined when the key is not a valid entry key. */
export function entryIndexFromKey(key: Uint8Array): number | undefined {
  if (!isEntryKey(key)) return undefined;
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const index = view.getUint32(1) * TWO_32 + view.getUint32(5);
  return isLogIndex(index) ? index : undefined;
}

/** A human-readable name for a key, for error messages and logs. */
export function describeKey(key: Uint8Array): string {
  const hex = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
  if (key.length === 1) {
    switch (key[0]) {
      case SPACE_VERSION:
        return 'key "v" (format version)';
      case SPACE_HARD_STATE:
        return 'key "h" (hard state)';
      case SPACE_SNAPSHOT:
        return 'key "s" (snapshot metadata)';
    }
  }
  if (isEntryKey(key)) {
    const index = entryIndexFromKey(key);
    return `key "e/${hex.slice(2)}" (log entry ${index ?? 'with an invalid index'})`;
  }
  return `key 0x${hex}`;
}
