// Member and cluster ids, derived as etcd derives them: from the peer URLs and the cluster token,
// so that every member of a new cluster computes every id from --initial-cluster alone, and two
// clusters started with different tokens never accept each other's members. Ids are kept below
// 2^53 so that they are exact JavaScript numbers (etcd's are 64-bit; nothing depends on the width).
import { createHash } from 'node:crypto';

function id53(...parts: string[]): number {
  const h = createHash('sha256').update(parts.join('\n')).digest();
  const id = h.readUIntBE(0, 6) * 32 + (h[6]! >> 3); // 53 bits
  return id === 0 ? 1 : id;
}

export function memberIdFor(peerURLs: string[], token: string, salt = ''): number {
  return id53('member', [...peerURLs].sort().join(','), token, salt);
}

export function clusterIdFor(memberIds: number[], token: string): number {
  return id53('cluster', [...memberIds].sort((a, b) => a - b).join(','), token);
}

/** etcd prints member ids as lower-case hex without padding. */
export function hexId(id: number | bigint): string {
  return BigInt(id).toString(16);
}
