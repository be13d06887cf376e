#!/usr/bin/env node
// Runs a local 3-member kvd cluster in the foreground (Ctrl-C stops all). See docs/operations.md.
import { runLocalCluster } from '../src/server/tools/local-cluster.js';

const dataRoot = process.argv[2] ?? '.';
if (dataRoot === '--help' || dataRoot === '-h') {
  process.stdout.write('Usage: kvd-cluster [DATA_ROOT]\n  Starts infra1..3 (clients 127.0.0.1:2379, 22379, 32379) with data under DATA_ROOT (default .).\n');
  process.exit(0);
}
await runLocalCluster({ dataRoot });
