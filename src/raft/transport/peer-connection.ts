// One long-lived outbound connection to one peer, used only for sending to it. It reconnects with
// exponential backoff, queues a bounded number of messages while it is down, batches everything
// queued in one tick into one frame, and streams snapshots in chunks between those frames.
import type { PeerCertificate } from 'node:tls';
import WebSocket from 'ws';
import { PEER_CERTIFICATE_REFUSED } from '../../util/certificate-rule.js';
import type { Logger } from '../../util/log.js';
import { MessageType, type Message, type NodeId } from '../types.js';
import { estimateMessageBytes, PROTOCOL_VERSION, type Codec } from './codec.js';
import { HEADER_CLUSTER, HEADER_FROM, HEADER_PROTO, HEADER_REASON, HEADER_TO } from './server.js';
import { RoundTripProbe } from './round-trip-probe.js';
import { SnapshotChunker } from './snapshot-chunks.js';

/** Stop handing frames to the socket while this much is still buffered; resume on a send callback. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
const HANDSHAKE_TIMEOUT_MS = 5000;

export interface PeerStats {
  /** The outbound connection is open (messages to this peer go out now). */
  connected: boolean;
  /** WebSocket messages written: batches and snapshot chunks. */
  framesSent: number;
  messagesSent: number;
  /** Payload bytes of the frames written. */
  bytesSent: number;
  /** Messages dropped: queue bound exceeded, heartbeats while disconnected, too large for a frame. */
  dropped: number;
  /** Successful connections after the first one. */
  reconnects: number;
  /** Snapshot chunk frames written (included in framesSent). */
  snapshotChunksSent: number;
  /** Messages waiting to be sent. */
  queued: number;
  /** Frames, their payload bytes, and messages received from this peer on inbound connections. */
  framesReceived: number;
  bytesReceived: number;
  messagesReceived: number;
}

/** What a connection to a peer trusts (`ca`; nothing with `rejectUnauthorized: false`), presents (`cert`, `key`) and offers (`ciphers`). */
export interface DialTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  ciphers?: string;
  rejectUnauthorized?: boolean;
  /** Checks the certificate the dialed end presents beyond its authority (for --peer-cert-allowed-cn and -hostname). */
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

export interface PeerConnectionOptions {
  selfId: NodeId;
  clusterId: number;
  peerId: NodeId;
  url: string;
  /** For https:// (wss://) peer URLs, as of each dial. */
  tls?: () => DialTls | undefined;
  codec: Codec;
  logger: Logger;
  maxFrameBytes: number;
  snapshotChunkBytes: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  onOpen(): void;
  onClose(wasOpen: boolean): void;
  onSnapshotStatus(ok: boolean): void;
  /** How often the open connection's round trip is measured (0: never). */
  probeIntervalMs: number;
  /** One measured round trip, in seconds. */
  onRoundTrip(seconds: number): void;
}

// The link is member-to-member with no intermediary to protect, so frames are not masked (a zero
// mask makes `ws` skip the XOR pass and the copy over every payload byte).
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

function isHeartbeat(type: MessageType): boolean {
  return type === MessageType.Heartbeat || type === MessageType.HeartbeatResp;
}

/** Messages kept for a peer while no connection to it is open. */
const DISCONNECTED_QUEUE_LIMIT = 64;

export class PeerConnection {
  readonly stats: PeerStats = {
    connected: false,
    framesSent: 0,
    messagesSent: 0,
    bytesSent: 0,
    dropped: 0,
    reconnects: 0,
    snapshotChunksSent: 0,
    queued: 0,
    framesReceived: 0,
    bytesReceived: 0,
    messagesReceived: 0,
  };
  private url: string;
  private ws: WebSocket | undefined;
  private open = false;
  private closed = false;
  /** Bumped for every dial so that callbacks of an old socket are ignored. */
  private gen = 0;
  private everOpened = false;
  private timer: NodeJS.Timeout | undefined;
  private backoff: number;
  private lastFailure = '';
  private socketClosed: Promise<void> = Promise.resolve();
  private probe: RoundTripProbe | undefined;

