// Member-to-member calls outside Raft: a joining member asking an existing one who is in the
// cluster (on the peer port), a follower forwarding to the leader what only the leader can answer,
// and the corruption checks asking members for their hashes (on their client ports).
import http from 'node:http';
import https from 'node:https';
import { EtcdError, Errors, GrpcCode } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { MemberInfo } from '../../raft/node/index.js';
import type { DialTls } from '../../raft/transport/index.js';
import { linkedAbort } from '../../util/abort.js';

export interface ClusterInfo {
  clusterId: number;
  members: MemberInfo[];
}

/** Asks each peer URL in turn for the cluster's id and members, retrying for up to `timeoutMs`. */
export async function fetchClusterInfo(agents: MemberAgents, peerURLs: string[], log: Logger, timeoutMs = 10000): Promise<ClusterInfo> {
  if (peerURLs.length === 0) throw new EtcdError(GrpcCode.InvalidArgument, 'joining an existing cluster needs the other members in --initial-cluster');
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  for (let attempt = 0; ; attempt++) {
    for (const url of peerURLs) {
      try {
        const res = await agents.request('GET', new URL(`${url.replace(/^ws/, 'http')}/flotilla/cluster`), undefined, AbortSignal.timeout(2000));
        if (res.status === 200) return JSON.parse(res.text) as ClusterInfo;
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

/**
 * How this member reaches the others' ports outside Raft: plain, or over TLS for https:// URLs,
 * trusting `ca` and presenting this member's own certificate (which a member with
 * --client-cert-auth, or --peer-client-cert-auth, asks for), as etcd's members dial each other; the
 * same settings as their Raft connections (--cipher-suites; with --auto-tls nothing is checked).
 */
export type MemberTls = DialTls;

/**
 * Idle connections are dropped after this, before the other member's server drops them (kvd's
 * keep-alive timeout is 65 s): a request never goes out on a connection being closed under it.
 */
const IDLE_MS = 30_000;

/** Keep-alive connections to the other members' client ports (one agent per scheme). */
export class MemberAgents {
  private readonly plain = new http.Agent({ keepAlive: true, timeout: IDLE_MS });
  private readonly secure: https.Agent;

  constructor(tls?: MemberTls) {
    this.secure = new https.Agent({ keepAlive: true, timeout: IDLE_MS, ca: tls?.ca, cert: tls?.cert, key: tls?.key, ciphers: tls?.ciphers, rejectUnauthorized: tls?.rejectUnauthorized });
  }

  /** Sends `body` (JSON text, for a POST) to `url`; resolves with the status and the answer's text. */
  request(method: 'GET' | 'POST', url: URL, body: string | undefined, signal: AbortSignal): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const tls = url.protocol === 'https:';
      const options = {
        method,
        agent: tls ? this.secure : this.plain,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        signal,
      };
      const onAnswer = (res: http.IncomingMessage): void => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
        res.on('close', () => {
          if (!res.complete) reject(new Error('the connection closed during the answer'));
        });
      };
      const req = tls ? https.request(url, options, onAnswer) : http.request(url, options, onAnswer);
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.plain.destroy();
    this.secure.destroy();
  }
}

/** A follower's request to the leader: no answer in time is etcd's timeout, a connection gone "leader changed". */
export function forwardToLeader<T>(agents: MemberAgents, clientURL: string, path: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<T> {
  return callMember<T>(agents, clientURL, path, body, timeoutMs, { signal, unreachable: () => new EtcdError(GrpcCode.Unavailable, 'etcdserver: leader changed') });
}

/**
 * A request to another member's internal endpoint on its client port. No answer within `timeoutMs`
 * is etcd's timeout; a connection that fails (or `signal` aborted) is `unreachable()`.
 */
export async function callMember<T>(
  agents: MemberAgents,
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
    let res: { status: number; text: string };
    try {
      res = await agents.request('POST', new URL(`${clientURL}/flotilla/internal/${path}`), JSON.stringify(body), ac.signal);
    } catch {
      // No answer in time is etcd's timeout. Otherwise the leader went away (its connection failed,
      // or this member saw another leader, which aborts `signal`): the caller may try the new one.
      throw timedOut ? Errors.timeout() : opts.unreachable();
    }
    let json: { error?: string; code?: number } & T;
    try {
      json = JSON.parse(res.text) as { error?: string; code?: number } & T;
    } catch {
      json = {} as { error?: string; code?: number } & T;
    }
    if (res.status < 200 || res.status > 299) throw new EtcdError((json.code as GrpcCode) ?? GrpcCode.Unknown, json.error ?? `HTTP ${res.status}`);
    return json;
  } finally {
    clearTimeout(timer);
    request.dispose();
  }
}
