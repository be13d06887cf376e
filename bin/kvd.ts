#!/usr/bin/env node
// kvd: an etcd v3 compatible key/value member. Flags as etcd's (see `kvd --help` and docs/operations.md).
import { ConfigError, parseKvdArgs, usage } from '../src/server/config.js';
import { startKvd } from '../src/server/kvd.js';
import { SERVER_VERSION } from '../src/server/member/kv-member.js';

let parsed;
try {
  parsed = parseKvdArgs(process.argv.slice(2));
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`kvd: ${err.message}\nRun 'kvd --help' for the flags.\n`);
    process.exit(2);
  }
  throw err;
}
if (parsed.kind === 'help') {
  process.stdout.write(usage());
  process.exit(0);
}
if (parsed.kind === 'version') {
  process.stdout.write(`kvd (flotilla) etcd API ${SERVER_VERSION}\n`);
  process.exit(0);
}
const config = parsed.config;
try {
  const kvd = await startKvd(config);
  process.stderr.write(
    `kvd: member ${config.name} serving clients on ${config.advertiseClientUrls.join(', ')} (peers on ${config.initialAdvertisePeerUrls.join(', ')}), data in ${config.dataDir}\n`,
  );
  const shutdown = (signal: string) => {
    process.stderr.write(`kvd: ${signal}: stopping\n`);
    kvd.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`kvd: stop failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
} catch (err) {
  const e = err as Error & { code?: string };
  process.stderr.write(`kvd: cannot start: ${e.message}\n`);
  process.exit(1);
}
