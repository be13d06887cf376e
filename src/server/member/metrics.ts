// The member's Prometheus metrics. Names follow etcd's where a metric means the same thing, so
// that dashboards and alerts written for etcd keep working; kvd_* names are our own.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { RequestMetrics } from './request-metrics.js';

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
}

export class MemberMetrics {
  readonly registry = new Registry();
  readonly fsyncSeconds: Histogram;
  readonly leaderChanges: Counter;
  readonly proposalsFailed: Counter;
  private readonly requestMetrics = new RequestMetrics();

  constructor(g: MemberGauges) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    this.requestMetrics.register(r);
    this.fsyncSeconds = new Histogram({
      name: 'etcd_disk_wal_fsync_duration_seconds',
      help: 'Duration of the synced write of each Raft batch (one fsync).',
      buckets: [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024],
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
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** One answered request: kvd_requests_total{method,code} and kvd_request_duration_seconds{method}. */
  observeRequest(method: string, code: number, seconds: number): void {
    this.requestMetrics.observe(method, code, seconds);
  }
}
