#!/usr/bin/env node
// fleetctl: CoreOS fleetctl's commands over Flotilla's registry. Everything is in src/fleetctl; see
// docs/fleetctl.md.
import { runAsProcess } from '../src/kvctl/io.js';
import { run } from '../src/fleetctl/index.js';

await runAsProcess(run);
