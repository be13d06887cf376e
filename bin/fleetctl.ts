#!/usr/bin/env node
// fleetctl: CoreOS fleetctl's commands over Flotilla's registry. Everything is in src/fleetctl; see
// docs/fleetctl.md.
import { processIo } from '../src/kvctl/io.js';
import { run } from '../src/fleetctl/index.js';

const interrupt = new AbortController();
let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    // A second Ctrl-C does not wait for the store to answer.
    if (++signals > 1) process.exit(130);
    interrupt.abort(sig);
  });
}

// `fleetctl list-units | head`: a closed pipe ends fleetctl quietly, as SIGPIPE ends a Go program.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(141);
    throw err;
  });
}

const code = await run(process.argv.slice(2), processIo(interrupt.signal));
process.exit(code);
