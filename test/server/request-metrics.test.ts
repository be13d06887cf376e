// The member's request metrics, counted by hand, must read exactly as prom-client's own Counter and
// Histogram would write the same observations.
import t from 'tap';
import { Counter, Histogram, Registry } from 'prom-client';
import { PlainHistogram, REQUEST_SECONDS_BUCKETS, RequestMetrics } from '../../src/server/member/request-metrics.js';

const observations: [string, number, number][] = [
  ['kv/put', 0, 0.0003],
  ['kv/put', 0, 0.0005], // exactly on a bound: counted in that bucket (le)
  ['kv/put', 3, 0.0021],
  ['kv/range', 0, 0.001],
  ['kv/range', 0, 7.5], // above every bound: only +Inf
  ['kv/range', 5, 0.04],
  ['lease/grant', 0, 0.25],
];

function reference(): Registry {
  const r = new Registry();
  const c = new Counter({ name: 'kvd_requests_total', help: 'Requests served, by method and gRPC code.', labelNames: ['method', 'code'], registers: [r] });
  const h = new Histogram({
    name: 'kvd_request_duration_seconds',
    help: 'Time to serve a request, by method.',
    labelNames: ['method'],
    buckets: [...REQUEST_SECONDS_BUCKETS],
    registers: [r],
  });
  for (const [method, code, s] of observations) {
    c.labels(method, String(code)).inc();
    h.labels(method).observe(s);
  }
  return r;
}

t.test('the same text as prom-client for the same observations', async (t) => {
  const r = new Registry();
  const m = new RequestMetrics();
  m.register(r);
  for (const [method, code, s] of observations) m.observe(method, code, s);
  t.equal(await r.metrics(), await reference().metrics());
});

t.test('nothing observed: the metrics are declared with no samples', async (t) => {
  const r = new Registry();
  new RequestMetrics().register(r);
  t.equal(
    await r.metrics(),
    '# HELP kvd_requests_total Requests served, by method and gRPC code.\n# TYPE kvd_requests_total counter\n\n' +
      '# HELP kvd_request_duration_seconds Time to serve a request, by method.\n# TYPE kvd_request_duration_seconds histogram\n',
  );
});

t.test('reset clears the counts', async (t) => {
  const r = new Registry();
  const m = new RequestMetrics();
  m.register(r);
  m.observe('kv/put', 0, 0.001);
  r.resetMetrics();
  t.notMatch(await r.metrics(), /kv\/put/);
});

t.test('PlainHistogram reads as prom-client\'s unlabelled Histogram, before and after observations, and after a reset', async (t) => {
  const bounds = [0.0005, 0.001, 0.002, 0.004];
  const name = 'etcd_disk_wal_fsync_duration_seconds';
  const help = 'Duration of the synced write of each Raft batch (one fsync).';
  const ours = new Registry();
  const plain = new PlainHistogram(name, help, bounds);
  plain.register(ours);
  const theirs = new Registry();
  const h = new Histogram({ name, help, buckets: bounds, registers: [theirs] });
  t.equal(await ours.metrics(), await theirs.metrics(), 'no observation: zero buckets, as prom-client writes them');
  for (const v of [0.0001, 0.0005, 0.0011, 0.003, 0.9]) {
    plain.observe(v);
    h.observe(v);
  }
  const text = await ours.metrics();
  t.equal(text, await theirs.metrics());
  t.match(text, /_bucket\{le="0.0005"\} 2$/m, 'a value on a bound is counted in that bucket');
  t.match(text, /_bucket\{le="\+Inf"\} 5$/m);
  ours.resetMetrics();
  const fresh = new Registry();
  new Histogram({ name, help, buckets: bounds, registers: [fresh] });
  t.equal(await ours.metrics(), await fresh.metrics(), "reset: zero again, as a new one (prom-client's own reset writes no buckets at all)");
});
