#!/usr/bin/env node
// flotilla: the embedded default behind `npm start`: a single-member kvd and a fleetd in one process,
// so that `fleetctl start examples/hello.service` works right away. Each part takes its usual
// KVD_* / FLEETD_* environment variables (see docs/fleetd.md).
import { ConfigError as KvdConfigError, parseKvdArgs } from '../src/server/config.js';
import { startKvd } from '../src/server/kvd.js';
import { ConfigError as FleetdConfigError, parseFleetdArgs } from '../src/fleet/config.js';
import { startFleetd } from '../src/fleet/fleetd.js';
import { runUntilSignal } from '../src/util/daemon-main.js';

if (process.argv.length > 2) {
  const help = process.argv[2] === '--help' || process.argv[2] === '-h';
  process.stderr.write(
    `${help ? '' : `flotilla: unknown argument ${JSON.stringify(process.argv[2])}\n`}Usage: flotilla\n\n` +
      'Runs a single-member kvd (data in default.kvd, clients on http://127.0.0.1:2379) and a fleetd\n' +
      '(state in default.fleetd, agent API on http://127.0.0.1:8500) in one process. Configure them\n' +
      "with KVD_* and FLEETD_* environment variables; run `kvd` and `fleetd` separately for more.\n",
  );
  process.exit(help ? 0 : 2);
}

let kvdParsed;
let fleetdParsed;
try {
  kvdParsed = parseKvdArgs([]);
  // fleetd follows kvd's client URLs unless told otherwise.
  fleetdParsed = parseFleetdArgs(process.env.FLEETD_ENDPOINTS ? [] : ['--endpoints', kvdParsed.kind === 'config' ? kvdParsed.config.advertiseClientUrls.join(',') : '']);
} catch (err) {
  if (err instanceof KvdConfigError || err instanceof FleetdConfigError) {
    process.stderr.write(`flotilla: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
if (kvdParsed.kind !== 'config' || fleetdParsed.kind !== 'config') throw new Error('unreachable');
const kvdConfig = kvdParsed.config;
const fleetdConfig = fleetdParsed.config;
try {
  const kvd = await startKvd(kvdConfig);
  const fleetd = await startFleetd(fleetdConfig).catch(async (err: unknown) => {
    await kvd.stop();
    throw err;
  });
  process.stderr.write(
    `flotilla: kvd serving clients on ${kvdConfig.advertiseClientUrls.join(', ')} (data in ${kvdConfig.dataDir}); ` +
      `fleetd machine ${fleetd.machineId.slice(0, 8)} with its agent API on ${fleetd.agentUrl || 'none'} (state in ${fleetdConfig.stateDir})\n`,
  );
  // fleetd first: it revokes its lease and stops its units through the store, which must still be up.
  runUntilSignal('flotilla', async () => {
    await fleetd.stop();
    await kvd.stop();
  });
} catch (err) {
  process.stderr.write(`flotilla: cannot start: ${(err as Error).message}\n`);
  process.exit(1);
}
