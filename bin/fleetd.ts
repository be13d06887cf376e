#!/usr/bin/env node
// fleetd: fleet's agent and engine for one machine. Flags as fleet's (see `fleetd --help` and docs/fleetd.md).
import { ConfigError, FLEETD_VERSION, parseFleetdArgs, usage } from '../src/fleet/config.js';
import { startFleetd } from '../src/fleet/fleetd.js';
import { runDaemon } from '../src/util/daemon-main.js';

await runDaemon({
  name: 'fleetd',
  parse: parseFleetdArgs,
  isConfigError: (e) => e instanceof ConfigError,
  usage,
  version: `fleetd (flotilla) ${FLEETD_VERSION}`,
  async start(config) {
    const fleetd = await startFleetd(config);
    return {
      started: `machine ${fleetd.machineId} (${config.publicIp}) using the store at ${config.endpoints.join(', ')}; agent API on ${fleetd.agentUrl || 'none'}; state in ${config.stateDir}`,
      stop: () => fleetd.stop(),
    };
  },
});