  private queue: Message[] = [];
  private queuedBytes = 0;
  /** A Snap waiting for the connection (at most one; a newer one replaces it). */
  private snapPending: Message | undefined;
  private snapSending: SnapshotChunker | undefined;
  private chunkInFlight = false;
  private flushing = false;

  constructor(private readonly o: PeerConnectionOptions) {
    this.url = o.url;
    this.backoff = o.backoffMinMs;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Dials now (first connection). */
  start(): void {
    if (!this.closed && !this.ws && !this.timer) this.dial();
  }

  setUrl(url: string): void {
    if (url === this.url) return;
    this.url = url;
    this.backoff = this.o.backoffMinMs;
    if (this.ws) this.ws.terminate(); // the close handler redials
    else if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.dial();
    }
  }

  /** Queues one message; `flush()` sends. */
  enqueue(m: Message): void {
    if (this.closed) return;
    if (m.type === MessageType.Snap) {
      if (!m.snapshot) {
        this.o.logger.warn({ peer: this.o.peerId }, 'dropped a Snap message without a snapshot');
        this.stats.dropped++;
        return;
      }
      if (this.snapPending) {
        this.stats.dropped++;
        this.reportSnapshot(false);
      }
      this.snapPending = m;
      return;
    }
    if (!this.open && isHeartbeat(m.type)) {
      this.stats.dropped++;
      return;
    }
    // While the peer is unreachable keep only a few recent messages (enough for an election at
    // start-up): Raft resends what matters once the peer answers, and a leader pipelining to a
    // dead follower must not pile up its whole log here.
    if (!this.open && this.queue.length >= DISCONNECTED_QUEUE_LIMIT) {
      const old = this.queue.shift()!;
      this.queuedBytes -= estimateMessageBytes(old);
      this.stats.dropped++;
    }
    this.queue.push(m);
    this.queuedBytes += estimateMessageBytes(m);
    if (this.queue.length > 2 * this.o.maxQueuedMessages) this.trim();
    this.stats.queued = this.queue.length;
  }

  /** Sends what the connection can take now; the rest stays queued within the bounds. */
  flush(): void {
    if (this.closed || this.flushing) return;
    const ws = this.ws;
    if (!this.open || !ws) {
      this.trim();
      return;
    }
    this.flushing = true;
    try {
      const gen = this.gen;
      while (this.queue.length > 0 && ws.bufferedAmount < HIGH_WATER_BYTES) {
        // Cut at about one frame's worth (the estimate is an upper bound).
        let n = 0;
        let bytes = 0;
        while (n < this.queue.length) {
          const b = estimateMessageBytes(this.queue[n]!);
          if (n > 0 && bytes + b > this.o.maxFrameBytes) break;
          bytes += b;
          n++;
        }
        const batch = n === this.queue.length ? this.queue : this.queue.slice(0, n);
        this.queue = n === this.queue.length ? [] : this.queue.slice(n);
        this.queuedBytes = Math.max(0, this.queuedBytes - bytes);
        this.sendBatch(ws, gen, batch);
      }
      if (this.queue.length === 0) this.queuedBytes = 0;
      this.trim();
      this.pumpSnapshot(ws, gen);
    } finally {
      this.flushing = false;
      this.stats.queued = this.queue.length;
    }
  }

  /** Closes for good. `failSnapshots`: report pending/in-flight snapshots as failed. */
  close(failSnapshots: boolean): Promise<void> {
    if (this.closed) return this.socketClosed;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (failSnapshots) this.failSnapshots();
    this.snapPending = undefined;
    this.snapSending = undefined;
    this.queue = [];
    this.queuedBytes = 0;
    this.stats.queued = 0;
    if (this.ws) this.ws.terminate();
    return this.socketClosed;
  }

