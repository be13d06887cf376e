// PeerTransport: carries Raft messages between the members of one cluster over WebSocket.
//
// - One long-lived outbound connection per peer (PeerConnection) for sending to it, inbound
//   connections accepted on the listener (PeerListener) for receiving from it.
// - send() only queues; everything queued for a peer in one tick leaves as one frame on
//   setImmediate. Snap messages are streamed in chunks and reassembled at the receiver.
// - A peer is "up" while any connection with it (either direction) is open; onPeerUp/onPeerDown
//   report the transitions.
import type { CertificateRule } from '../../util/certificate-rule.js';
import { componentLogger, type Logger } from '../../util/log.js';
import { isLocalMessage, MessageType, type Message, type NodeId } from '../types.js';
import { Codec } from './codec.js';
import { CloseCode, TransportError } from './errors.js';
import { PeerConnection, type DialTls, type PeerStats } from './peer-connection.js';
import { DEFAULT_PROBE_INTERVAL_MS } from './round-trip-probe.js';
import { PeerListener, type InboundConnection } from './server.js';

export type { PeerStats };

export interface TransportOptions {
  /** This member's id; a positive integer below 2^53. */
  id: NodeId;
  /** Positive integer below 2^53; connections from another cluster are refused. */
  clusterId: number;
  /** Where the peer listener binds; port 0 picks a free port (see address()). */
  listen: { host: string; port: number };
  /** id -> ws://host:port URL of that member's peer listener (an entry for `id` itself is ignored). */
  peers: Map<NodeId, string>;
  /** Called for every received message (snapshots reassembled whole). */
  onMessage: (m: Message) => void;
  /** A live connection to/from that peer dropped and none is left. */
  onPeerDown?: (id: NodeId) => void;
  /** The first connection to/from that peer opened. */
  onPeerUp?: (id: NodeId) => void;
  /** Messages were sent to a peer with no open connection (the leader should stop pipelining to it). */
  onUnreachable?: (id: NodeId) => void;
  /** After a Snap message was fully written (ok) or failed. */
  onSnapshotStatus?: (to: NodeId, ok: boolean) => void;
  /** A measured round trip to a peer over its open connection, in seconds (see round-trip-probe.ts). */
  onRoundTrip?: (to: NodeId, seconds: number) => void;
  /** How often each open connection's round trip is measured; default 4000 (etcd's prober), 0: never. */
  probeIntervalMs?: number;
  /** Default 16 MiB; larger frames are refused. Must be the same on all members. */
  maxFrameBytes?: number;
  /** Default 1 MiB (capped to maxFrameBytes minus room for the chunk header). */
  snapshotChunkBytes?: number;
  /** Largest snapshot accepted from a peer; default 4 GiB. */
  maxSnapshotBytes?: number;
  /** Bound of the per-peer send queue while a peer is down or slow; default 4096 messages. */
  maxQueuedMessages?: number;
  /** Bound of the per-peer send queue in (estimated) bytes; default 64 MiB. */
  maxQueuedBytes?: number;
  /** Reconnect backoff: starts at min, doubles up to max, resets after a connection opened. Defaults 50 ms, 2 s. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  logger?: Logger;
  /** Serves plain HTTP requests on the peer port (the WebSocket upgrade is the transport's own). */
  httpHandler?: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;
  /** TLS on the peer port: the listener is https, and connections to peers present `dial`'s certificate. */
  tls?: PeerTls;
}

/** The peer port's TLS (kvd's --peer-cert-file and friends). */
export interface PeerTls {
  /** The listener's: its certificate, and whether (and against what) it checks the dialing member's. */
  server: import('node:tls').TlsOptions;
  /** What a connection to a peer trusts, presents and offers. */
  dial: DialTls;
  /** What the certificate of a member connecting to the listener must also be, beyond its authority's signature (kvd's --peer-cert-allowed-cn, --peer-cert-allowed-hostname). */
  allowed?: CertificateRule;
}

const MiB = 1024 * 1024;
const CHUNK_HEADER_ROOM = 64 * 1024;

interface Peer {
  id: NodeId;
  url: string;
  conn: PeerConnection;
  inbound: number;
  up: boolean;
}

function checkId(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw new TransportError('CONFIG', `${name} must be a positive integer below 2^53, got ${String(v)}`);
  }
}

