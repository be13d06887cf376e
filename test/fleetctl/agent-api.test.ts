// fleetctl's requests to an agent: the deadline of each, and what a failure says.
import t from 'tap';
import { createServer } from 'node:http';
import { readJournal, readProcesses } from '../../src/fleetctl/agent-api.js';
import { FleetctlError } from '../../src/fleetctl/errors.js';
import { listenOnLoopback } from '../support/loopback-server.js';

t.test('an agent that takes the request and never answers: each request ends at its deadline', async (t) => {
  const base = await listenOnLoopback(t, createServer(() => undefined));
  const signal = new AbortController().signal;
  const url = `${base}/fleet/v1/units/x.service/processes`;
  await t.rejects(readProcesses(url, 'x.service', { timeoutMs: 100, signal }), new FleetctlError(`Error reading the processes of x.service from ${url}: no answer within 100 ms`));
  const jurl = `${base}/fleet/v1/units/x.service/journal?lines=10`;
  await t.rejects(
    readJournal(jurl, 'x.service', { timeoutMs: 100, signal, write: () => undefined }),
    new FleetctlError(`Error reading the journal of x.service from ${jurl}: no answer within 100 ms`),
  );
});

t.test('the process list: the answer is checked before it is used', async (t) => {
  let answer = '';
  const base = await listenOnLoopback(
    t,
    createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(answer);
    }),
  );
  const signal = new AbortController().signal;
  const url = `${base}/p`;
  answer = JSON.stringify({ cgroup: '/a', processes: [{ pid: 7, command: 'sleep 1' }] });
  t.same(await readProcesses(url, 'x.service', { timeoutMs: 5000, signal }), { cgroup: '/a', processes: [{ pid: 7, command: 'sleep 1' }] });
  for (const bad of ['null', '{"cgroup": 3, "processes": []}', '{"cgroup": null}', '{"cgroup": null, "processes": [{"pid": 1.5, "command": "x"}]}', '{"cgroup": null, "processes": [{"pid": 2}]}', '{"cgroup": null, "processes": [null]}']) {
    answer = bad;
    await t.rejects(readProcesses(url, 'x.service', { timeoutMs: 5000, signal }), { message: /: the answer is not a process list$/ }, bad);
  }
});
