// A follower's forward of a leader-only request (lease keep-alive, time-to-live): why it failed is
// in its error. No answer in time is etcd's timeout; a leader that went away (its connection
// refused, or this member saw another leader) is "leader changed", for the caller to retry.
import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import { forwardToLeader } from '../../src/server/member/internal-client.js';
import { freePort } from '../raft/cluster.js';
import { listenOnLoopback } from '../support/loopback-server.js';

/** A server that takes requests and never answers them. */
function silentServer(t: Test): Promise<string> {
  return listenOnLoopback(t, createServer(() => undefined));
}

t.test('a leader that takes the request and never answers: the timeout', async (t) => {
  const url = await silentServer(t);
  await t.rejects(forwardToLeader(url, 'lease/keepalive', { ID: '1' }, 100), { message: 'etcdserver: request timed out', grpcCode: 14 });
});

t.test('this member sees another leader while the forward hangs: leader changed, at once', async (t) => {
  const url = await silentServer(t);
  const term = new AbortController();
  const forward = forwardToLeader(url, 'lease/keepalive', { ID: '1' }, 60_000, term.signal);
  term.abort();
  await t.rejects(forward, { message: 'etcdserver: leader changed', grpcCode: 14 });
});

t.test('a leader whose port is closed: leader changed', async (t) => {
  const url = `http://127.0.0.1:${await freePort()}`;
  await t.rejects(forwardToLeader(url, 'lease/keepalive', { ID: '1' }, 5000), { message: 'etcdserver: leader changed' });
});