export class PeerTransport {
  private readonly opts: TransportOptions;
  /** The peer port's TLS as now (replaced by setTls when its certificate is rotated). */
  private tls: PeerTls | undefined;
  private readonly log: Logger;
  private readonly codec = new Codec();
  private readonly peers = new Map<NodeId, Peer>();
  private readonly listener: PeerListener;
  private readonly maxFrameBytes: number;
  private readonly chunkBytes: number;
  private readonly dirty = new Set<Peer>();
  /** A flush is queued (as a microtask: see send()). */
  private flushQueued = false;
  /** A flush is queued for the end of this turn of the event loop (send() with `soon` false). */
  private turnFlushQueued = false;
  private state: 'new' | 'starting' | 'started' | 'stopped' = 'new';
  private stopping: Promise<void> | undefined;

  constructor(opts: TransportOptions) {
    checkId('id', opts.id);
    checkId('clusterId', opts.clusterId);
    this.opts = opts;
    this.tls = opts.tls;
    this.log = opts.logger ?? componentLogger('raft-transport', { node: opts.id });
    this.maxFrameBytes = opts.maxFrameBytes ?? 16 * MiB;
    if (!(this.maxFrameBytes >= 2 * CHUNK_HEADER_ROOM)) {
      throw new TransportError('CONFIG', `maxFrameBytes must be at least ${2 * CHUNK_HEADER_ROOM}`);
    }
    this.chunkBytes = Math.max(1, Math.min(opts.snapshotChunkBytes ?? MiB, this.maxFrameBytes - CHUNK_HEADER_ROOM));
    this.listener = new PeerListener({
      host: opts.listen.host,
      port: opts.listen.port,
      selfId: opts.id,
      clusterId: opts.clusterId,
      maxFrameBytes: this.maxFrameBytes,
      maxSnapshotBytes: opts.maxSnapshotBytes ?? 4 * 1024 * MiB,
      codec: this.codec,
      logger: this.log,
      httpHandler: opts.httpHandler,
      tls: opts.tls?.server,
      allowedCertificates: opts.tls?.allowed,
      isMember: (id) => this.peers.has(id),
      onInboundOpen: (c) => this.inboundOpened(c),
      onInboundClose: (c) => this.inboundClosed(c),
      onFrame: (from, bytes) => {
        const p = this.peers.get(from);
        if (p) {
          p.conn.stats.framesReceived++;
          p.conn.stats.bytesReceived += bytes;
        }
      },
      onMessage: (m) => {
        const p = this.peers.get(m.from);
        if (p) p.conn.stats.messagesReceived++;
        opts.onMessage(m);
      },
    });
    for (const [id, url] of opts.peers) if (id !== opts.id) this.addPeer(id, url);
  }

  /** A rotated certificate: the listener's next handshakes and the next connections to peers use it. */
  setTls(tls: PeerTls): void {
    this.tls = tls;
    this.listener.setTls(tls.server);
  }

  /** Binds the listener and dials every peer. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new TransportError('CONFIG', `start() called on a ${this.state} transport`);
    this.state = 'starting';
    await this.listener.start();
    if (this.state !== 'starting') return; // stopped meanwhile
    this.state = 'started';
    const a = this.listener.address();
    this.log.info({ host: a.host, port: a.port, peers: [...this.peers.keys()] }, 'peer transport listening');
    for (const p of this.peers.values()) p.conn.start();
  }

  address(): { host: string; port: number } {
    return this.listener.address();
  }

  /**
   * Queues messages by recipient; never throws, never blocks. Everything sent in one synchronous
   * run (several Readies' worth, say) goes out as one frame per peer, flushed as a microtask: at
   * the end of the current callback rather than a turn of the event loop later, which would add
   * a wait behind every pending I/O callback to each hop of a commit.
   *
   * With `soon` false the flush waits for the end of this turn of the event loop instead, after
   * the work the current callback's microtasks do: for messages that may leave after it (see
   * RaftNode.handleReady). Each peer's queue keeps its order either way; an earlier flush takes
   * them along.
   */
  send(messages: Message[], soon = true): void {
    if (this.state === 'stopped') return;
    const unreachable = new Set<NodeId>();
    try {
      for (const m of messages) {
        const p = this.peers.get(m.to);
        if (!p || isLocalMessage(m.type)) {
          this.log.debug({ to: m.to, type: m.type }, p ? 'local message not sent' : 'message to an unknown peer dropped');
          if (m.type === MessageType.Snap) this.reportSnapshot(m.to, false);
          continue;
        }
        if (!p.conn.isOpen) unreachable.add(m.to);
        p.conn.enqueue(m);
        this.dirty.add(p);
      }
      if (this.dirty.size > 0 && !this.flushQueued) {
        if (soon) {
          this.flushQueued = true;
          queueMicrotask(() => this.flushDirty());
        } else if (!this.turnFlushQueued) {
          this.turnFlushQueued = true;
          setImmediate(() => {
            this.turnFlushQueued = false;
            if (!this.flushQueued) this.flushDirty();
          });
        }
      }
    } catch (err) {
      this.log.error({ err }, 'send failed');
    }
    for (const id of unreachable) this.opts.onUnreachable?.(id);
  }

