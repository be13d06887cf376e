// The member's Prometheus metrics. Names follow etcd's where a metric means the same thing, so
// that dashboards and alerts written for etcd keep working; kvd_* names are our own.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, exponentialBuckets } from 'prom-client';
import { PlainHistogram, RequestMetrics } from './request-metrics.js';

export interface MemberGauges {
  hasLeader(): boolean;
  isLeader(): boolean;
  term(): number;
  commitIndex(): number;
  appliedIndex(): number;
  pendingProposals(): number;
  keys(): number;
  dbSize(): number;
  /** Bytes of live values held in memory, and the budget for them (--value-cache-mb). */
  valueCacheBytes(): number;
  valueCacheBudget(): number;
  watchers(): number;
  watchStreams(): number;
  /** The Raft storage's fsyncs, and how many of them ran on the event loop's thread. */
  walFsyncs(): { total: number; inPlace: number };
  /** Per peer (hex member id): what the Raft transport sent, and whether its connection is open. */
  peers(): Map<string, PeerCounts>;
}

export interface PeerCounts {
  connected: boolean;
  bytesSent: number;
  framesSent: number;
  messagesSent: number;
  dropped: number;
  reconnects: number;
  bytesReceived: number;
  framesReceived: number;
  messagesReceived: number;
}

export class MemberMetrics {
  readonly registry = new Registry();
  /** One observation per synced Raft batch. */
  readonly fsyncSeconds = new PlainHistogram(
    'etcd_disk_wal_fsync_duration_seconds',
    'Duration of the synced write of each Raft batch (one fsync).',
    [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024],
  );
  /** Round trips to each peer (a ping on the Raft connection every 4 s; label To, as etcd's). */
  readonly peerRoundTrip: Histogram<'To'>;
  readonly leaderChanges: Counter;
  readonly proposalsFailed: Counter;
  private readonly requestMetrics = new RequestMetrics();

  constructor(g: MemberGauges) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    this.requestMetrics.register(r);
    this.fsyncSeconds.register(r);
    this.peerRoundTrip = new Histogram({
      name: 'etcd_network_peer_round_trip_time_seconds',
      help: 'Round-trip time to each peer (a WebSocket ping on the Raft connection).',
      labelNames: ['To'],
      // etcd's buckets: 0.1 ms doubling up to 3.2768 s.
      buckets: exponentialBuckets(0.0001, 2, 16),
      registers: [r],
    });
    this.leaderChanges = new Counter({ name: 'etcd_server_leader_changes_seen_total', help: 'Leader changes seen.', registers: [r] });
    this.proposalsFailed = new Counter({ name: 'etcd_server_proposals_failed_total', help: 'Failed proposals.', registers: [r] });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(read());
        },
      });
    gauge('etcd_server_has_leader', 'Whether a leader exists (1) or not (0).', () => (g.hasLeader() ? 1 : 0));
    gauge('etcd_server_is_leader', 'Whether this member is the leader (1) or not (0).', () => (g.isLeader() ? 1 : 0));
    gauge('kvd_raft_term', 'The current Raft term.', g.term);
    gauge('etcd_server_proposals_committed_total', 'The Raft commit index.', g.commitIndex);
    gauge('etcd_server_proposals_applied_total', 'The applied index.', g.appliedIndex);
    gauge('etcd_server_proposals_pending', 'Proposals waiting to be applied.', g.pendingProposals);
    gauge('etcd_debugging_mvcc_keys_total', 'Live keys.', g.keys);
    gauge('etcd_mvcc_db_total_size_in_bytes', 'Approximate size of the store.', g.dbSize);
    gauge('kvd_value_cache_bytes', 'Bytes of live values held in memory (the others are read from disk).', g.valueCacheBytes);
    gauge('kvd_value_cache_budget_bytes', 'The value cache budget (--value-cache-mb); +Inf when every value is kept.', g.valueCacheBudget);
    gauge('etcd_debugging_mvcc_watcher_total', 'Watchers.', g.watchers);
    gauge('etcd_debugging_mvcc_watch_stream_total', 'Watch streams.', g.watchStreams);
    new Counter({
      name: 'kvd_disk_wal_fsyncs_total',
      help: "The Raft storage's fsyncs (write-ahead log records, snapshot files), by where they ran: on the event loop's thread (in_place: log records while the disk is fast) or in libuv's pool.",
      labelNames: ['where'],
      registers: [r],
      collect() {
        const f = g.walFsyncs();
        this.reset();
        this.inc({ where: 'in_place' }, f.inPlace);
        this.inc({ where: 'pool' }, f.total - f.inPlace);
      },
    });
    // The transport keeps its own running totals; they are copied when /metrics is read, not
    // counted a second time on the peer path. A peer removed from the cluster leaves the list.
    // Labelled as etcd labels them: To on the sending side, From on the receiving side.
    const perPeer = (label: 'To' | 'From', name: string, help: string, read: (p: PeerCounts) => number) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers: [r],
        collect() {
          this.reset();
          for (const [id, p] of g.peers()) this.inc({ [label]: id }, read(p));
        },
      });
    perPeer('To', 'etcd_network_peer_sent_bytes_total', 'Bytes of Raft frames sent to each peer.', (p) => p.bytesSent);
    perPeer('To', 'etcd_network_peer_sent_failures_total', 'Raft messages to each peer dropped (queue full, no connection, too large).', (p) => p.dropped);
    perPeer('To', 'kvd_network_peer_sent_frames_total', 'Raft frames (WebSocket messages: batches and snapshot chunks) sent to each peer.', (p) => p.framesSent);
    perPeer('To', 'kvd_network_peer_sent_messages_total', 'Raft messages sent to each peer.', (p) => p.messagesSent);
    perPeer('To', 'kvd_network_peer_reconnects_total', 'Connections to each peer opened after the first.', (p) => p.reconnects);
    perPeer('From', 'etcd_network_peer_received_bytes_total', 'Bytes of Raft frames received from each peer.', (p) => p.bytesReceived);
    perPeer('From', 'kvd_network_peer_received_frames_total', 'Raft frames received from each peer.', (p) => p.framesReceived);
    perPeer('From', 'kvd_network_peer_received_messages_total', 'Raft messages received from each peer (decoded and addressed to this member).', (p) => p.messagesReceived);
    new Gauge({
      name: 'kvd_network_peer_connected',
      help: 'Whether the connection to each peer is open (1) or not (0).',
      labelNames: ['To'],
      registers: [r],
      collect() {
        this.reset();
        for (const [to, p] of g.peers()) this.set({ To: to }, p.connected ? 1 : 0);
      },
    });
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** One answered request: kvd_requests_total{method,code} and kvd_request_duration_seconds{method}. */
  observeRequest(method: string, code: number, seconds: number): void {
    this.requestMetrics.observe(method, code, seconds);
  }
}
