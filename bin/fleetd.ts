#!/usr/bin/env node
// fleetd: fleet's agent and engine for one machine. Flags as fleet's (see `fleetd --help` and docs/fleetd.md).
import { ConfigError, FLEETD_VERSION, parseFleetdArgs, usage } from '../src/fleet/config.js';
import { runUntilSignal, startFleetd } from '../src/fleet/fleetd.js';

let parsed;
try {
  parsed = parseFleetdArgs(process.argv.slice(2));
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`fleetd: ${err.message}\nRun 'fleetd --help' for the flags.\n`);
    process.exit(2);
  }
  throw err;
}
if (parsed.kind === 'help') {
  process.stdout.write(usage());
  process.exit(0);
}
if (parsed.kind === 'version') {
  process.stdout.write(`fleetd (flotilla) ${FLEETD_VERSION}\n`);
  process.exit(0);
}
const config = parsed.config;
try {
  const fleetd = await startFleetd(config);
  process.stderr.write(
    `fleetd: machine ${fleetd.machineId} (${config.publicIp}) using the store at ${config.endpoints.join(', ')}; agent API on ${fleetd.agentUrl || 'none'}; state in ${config.stateDir}\n`,
  );
  runUntilSignal('fleetd', () => fleetd.stop());
} catch (err) {
  process.stderr.write(`fleetd: cannot start: ${(err as Error).message}\n`);
  process.exit(1);
}
