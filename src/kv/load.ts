// Reading a database into memory at open (and after a restore): the meta numbers, the leases, and
// the key index rebuilt by replaying every change record in revision order, as etcd's
// restoreIntoIndex does. Records at or below the compacted revision that a physical compaction had
// not removed yet are tolerated: a tombstone of a key not seen is skipped, a put of a key not seen
// starts its generation from the record's create_revision and version; compacting the rebuilt index
// again at the compacted revision then drops them.
import type { LeaseId } from './api.js';
import { keyStr, latin1 } from './bytes.js';
import { compactIndex } from './compaction.js';
import type { Db } from './data-dir.js';
import type { Lessor } from './lease/lessor.js';
import {
  decodeLease,
  decodeNumber,
  decodeRecord,
  encodeNumber,
  FORMAT_VERSION,
  KvCorruptError,
  LEASE_KEY_END,
  LEASE_KEY_MIN,
  leaseIdFromKey,
  META,
  packr,
} from './record-codec.js';
import { decodeAlarms } from './alarms.js';
import { parseRevKey, REV_SPACE } from './revision.js';
import { MvccState } from './state.js';
import type { Logger } from '../util/log.js';

export interface LoadedStore {
  st: MvccState;
  applied: number;
  /** Sum of record and lease sizes in bytes. */
  bytes: number;
  leases: [LeaseId, number][];
  compactDone: number;
  /** Set when the physical part of the last compaction has to run (again). */
  pendingCompaction?: { rev: number; keep: Set<string> };
}

const REV_MIN = Uint8Array.of(REV_SPACE);
const REV_END = Uint8Array.of(REV_SPACE + 1);

async function getMeta(db: Db, key: Uint8Array, what: string): Promise<number | undefined> {
  return decodeNumber(what, await db.get(key));
}

export async function loadStore(db: Db, lessor: Lessor, log: Logger, valueBudget = Infinity): Promise<LoadedStore> {
  const format = await getMeta(db, META.format, 'format version');
  if (format === undefined) await db.put(META.format, encodeNumber(FORMAT_VERSION));
  else if (format !== FORMAT_VERSION) throw new KvCorruptError('database', `format ${format}, expected ${FORMAT_VERSION}`);
  const applied = (await getMeta(db, META.applied, 'applied index')) ?? 0;
  const revision = (await getMeta(db, META.revision, 'revision')) ?? 1;
  const compacted = await getMeta(db, META.compacted, 'compacted revision');
  const compactDone = (await getMeta(db, META.compactDone, 'compaction done')) ?? -1;

  const st = new MvccState(lessor, valueBudget);
  const alarms = await db.get(META.alarms);
  if (alarms !== undefined) {
    try {
      st.alarms = decodeAlarms(packr.unpack(alarms));
    } catch (err) {
      throw new KvCorruptError('alarms', (err as Error).message);
    }
  }
  const values = st.values;
  let bytes = 0;
  const leases: [LeaseId, number][] = [];
  for await (const [k, v] of db.iterator({ gte: LEASE_KEY_MIN, lt: LEASE_KEY_END })) {
    leases.push([leaseIdFromKey(k), decodeLease(v)]);
    bytes += k.length + v.length;
  }

  let last = 0;
  // Every revision above the compacted one has its records (a revision only moves with a write,
  // and physical compaction removes nothing above it): a missing one is a hole.
  const floor = Math.max(compacted ?? 0, 1);
  const it = db.iterator({ gte: REV_MIN, lt: REV_END });
  try {
    for (;;) {
      const chunk = await it.nextv(1000);
      if (chunk.length === 0) break;
      for (const [k, v] of chunk) {
        bytes += k.length + v.length;
        const { main, sub } = parseRevKey(k);
        if (main > Math.max(last, floor) + 1) missingRevisions(Math.max(last, floor) + 1, main - 1, compacted);
        last = main;
        const rec = decodeRecord(main, v);
        const ks = keyStr(rec.key);
        let ki = st.tree.get(ks);
        if (!rec.kv) {
          if (ki?.tombstone(main, sub)) {
            values.drop(ki);
            st.liveKeys--;
          }
          continue;
        }
        if (!ki) {
          ki = st.tree.getOrCreate(ks);
          ki.restore(rec.kv.create_revision, main, sub, rec.kv.version, rec.kv.lease);
          st.liveKeys++;
        } else {
          if (!ki.isLive()) st.liveKeys++;
          ki.put(main, sub, rec.kv.lease);
        }
        values.set(ki, latin1(rec.kv.value));
      }
      // The values read last (the newest) are the ones that stay.
      values.evict();
    }
  } finally {
    await it.close();
  }
  if (revision > Math.max(last, floor)) missingRevisions(Math.max(last, floor) + 1, revision, compacted);
  st.compactMain = compacted ?? -1;
  st.revision = Math.max(revision, last, st.compactMain);

  let pendingCompaction: LoadedStore['pendingCompaction'];
  if (compacted !== undefined) {
    const keep = compactIndex(st, compacted);
    if (compactDone < compacted) pendingCompaction = { rev: compacted, keep };
  }
  log.info({ revision: st.revision, applied, keys: st.liveKeys, leases: leases.length, bytes }, 'kv: loaded the store');
  return { st, applied, bytes, leases, compactDone, pendingCompaction };
}

/**
 * A store with a hole would answer reads and watches with changes missing, and no Raft entry would
 * refill it (they are applied once): refuse it. Unsynced writes are lost as a suffix after
 * kill -9; a hole takes a power cut that kept some of LevelDB's newer writes and not older ones.
 */
function missingRevisions(from: number, to: number, compacted: number | undefined): never {
  const which = from === to ? `revision ${from} is` : `revisions ${from} to ${to} are`;
  throw new KvCorruptError(
    'database',
    `${which} missing (compacted up to ${compacted ?? 'none'}): the store lost writes; remove this member and add it again with an empty data directory, or restore a backup`,
  );
}

/** Fills the lessor from `leases` and attaches every live key to its lease. */
export function attachLeases(st: MvccState, leases: [LeaseId, number][], log: Logger): void {
  st.lessor.reset(leases);
  let orphans = 0;
  for (const [k, ki] of st.tree.entries()) {
    const id = ki.lease;
    if (id === 0n) continue;
    if (st.lessor.lookup(id)) st.lessor.attach(id, k);
    else orphans++;
  }
  // Cannot happen through apply (a revoke deletes the keys in the same batch); worth a line if it does.
  if (orphans > 0) log.warn({ orphans }, 'kv: keys attached to leases that do not exist');
}
