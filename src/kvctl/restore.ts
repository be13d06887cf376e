// `snapshot restore`: turns a snapshot file (`snapshot save` of a kvd member: the store's
// "FKVS" byte string, see src/kv/snapshot.ts) into a data directory that kvd starts from, as a new
// cluster, the way `etcdctl snapshot restore` makes an etcd data directory:
//
//   <data-dir>/member.json  this member's id, the new cluster's id and the name, computed from
//                           --name, --initial-cluster and --initial-cluster-token exactly as kvd
//                           computes them at a first start (so every member restored with the same
//                           flags agrees on every id)
//   <data-dir>/kv/          the store, filled from the snapshot (every revision since the last
//                           compaction, the compacted revision, the leases), applied index N
//   <data-dir>/raft/        a Raft log that is only a snapshot at index N, term 1, whose
//                           configuration is the members of --initial-cluster (all voters) and
//                           whose data is the same store snapshot with that member table
//
// N is the number of members (etcd's restore also starts the new log at the member count). A kvd
// started on the directory finds the snapshot, sees its store already at N, elects a leader among
// the configured members and serves the snapshot's keys at the snapshot's revisions. The bootstrap
// flags given to that kvd are ignored (the directory knows its identity); its --listen-peer-urls
// must match this member's URLs in --initial-cluster.
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { KvStore } from '../kv/index.js';
import { readSnapshotHeader, snapshotRecords } from '../kv/snapshot.js';
import { wrapSnapshot, type MemberInfo } from '../raft/node/members.js';
import { RaftStorage } from '../raft/storage/index.js';
import { clusterIdFor, memberIdFor } from '../server/member/ids.js';
import { Exit, KvctlError } from './errors.js';
import type { SnapshotStatus } from './printer.js';

export interface RestoreOptions {
  dataDir: string;
  name: string;
  /** `name=peerURL,...`; default `<name>=<initialAdvertisePeerURLs>` as kvd's. */
  initialCluster: string;
  initialClusterToken: string;
  initialAdvertisePeerURLs: string[];
}

export interface RestoreResult {
  memberId: number;
  clusterId: number;
  index: number;
  revision: number;
  compactRevision: number;
  members: MemberInfo[];
}

const MAGIC = Buffer.from('FKVS');

/** Reads a snapshot file and checks that it is a kvd snapshot (not an etcd bolt file). */
export async function readSnapshotFile(path: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new KvctlError(Exit.Error, `open ${path}: no such file or directory`);
    if (err.code === 'EISDIR') throw new KvctlError(Exit.Error, `read ${path}: is a directory`);
    throw new KvctlError(Exit.Error, `open ${path}: ${err.message}`);
  }
  if (data.length < 12 || !data.subarray(0, 4).equals(MAGIC)) {
    throw new KvctlError(Exit.Error, `${path} is not a kvd snapshot (kvctl restores snapshots saved from kvd; an etcd snapshot needs etcdctl)`);
  }
  return data;
}

/** What `snapshot status` shows: a CRC-32 of the file, the revision, the records, the size. */
export function snapshotStatus(data: Buffer): SnapshotStatus {
  try {
    const { header, body } = readSnapshotHeader(data);
    let records = 0;
    for (const _ of snapshotRecords(data, body)) records++;
    return { hash: crc32(data), revision: header.revision, totalKey: records, totalSize: data.length };
  } catch (e) {
    throw new KvctlError(Exit.Error, `snapshot file is corrupt: ${(e as Error).message}`);
  }
}