  addPeer(id: NodeId, url: string): void {
    if (this.state === 'stopped' || id === this.opts.id) return;
    checkId('peer id', id);
    const existing = this.peers.get(id);
    if (existing) {
      if (existing.url !== url) {
        this.log.info({ peer: id, from: existing.url, to: url }, 'peer URL changed');
        existing.url = url;
        existing.conn.setUrl(url);
      }
      return;
    }
    const peer: Peer = { id, url, inbound: 0, up: false, conn: undefined as unknown as PeerConnection };
    peer.conn = new PeerConnection({
      selfId: this.opts.id,
      clusterId: this.opts.clusterId,
      peerId: id,
      url,
      tls: () => this.tls?.dial,
      codec: this.codec,
      logger: this.log,
      maxFrameBytes: this.maxFrameBytes,
      snapshotChunkBytes: this.chunkBytes,
      maxQueuedMessages: this.opts.maxQueuedMessages ?? 4096,
      maxQueuedBytes: this.opts.maxQueuedBytes ?? 64 * MiB,
      backoffMinMs: this.opts.backoffMinMs ?? 50,
      backoffMaxMs: this.opts.backoffMaxMs ?? 2000,
      onOpen: () => this.updateLiveness(peer),
      onClose: () => this.updateLiveness(peer),
      onSnapshotStatus: (ok) => this.reportSnapshot(id, ok),
      probeIntervalMs: this.opts.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS,
      onRoundTrip: (seconds) => this.opts.onRoundTrip?.(id, seconds),
    });
    this.peers.set(id, peer);
    if (this.state === 'started') peer.conn.start();
  }

  /** Forgets a peer: closes both directions, reports its pending snapshot failed; no onPeerDown for it. */
  removePeer(id: NodeId): void {
    const p = this.peers.get(id);
    if (!p) return;
    this.peers.delete(id);
    this.dirty.delete(p);
    void p.conn.close(true);
    this.listener.closePeer(id, CloseCode.Removed, 'removed from the membership');
  }

  stats(): Map<NodeId, PeerStats> {
    const out = new Map<NodeId, PeerStats>();
    for (const [id, p] of this.peers) out.set(id, { ...p.conn.stats });
    return out;
  }

  /** Closes every connection and the listener; no reconnects, timers or callbacks after. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.state = 'stopped';
    this.dirty.clear();
    const closing = [...this.peers.values()].map((p) => p.conn.close(false));
    this.stopping = Promise.all([...closing, this.listener.stop()]).then(() => {
      this.log.info('peer transport stopped');
    });
    return this.stopping;
  }

  private flushDirty(): void {
    this.flushQueued = false;
    const peers = [...this.dirty];
    this.dirty.clear();
    for (const p of peers) {
      try {
        p.conn.flush();
      } catch (err) {
        this.log.error({ err, peer: p.id }, 'flush failed');
      }
    }
  }

  private inboundOpened(c: InboundConnection): void {
    const p = this.peers.get(c.peerId);
    if (!p) return;
    p.inbound++;
    this.updateLiveness(p);
  }

  private inboundClosed(c: InboundConnection): void {
    const p = this.peers.get(c.peerId);
    if (!p) return;
    p.inbound = Math.max(0, p.inbound - 1);
    this.updateLiveness(p);
  }

  private updateLiveness(p: Peer): void {
    if (this.state === 'stopped' || this.peers.get(p.id) !== p) return;
    const up = p.conn.isOpen || p.inbound > 0;
    if (up === p.up) return;
    p.up = up;
    this.log.info({ peer: p.id }, up ? 'peer up' : 'peer down');
    const cb = up ? this.opts.onPeerUp : this.opts.onPeerDown;
    if (!cb) return;
    try {
      cb(p.id);
    } catch (err) {
      this.log.error({ err, peer: p.id }, up ? 'onPeerUp threw' : 'onPeerDown threw');
    }
  }

  /** Reported on a microtask: never from inside send(), never after stop(). */
  private reportSnapshot(to: NodeId, ok: boolean): void {
    if (this.state === 'stopped' || !this.opts.onSnapshotStatus) return;
    queueMicrotask(() => {
      if (this.state === 'stopped' || !this.opts.onSnapshotStatus) return;
      try {
        this.opts.onSnapshotStatus(to, ok);
      } catch (err) {
        this.log.error({ err, peer: to }, 'onSnapshotStatus threw');
      }
    });
  }
}
