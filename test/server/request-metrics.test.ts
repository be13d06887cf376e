// The member's request metrics, counted by hand, must read exactly as prom-client's own Counter and
// Histogram would write the same observations.
import t from 'tap';
import { Counter, Histogram, Registry } from 'prom-client';
import { REQUEST_SECONDS_BUCKETS, RequestMetrics } from '../../src/server/member/request-metrics.js';

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
