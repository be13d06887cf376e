// The member table: who is in the cluster and where to reach them. The core only knows ids; the
// names and URLs ride in each membership change's context and in the snapshot, so that every
// member (including one that joins later or restarts from a snapshot) can rebuild the table.

export interface MemberInfo {
  id: number;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner?: boolean;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export function encodeMemberContext(m: Omit<MemberInfo, 'id' | 'isLearner'>): Uint8Array {
  return textEncoder.encode(JSON.stringify({ name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs }));
}

export function decodeMemberContext(id: number, data: Uint8Array): MemberInfo {
  if (data.length === 0) return { id, name: '', peerURLs: [], clientURLs: [] };
  const v = JSON.parse(textDecoder.decode(data)) as Partial<MemberInfo>;
  return {
    id,
    name: typeof v.name === 'string' ? v.name : '',
    peerURLs: Array.isArray(v.peerURLs) ? v.peerURLs.map(String) : [],
    clientURLs: Array.isArray(v.clientURLs) ? v.clientURLs.map(String) : [],
  };
}

/**
 * The node's snapshot wraps the application's with the member table:
 * [u32 length of members JSON][members JSON][application snapshot].
 */
export function wrapSnapshot(members: MemberInfo[], app: Uint8Array): Uint8Array {
  return Buffer.concat(wrapSnapshotPieces(members, [app]));
}

/** The same as wrapSnapshot, as pieces: the member table, then the application's pieces, uncopied. */
export function wrapSnapshotPieces(members: MemberInfo[], app: readonly Uint8Array[]): Uint8Array[] {
  const json = textEncoder.encode(JSON.stringify(members));
  const head = Buffer.allocUnsafeSlow(4 + json.length);
  head.writeUInt32BE(json.length, 0);
  head.set(json, 4);
  return [head, ...app];
}

export function unwrapSnapshot(data: Uint8Array): { members: MemberInfo[]; app: Uint8Array } {
  if (data.length < 4) throw new Error('raft: snapshot too short to hold the member table');
  const len = new DataView(data.buffer, data.byteOffset, 4).getUint32(0);
  if (4 + len > data.length) throw new Error('raft: snapshot member table is truncated');
  const members = JSON.parse(textDecoder.decode(data.subarray(4, 4 + len))) as MemberInfo[];
  return { members, app: data.subarray(4 + len) };
}
