#!/usr/bin/env node
// kvd: an etcd v3 compatible key/value member. Flags as etcd's (see `kvd --help` and docs/operations.md).
import { ConfigError, parseKvdArgs, usage } from '../src/server/config.js';
import { startKvd } from '../src/server/kvd.js';
import { SERVER_VERSION } from '../src/server/member/kv-member.js';
import { runDaemon } from '../src/util/daemon-main.js';

await runDaemon({
  name: 'kvd',
  parse: parseKvdArgs,
  isConfigError: (e) => e instanceof ConfigError,
  usage,
  version: `kvd (flotilla) etcd API ${SERVER_VERSION}`,
  async start(config) {
    const kvd = await startKvd(config);
    return {
      started: `member ${config.name} serving clients on ${config.advertiseClientUrls.join(', ')} (peers on ${config.initialAdvertisePeerUrls.join(', ')}), data in ${config.dataDir}`,
      stop: () => kvd.stop(),
    };
  },
});
