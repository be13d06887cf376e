// endpoint hashkv, defrag, alarm list | disarm: etcdctl's maintenance commands.
import { join } from 'node:path';
import { defragmentStoreDir } from '../../kv/data-dir.js';
import type { Client } from '../../client/index.js';
import type { Command, Ctx } from '../context.js';
import { Exit, KvctlError, callFailed, errorText } from '../errors.js';
import type { HashKVDisplay } from '../printer.js';
import { CLUSTER_FLAG, endpointsOf } from './member.js';

export const endpointHashKV: Command = {
  name: 'endpoint hashkv',
  use: 'endpoint hashkv',
  short: 'Prints the KV history hash for each endpoint in --endpoints',
  description: [
    'Members that applied the same history print the same hash: compare them at one revision',
    '(--rev, at or below every member\'s current revision and above the compacted one) to check',
    'that the members of a cluster hold the same data.',
  ].join('\n'),
  flags: [CLUSTER_FLAG, { name: 'rev', type: 'int', default: 0, usage: 'maximum revision to hash (default: all revisions)' }],
  async run(ctx) {
    const display = ctx.printer();
    const eps = await endpointsOf(ctx);
    const client = ctx.client(eps);
    const list: HashKVDisplay[] = [];
    let last: string | undefined;
    for (const ep of eps) {
      try {
        list.push({ ...(await client.hashKV(ep, ctx.flags.int('rev'), ctx.call())), ep });
      } catch (e) {
        last = errorText(e);
        ctx.io.stderr(`Failed to get the hash of endpoint ${ep} (${last})\n`);
      }
    }
    display.endpointHashKV(list);
    if (last !== undefined) throw new KvctlError(Exit.Error, last);
  },
};

export const defrag: Command = {
  name: 'defrag',
  use: 'defrag',
  short: 'Defragments the storage of the etcd members with given endpoints',
  description: [
    'Each member has LevelDB rewrite its files, giving back the space of records that compaction',
    'removed. Members go on serving meanwhile. With --data-dir, defragments the store of a data',
    'directory that no kvd is running on.',
  ].join('\n'),
  flags: [CLUSTER_FLAG, { name: 'data-dir', type: 'string', default: '', usage: 'Optional. If present, defragments a data directory not in use by kvd.' }],
  async run(ctx) {
    const dataDir = ctx.flags.string('data-dir');
    if (dataDir !== '') {
      try {
        await defragmentStoreDir(join(dataDir, 'kv'));
      } catch (e) {
        ctx.io.stderr(`Failed to defragment etcd data[${dataDir}] (${errorText(e)})\n`);
        return Exit.Error;
      }
      return;
    }
    const eps = await endpointsOf(ctx);
    if (!(await defragEach(ctx, ctx.client(eps), eps))) return Exit.Error;
  },
};

/** Defragments each member in turn, with etcdctl's line for each; false if any failed. */
export async function defragEach(ctx: Ctx, client: Client, eps: string[]): Promise<boolean> {
  let ok = true;
  for (const ep of eps) {
    try {
      await client.defragment(ep, ctx.call());
      ctx.io.stdout(`Finished defragmenting etcd member[${ep}]\n`);
    } catch (e) {
      ok = false;
      ctx.io.stderr(`Failed to defragment etcd member[${ep}] (${errorText(e)})\n`);
    }
  }
  return ok;
}

export const alarmList: Command = {
  name: 'alarm list',
  use: 'alarm list',
  short: 'Lists all alarms',
  flags: [],
  async run(ctx) {
    const display = ctx.printer();
    const r = await ctx
      .client()
      .alarmList(ctx.call())
      .catch((e: unknown) => {
        throw callFailed(e);
      });
    display.alarms(r);
  },
};

export const alarmDisarm: Command = {
  name: 'alarm disarm',
  use: 'alarm disarm',
  short: 'Disarms all alarms',
  description: 'Clears every alarm raised, and prints those it cleared. Free space first (compaction, deletes): a member over its quota raises NOSPACE again at its next write.',
  flags: [],
  async run(ctx) {
    const display = ctx.printer();
    const r = await ctx
      .client()
      .alarmDisarm(undefined, ctx.call())
      .catch((e: unknown) => {
        throw callFailed(e);
      });
    display.alarms(r);
  },
};
