// check datascale: etcdctl's estimate of the memory a member needs to hold a data set. Puts of the
// --load model's number of 1 KiB key-values (512-byte keys, random, under --prefix; 512-byte
// values) from as many concurrent clients as the model has, and the difference of the first
// endpoint's resident memory (`process_resident_memory_bytes` of its /metrics) before and after
// them. The keys are deleted afterwards; errors are a FAIL, otherwise the memory is reported.
import { randomBytes } from 'node:crypto';
import type { Client } from '../../client/index.js';
import type { Command, Ctx } from '../context.js';
import { callFailed, errorText, Exit, KvctlError } from '../errors.js';
import { CLEAN_UP_FLAGS, cleanUp, loadModel, requireEmptyPrefix } from './check.js';

/** etcdctl's workloads: key-values written, bytes per key-value, concurrent clients. */
const LOADS: Record<string, { limit: number; kvSize: number; clients: number }> = {
  s: { limit: 10_000, kvSize: 1024, clients: 50 },
  m: { limit: 100_000, kvSize: 1024, clients: 200 },
  l: { limit: 1_000_000, kvSize: 1024, clients: 500 },
  xl: { limit: 3_000_000, kvSize: 1024, clients: 1000 },
};
const KEY_BYTES = 512;
const VALUE = Buffer.alloc(512);
/** The delete of up to millions of keys: etcdctl gives it no deadline; ten minutes here. */
const DELETE_TIMEOUT_MS = 600_000;

export const checkDatascale: Command = {
  name: 'check datascale',
  use: 'check datascale [options]',
  short: 'Check the memory usage of holding data for different workloads on a given server endpoint.',
  description: [
    'If no endpoint is provided, localhost will be used. If multiple endpoints are provided, first endpoint will be used.',
    'Puts the --load model\'s key-values (s: 10,000 from 50 clients, m: 100,000 from 200, l: 1,000,000',
    'from 500, xl: 3,000,000 from 1000; 1 KiB each) under --prefix, reports how much the first',
    "endpoint's resident memory grew, and deletes them. Exit 1 when a put failed.",
  ].join('\n'),
  flags: [
    { name: 'load', type: 'string', default: 's', usage: "The datascale check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)" },
    { name: 'prefix', type: 'string', default: '/etcdctl-check-datascale/', usage: "The prefix for writing the datascale check's keys." },
    ...CLEAN_UP_FLAGS,
    { name: 'keys', type: 'int', default: 0, usage: "Key-values to write instead of the load's (kvctl only; 0: the load's)" },
  ],
  async run(ctx) {
    const cfg = LOADS[loadModel(ctx)]!;
    const keys = ctx.flags.int('keys');
    if (keys < 0) throw new KvctlError(Exit.BadArgs, '--keys must be 0 or more');
    const limit = keys || cfg.limit;
    const prefix = ctx.flags.string('prefix');
    const client = ctx.client();
    await requireEmptyPrefix(ctx, client, prefix);
    const first = ctx.global.endpoints[0]!;
    const before = await residentBytes(ctx, client, first);
    if (before === 0) return fail(ctx, 'FAIL: Could not read process_resident_memory_bytes before the put operations.');
    ctx.io.stdout(`Start data scale check for work load [${limit} key-value pairs, ${cfg.kvSize} bytes per key-value, ${cfg.clients} concurrent clients].\n`);
    const errors = await putAll(ctx, client, Buffer.from(prefix), limit, cfg.clients);
    const after = await residentBytes(ctx, client, first);
    if (after === 0) return fail(ctx, 'FAIL: Could not read process_resident_memory_bytes after the put operations.');
    await cleanUp(ctx, client, prefix, DELETE_TIMEOUT_MS);
    if (errors.size > 0) {
      ctx.io.stdout('FAIL: too many errors\n');
      for (const [msg, n] of errors) ctx.io.stdout(`FAIL: ERROR(${msg}) -> ${n}\n`);
      return Exit.Error;
    }
    ctx.io.stdout(`PASS: Approximate system memory used : ${((after - before) / (1024 * 1024)).toFixed(2)} MB.\n`);
    return undefined;
  },
};

function fail(ctx: Ctx, line: string): number {
  ctx.io.stdout(`${line}\n`);
  return Exit.Error;
}

/** The endpoint's `process_resident_memory_bytes`; 0 when its /metrics has none (as etcdctl reads it). */
async function residentBytes(ctx: Ctx, client: Client, endpoint: string): Promise<number> {
  const text = await client.metrics(endpoint, ctx.call()).catch((e: unknown) => {
    throw callFailed(e);
  });
  const m = /^process_resident_memory_bytes (\S+)$/m.exec(text);
  const n = m ? Number(m[1]) : 0;
  return Number.isFinite(n) ? n : 0;
}

/** `limit` puts, at most `clients` in flight; resolves with the errors by message. */
async function putAll(ctx: Ctx, client: Client, prefix: Buffer, limit: number, clients: number): Promise<Map<string, number>> {
  const errors = new Map<string, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < limit && !ctx.io.interrupt.aborted) {
      next++;
      const key = Buffer.concat([prefix, randomBytes(8), Buffer.alloc(KEY_BYTES - 8)]);
      await client.put(key, VALUE, ctx.call()).catch((e: unknown) => {
        const msg = errorText(e);
        errors.set(msg, (errors.get(msg) ?? 0) + 1);
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(clients, limit) }, worker));
  return errors;
}
