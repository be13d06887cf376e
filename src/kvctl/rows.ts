// The rows that the simple and table formats share (etcdctl's makeMemberListTable and friends).
import type { MemberListResponse } from '../client/index.js';
import { hexId, humanizeBytes, goDuration } from './format.js';
import type { HashKVDisplay, HealthDisplay, SnapshotStatus, StatusDisplay } from './printer.js';

export const MEMBER_HEADER = ['ID', 'Status', 'Name', 'Peer Addrs', 'Client Addrs', 'Is Learner'];

export function memberRows(r: MemberListResponse): string[][] {
  return r.members.map((m) => [
    hexId(m.ID),
    m.name ? 'started' : 'unstarted',
    m.name,
    m.peerURLs.join(','),
    m.clientURLs.join(','),
    String(m.isLearner),
  ]);
}

export const STATUS_HEADER = ['endpoint', 'ID', 'version', 'db size', 'is leader', 'is learner', 'raft term', 'raft index', 'raft applied index', 'errors'];

export function statusRows(list: StatusDisplay[]): string[][] {
  return list.map((s) => [
    s.ep,
    hexId(s.header.member_id ?? 0n),
    s.version,
    humanizeBytes(s.dbSize),
    String(s.leader === (s.header.member_id ?? 0n)),
    String(s.isLearner),
    String(s.raftTerm),
    String(s.raftIndex),
    String(s.raftAppliedIndex),
    s.errors.join(', '),
  ]);
}

export const HASHKV_HEADER = ['endpoint', 'hash'];

export function hashKVRows(list: HashKVDisplay[]): string[][] {
  return list.map((h) => [h.ep, String(h.hash)]);
}

export const HEALTH_HEADER = ['endpoint', 'health', 'took', 'error'];

export function healthRows(list: HealthDisplay[]): string[][] {
  return list.map((h) => [h.ep, String(h.health), goDuration(h.took * 1e6), h.error ?? '']);
}

export const SNAPSHOT_HEADER = ['hash', 'revision', 'total keys', 'total size'];

export function snapshotRows(s: SnapshotStatus): string[][] {
  return [[s.hash.toString(16), String(s.revision), String(s.totalKey), humanizeBytes(s.totalSize)]];
}