  private sendBatch(ws: WebSocket, gen: number, batch: Message[]): void {
    let frame: Buffer;
    try {
      frame = this.o.codec.encodeBatch(batch);
    } catch (err) {
      this.o.logger.error({ peer: this.o.peerId, err, count: batch.length }, 'could not encode messages; dropped');
      this.stats.dropped += batch.length;
      return;
    }
    if (frame.length > this.o.maxFrameBytes) {
      if (batch.length === 1) {
        this.o.logger.error(
          { peer: this.o.peerId, type: batch[0]!.type, bytes: frame.length, limit: this.o.maxFrameBytes },
          'message larger than maxFrameBytes; dropped',
        );
        this.stats.dropped++;
        return;
      }
      const half = batch.length >> 1;
      this.sendBatch(ws, gen, batch.slice(0, half));
      this.sendBatch(ws, gen, batch.slice(half));
      return;
    }
    this.stats.framesSent++;
    this.stats.messagesSent += batch.length;
    this.stats.bytesSent += frame.length;
    ws.send(frame, { binary: true }, () => this.afterWrite(gen));
  }

  private afterWrite(gen: number): void {
    if (gen !== this.gen || this.closed) return;
    if (this.queue.length > 0 || ((this.snapPending || this.snapSending) && !this.chunkInFlight)) this.flush();
  }

  private pumpSnapshot(ws: WebSocket, gen: number): void {
    if (this.chunkInFlight) return;
    if (!this.snapSending && this.snapPending) {
      this.snapSending = new SnapshotChunker(this.snapPending, this.o.codec, this.o.snapshotChunkBytes);
      this.snapPending = undefined;
    }
    const chunker = this.snapSending;
    if (!chunker || ws.bufferedAmount >= HIGH_WATER_BYTES) return;
    const frame = chunker.next();
    if (!frame) return;
    const last = chunker.done;
    this.chunkInFlight = true;
    this.stats.framesSent++;
    this.stats.snapshotChunksSent++;
    this.stats.bytesSent += frame.length;
    if (last) this.stats.messagesSent++;
    ws.send(frame, { binary: true }, (err) => {
      if (gen !== this.gen || this.closed) return;
      this.chunkInFlight = false;
      if (err) return; // the close handler reports the failure
      if (last && this.snapSending === chunker) {
        this.snapSending = undefined;
        this.o.logger.debug({ peer: this.o.peerId, bytes: chunker.total, chunks: chunker.chunksSent }, 'snapshot sent');
        this.reportSnapshot(true);
      }
      this.flush();
    });
  }

  private trim(): void {
    const { maxQueuedMessages, maxQueuedBytes } = this.o;
    let drop = 0;
    if (this.queue.length > maxQueuedMessages) drop = this.queue.length - maxQueuedMessages;
    if (this.queuedBytes > maxQueuedBytes) {
      let bytes = this.queuedBytes;
      for (let i = 0; i < drop; i++) bytes -= estimateMessageBytes(this.queue[i]!);
      while (bytes > maxQueuedBytes && drop < this.queue.length - 1) {
        bytes -= estimateMessageBytes(this.queue[drop]!);
        drop++;
      }
    }
    if (drop === 0) return;
    for (let i = 0; i < drop; i++) this.queuedBytes -= estimateMessageBytes(this.queue[i]!);
    this.queue = this.queue.slice(drop);
    this.stats.dropped += drop;
    this.stats.queued = this.queue.length;
    this.o.logger.debug({ peer: this.o.peerId, dropped: drop }, 'send queue full; dropped the oldest messages');
  }

  private reportSnapshot(ok: boolean): void {
    try {
      this.o.onSnapshotStatus(ok);
    } catch (err) {
      this.o.logger.error({ err, peer: this.o.peerId }, 'onSnapshotStatus threw');
    }
  }

  private failSnapshots(): void {
    const had = this.snapSending !== undefined || this.snapPending !== undefined;
    const n = (this.snapSending ? 1 : 0) + (this.snapPending ? 1 : 0);
    this.snapSending = undefined;
    this.snapPending = undefined;
    this.chunkInFlight = false;
    if (!had) return;
    this.stats.dropped += n;
    for (let i = 0; i < n; i++) this.reportSnapshot(false);
  }

