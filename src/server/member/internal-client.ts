// Member-to-member calls outside Raft: a joining member asking an existing one who is in the
// cluster (on the peer port), a follower forwarding to the leader what only the leader can answer,
// and the corruption checks asking members for their hashes (on their client ports).
import { EtcdError, Errors, GrpcCode } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { MemberInfo } from '../../raft/node/index.js';
import { linkedAbort } from '../../util/abort.js';

export interface ClusterInfo {
  clusterId: number;
  members: MemberInfo[];
}

/** Asks each peer URL in turn for the cluster's id and members, retrying for up to `timeoutMs`. */
export async function fetchClusterInfo(peerURLs: string[], log: Logger, timeoutMs = 10000): Promise<ClusterInfo> {
  if (peerURLs.length === 0) throw new EtcdError(GrpcCode.InvalidArgument, 'joining an existing cluster needs the other members in --initial-cluster');
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  for (let attempt = 0; ; attempt++) {
    for (const url of peerURLs) {
      try {
        const res = await fetch(`${url.replace(/^ws/, 'http')}/flotilla/cluster`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) return (await res.json()) as ClusterInfo;
        lastErr = `${url}: HTTP ${res.status}`;
      } catch (err) {
        lastErr = `${url}: ${(err as Error).message}`;
      }
    }
    if (Date.now() > deadline) {
      throw new EtcdError(GrpcCode.Unavailable, `could not reach any existing member to join the cluster (${lastErr})`);
    }
    log.info({ lastErr, attempt }, 'kvd: waiting for an existing member to answer');
    await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** attempt)));
  }
}

/** A follower's request to the leader: no answer in time is etcd's timeout, a connection gone "leader changed". */
export function forwardToLeader<T>(clientURL: string, path: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<T> {
  return callMember<T>(clientURL, path, body, timeoutMs, { signal, unreachable: () => new EtcdError(GrpcCode.Unavailable, 'etcdserver: leader changed') });
}

/**
 * A request to another member's internal endpoint on its client port. No answer within `timeoutMs`
 * is etcd's timeout; a connection that fails (or `signal` aborted) is `unreachable()`.
 */
export async function callMember<T>(
  clientURL: string,
  path: string,
  body: unknown,
  timeoutMs: number,
  opts: { signal?: AbortSignal; unreachable: () => Error },
): Promise<T> {
  const request = linkedAbort(opts.signal);
  const ac = request.controller;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, timeoutMs);
  try {
    let res: Response;
    let json: { error?: string; code?: number } & T;
    try {
      res = await fetch(`${clientURL}/flotilla/internal/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: ac.signal,
      });
      json = (await res.json().catch((e: unknown) => {
        if (ac.signal.aborted) throw e;
        return {};
      })) as { error?: string; code?: number } & T;
    } catch {
      // No answer in time is etcd's timeout. Otherwise the leader went away (its connection failed,
      // or this member saw another leader, which aborts `signal`): the caller may try the new one.
      throw timedOut ? Errors.timeout() : opts.unreachable();
    }
    if (!res.ok) throw new EtcdError((json.code as GrpcCode) ?? GrpcCode.Unknown, json.error ?? `HTTP ${res.status}`);
    return json;
  } finally {
    clearTimeout(timer);
    request.dispose();
  }
}
