#!/usr/bin/env node
// kvctl: etcdctl's commands for kvd (and etcd 3.4). Everything is in src/kvctl; see docs/kvctl.md.
import { processIo, run } from '../src/kvctl/index.js';

const interrupt = new AbortController();
let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    // A second Ctrl-C does not wait for a lock or an election to be released.
    if (++signals > 1) process.exit(130);
    interrupt.abort(sig);
  });
}

// `kvctl get --prefix '' | head`: a closed pipe ends kvctl quietly, as SIGPIPE ends etcdctl.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(141);
    throw err;
  });
}

const code = await run(process.argv.slice(2), processIo(interrupt.signal));
process.exit(code);