  private dial(): void {
    this.timer = undefined;
    if (this.closed) return;
    const gen = ++this.gen;
    const log = this.o.logger;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url, {
        perMessageDeflate: false,
        maxPayload: this.o.maxFrameBytes,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        generateMask: zeroMask,
        ...this.o.tls?.(),
        headers: {
          [HEADER_CLUSTER]: String(this.o.clusterId),
          [HEADER_FROM]: String(this.o.selfId),
          [HEADER_TO]: String(this.o.peerId),
          [HEADER_PROTO]: String(PROTOCOL_VERSION),
        },
      });
    } catch (err) {
      this.noteFailure(`cannot dial ${this.url}: ${(err as Error).message}`, 'error');
      this.failSnapshots();
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    let refused: string | undefined;
    let lastError: string | undefined;
    /** This side refused the certificate the peer presented (--peer-cert-allowed-cn, -hostname). */
    let refusedPeer: string | undefined;
    let resolveClosed!: () => void;
    this.socketClosed = new Promise((r) => (resolveClosed = r));

    ws.on('open', () => {
      if (gen !== this.gen || this.closed) return;
      this.open = true;
      this.stats.connected = true;
      if (this.everOpened) this.stats.reconnects++;
      this.everOpened = true;
      this.backoff = this.o.backoffMinMs;
      this.lastFailure = '';
      const sock = (ws as unknown as { _socket?: import('node:net').Socket })._socket;
      sock?.setKeepAlive(true, 5000);
      log.info({ peer: this.o.peerId, url: this.url }, 'connected to peer');
      if (this.o.probeIntervalMs > 0) {
        this.probe = new RoundTripProbe(ws, this.o.probeIntervalMs, (s) => this.o.onRoundTrip(s));
        this.probe.start();
      }
      this.o.onOpen();
      this.flush();
    });
    ws.on('unexpected-response', (_req, res) => {
      const reason = res.headers[HEADER_REASON];
      refused = `HTTP ${res.statusCode}${reason ? `: ${String(reason)}` : ''}`;
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err: Error) => {
      lastError = err.message;
      if ((err as NodeJS.ErrnoException).code === PEER_CERTIFICATE_REFUSED) refusedPeer = err.message;
    });
    ws.on('message', () => {
      // The listener never sends data frames on this connection; ignore anything that arrives.
    });
    ws.on('close', (code: number, reason: Buffer) => {
      resolveClosed();
      if (gen !== this.gen) return;
      this.probe?.stop();
      this.probe = undefined;
      this.ws = undefined;
      const wasOpen = this.open;
      this.open = false;
      this.stats.connected = false;
      if (wasOpen) {
        if (!this.closed) {
          log.warn({ peer: this.o.peerId, url: this.url, code, reason: reason.toString(), err: lastError }, 'connection to peer lost');
        }
      } else if (!this.closed) {
        if (refusedPeer) this.noteFailure(refusedPeer, 'warn');
        else if (refused) this.noteFailure(`peer refused the connection: ${refused}`, 'warn');
        else this.noteFailure(`cannot connect: ${lastError ?? `closed with code ${code}`}`, 'info');
      }
      if (this.closed) return;
      this.failSnapshots();
      this.trim();
      if (wasOpen) this.o.onClose(true);
      this.scheduleReconnect();
    });
  }

  /** Logs a dial failure at `level` when it differs from the previous one, at debug otherwise. */
  private noteFailure(what: string, level: 'info' | 'warn' | 'error'): void {
    const fields = { peer: this.o.peerId, url: this.url, retryInMs: this.backoff };
    if (what !== this.lastFailure) this.o.logger[level](fields, what);
    else this.o.logger.debug(fields, what);
    this.lastFailure = what;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer) return;
    const delay = Math.round(this.backoff * (0.8 + 0.4 * Math.random()));
    this.backoff = Math.min(this.backoff * 2, this.o.backoffMaxMs);
    this.timer = setTimeout(() => this.dial(), delay);
    this.timer.unref();
  }
}