/** `a=http://x:1,a=http://x:2,b=...` → name → URLs, in the given order. */
export function parseInitialCluster(s: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of s.split(',')) {
    const t = part.trim();
    if (t === '') continue;
    const eq = t.indexOf('=');
    if (eq <= 0 || eq === t.length - 1) throw new KvctlError(Exit.BadArgs, `invalid --initial-cluster entry ${JSON.stringify(t)} (want name=peerURL)`);
    const name = t.slice(0, eq);
    const url = t.slice(eq + 1);
    try {
      new URL(url);
    } catch {
      throw new KvctlError(Exit.BadArgs, `invalid peer URL ${JSON.stringify(url)} in --initial-cluster`);
    }
    out.set(name, [...(out.get(name) ?? []), url]);
  }
  if (out.size === 0) throw new KvctlError(Exit.BadArgs, '--initial-cluster is empty');
  return out;
}

const norm = (u: string) => u.replace(/\/$/, '');

export async function restoreSnapshot(file: string, opts: RestoreOptions): Promise<RestoreResult> {
  const data = await readSnapshotFile(file);
  let revision: number;
  let compactRevision: number;
  try {
    const { header, body } = readSnapshotHeader(data);
    for (const _ of snapshotRecords(data, body)) {
      /* every record must parse before anything is written */
    }
    revision = header.revision;
    compactRevision = header.compactMain;
  } catch (e) {
    throw new KvctlError(Exit.Error, `snapshot file is corrupt: ${(e as Error).message}`);
  }

  const cluster = parseInitialCluster(opts.initialCluster);
  const mine = cluster.get(opts.name);
  if (!mine) throw new KvctlError(Exit.BadArgs, `couldn't find local name ${JSON.stringify(opts.name)} in the initial cluster configuration`);
  const a = [...mine].map(norm).sort().join(',');
  const b = [...opts.initialAdvertisePeerURLs].map(norm).sort().join(',');
  if (a !== b) {
    throw new KvctlError(
      Exit.BadArgs,
      `--initial-cluster has ${opts.name}=${mine.join(',')} but missing from --initial-advertise-peer-urls=${opts.initialAdvertisePeerURLs.join(',')}`,
    );
  }
  const token = opts.initialClusterToken;
  const members: MemberInfo[] = [...cluster].map(([name, urls]) => ({ id: memberIdFor(urls, token), name, peerURLs: urls, clientURLs: [] }));
  const ids = members.map((m) => m.id);
  if (new Set(ids).size !== ids.length) throw new KvctlError(Exit.BadArgs, '--initial-cluster names the same peer URLs twice');
  const memberId = memberIdFor(mine, token);
  const clusterId = clusterIdFor(ids, token);
  const index = members.length;

  const exists = await stat(opts.dataDir).then(
    () => true,
    () => false,
  );
  if (exists) throw new KvctlError(Exit.Error, `data-dir ${JSON.stringify(opts.dataDir)} exists`);

  const logger = pino({ level: 'silent' });
  try {
    await mkdir(opts.dataDir, { recursive: true });
    const store = await KvStore.open(join(opts.dataDir, 'kv'), { logger });
    try {
      await store.restore(data, index);
    } finally {
      await store.close();
    }
    const raft = await RaftStorage.open(join(opts.dataDir, 'raft'), { logger });
    try {
      await raft.append({
        hardState: { term: 1, vote: 0, commit: index },
        entries: [],
        snapshot: {
          meta: { index, term: 1, confState: { voters: [...ids].sort((x, y) => x - y), learners: [] } },
          data: wrapSnapshot(members, data),
        },
      });
    } finally {
      await raft.close();
    }
    // Last: kvd takes a directory with member.json for one that has been started before.
    await writeFile(join(opts.dataDir, 'member.json'), JSON.stringify({ memberId, clusterId, name: opts.name }));
  } catch (e) {
    await rm(opts.dataDir, { recursive: true, force: true }).catch(() => undefined);
    if (e instanceof KvctlError) throw e;
    throw new KvctlError(Exit.Error, `restore failed: ${(e as Error).message}`);
  }
  return { memberId, clusterId, index, revision, compactRevision, members };
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE), as Go's hash/crc32.ChecksumIEEE. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of data) crc = crcTable[(crc ^ b) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
