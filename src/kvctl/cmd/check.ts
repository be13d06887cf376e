// check perf: etcdctl's quick verdict on whether a cluster sustains a write load. Puts of 256-byte
// keys (random, under --prefix) and 1 KiB values at a fixed rate from many concurrent clients for
// a minute, then PASS or FAIL on three figures: the throughput reached (more than 90% of the
// rate), the slowest put (at most 0.5 s) and the standard deviation of the puts' latencies (at
// most 0.1 s). The keys are deleted afterwards.
import { randomBytes } from 'node:crypto';
import type { Client } from '../../client/index.js';
import type { Command, Ctx } from '../context.js';
import type { FlagSpec } from '../flags.js';
import { callFailed, errorText, Exit, KvctlError } from '../errors.js';
import { goQuote } from '../format.js';
import { defragEach } from './maintenance.js';

/** etcdctl's workloads: puts per second, concurrent clients. */
const LOADS: Record<string, { limit: number; clients: number }> = {
  s: { limit: 150, clients: 50 },
  m: { limit: 1000, clients: 200 },
  l: { limit: 8000, clients: 500 },
  xl: { limit: 15000, clients: 1000 },
};
const ALIASES: Record<string, string> = { s: 's', small: 's', m: 'm', medium: 'm', l: 'l', large: 'l', xl: 'xl', xLarge: 'xl' };
const KEY_BYTES = 256;
const VALUE = Buffer.alloc(1024);

/** What cleanUp reads: etcdctl's flags of both checks. */
export const CLEAN_UP_FLAGS: FlagSpec[] = [
  { name: 'auto-compact', type: 'bool', default: false, usage: 'Compact storage with last revision after test is finished.' },
  { name: 'auto-defrag', type: 'bool', default: false, usage: 'Defragment storage after test is finished.' },
];

export const checkPerf: Command = {
  name: 'check perf',
  use: 'check perf [options]',
  short: 'Check the performance of the etcd cluster',
  description: [
    'Puts 256-byte keys and 1 KiB values under --prefix at the rate of the --load model from as many',
    'concurrent clients (s: 150/s from 50, m: 1000/s from 200, l: 8000/s from 500, xl: 15000/s from',
    '1000) for --duration seconds, deletes them, and prints PASS or FAIL for the throughput (over',
    '90% of the rate), the slowest put (at most 0.5 s) and the standard deviation of the latencies',
    '(at most 0.1 s). Exit 1 on FAIL.',
  ].join('\n'),
  flags: [
    { name: 'load', type: 'string', default: 's', usage: "The performance check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)" },
    { name: 'prefix', type: 'string', default: '/etcdctl-check-perf/', usage: "The prefix for writing the performance check's keys." },
    ...CLEAN_UP_FLAGS,
    { name: 'duration', type: 'int', default: 60, usage: 'Seconds the load runs (kvctl only; etcdctl always runs 60)' },
  ],
  async run(ctx) {
    const cfg = LOADS[loadModel(ctx)]!;
    const seconds = ctx.flags.int('duration');
    if (seconds < 1) throw new KvctlError(Exit.BadArgs, '--duration must be at least 1');
    const prefix = ctx.flags.string('prefix');
    const client = ctx.client();
    await requireEmptyPrefix(ctx, client, prefix);
    const stats = await putAtRate(ctx, client, Buffer.from(prefix), cfg.limit, cfg.clients, seconds * 1000);
    // Deleting a minute of puts can take a while: 30 s, as etcdctl allows it.
    await cleanUp(ctx, client, prefix, 30_000);
    return verdict(ctx, stats, cfg.limit);
  },
};

/** The --load model's name (`small` is `s`, ...); an unknown one is etcdctl's error. */
export function loadModel(ctx: Ctx): string {
  const model = ALIASES[ctx.flags.string('load')];
  if (model === undefined) throw new KvctlError(Exit.BadFeature, `unknown load option ${ctx.flags.string('load')}`);
  return model;
}

/** The checks write under their prefix only when nothing is there (they delete it all after). */
export async function requireEmptyPrefix(ctx: Ctx, client: Client, prefix: string): Promise<void> {
  const existing = await client.get(prefix, { prefix: true, limit: 1, ...ctx.call() }).catch((e: unknown) => {
    throw callFailed(e);
  });
  if (existing.kvs.length > 0) {
    throw new KvctlError(Exit.InvalidInput, `prefix ${goQuote(prefix)} has keys. Delete with etcdctl del --prefix ${prefix} first`);
  }
}

/** Deletes the check's keys, then compacts and defragments when asked (--auto-compact, --auto-defrag). */
export async function cleanUp(ctx: Ctx, client: Client, prefix: string, timeoutMs: number): Promise<void> {
  const deleted = await client.delete(prefix, { prefix: true, timeoutMs }).catch((e: unknown) => {
    throw callFailed(e);
  });
  if (ctx.flags.bool('auto-compact')) {
    const rev = deleted.header.revision ?? 0;
    await client.compact(rev, ctx.call()).catch((e: unknown) => {
      throw callFailed(e);
    });
    ctx.io.stdout(`compacted revision ${rev}\n`);
  }
  if (ctx.flags.bool('auto-defrag')) await defragEach(ctx, client, ctx.global.endpoints);
}

export interface PerfStats {
  latenciesS: number[];
  errors: Map<string, number>;
  elapsedS: number;
}

/** Puts at `limit` per second, at most `clients` in flight, for `durationMs`; every answer awaited. */
async function putAtRate(ctx: Ctx, client: Client, prefix: Buffer, limit: number, clients: number, durationMs: number): Promise<PerfStats> {
  const latenciesS: number[] = [];
  const errors = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();
  for (let issued = 0; ; issued++) {
    // etcdctl's token bucket (burst 1): the n-th put goes no earlier than n / limit seconds in.
    const due = start + (issued * 1000) / limit;
    if (due >= start + durationMs || ctx.io.interrupt.aborted) break;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    while (inFlight.size >= clients) await Promise.race(inFlight);
    const key = Buffer.concat([prefix, randomBytes(8), Buffer.alloc(KEY_BYTES - 8)]);
    const t0 = performance.now();
    const p: Promise<void> = client.put(key, VALUE, ctx.call()).then(
      () => {
        latenciesS.push((performance.now() - t0) / 1000);
      },
      (e: unknown) => {
        const msg = errorText(e);
        errors.set(msg, (errors.get(msg) ?? 0) + 1);
      },
    );
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  }
  await Promise.all(inFlight);
  return { latenciesS, errors, elapsedS: (performance.now() - start) / 1000 };
}

/** etcdctl's report: the three figures, then PASS, or FAIL and exit 1. */
function verdict(ctx: Ctx, s: PerfStats, limit: number): number | undefined {
  const { lines, ok } = perfReport(s, limit);
  for (const line of lines) ctx.io.stdout(`${line}\n`);
  return ok ? undefined : Exit.Error;
}

/** The report's lines, as etcdctl words them, and whether every figure passed. */
export function perfReport(s: PerfStats, limit: number): { lines: string[]; ok: boolean } {
  const lines: string[] = [];
  let ok = true;
  if (s.errors.size > 0) {
    lines.push('FAIL: too many errors');
    for (const [msg, n] of s.errors) lines.push(`FAIL: ERROR(${msg}) -> ${n}`);
    ok = false;
  }
  const rps = s.latenciesS.length / s.elapsedS;
  if (rps / limit <= 0.9) {
    lines.push(`FAIL: Throughput too low: ${Math.floor(rps) + 1} writes/s`);
    ok = false;
  } else {
    lines.push(`PASS: Throughput is ${Math.floor(rps) + 1} writes/s`);
  }
  const slowest = s.latenciesS.reduce((a, b) => Math.max(a, b), 0);
  if (slowest > 0.5) {
    lines.push(`Slowest request took too long: ${slowest.toFixed(6)}s`);
    ok = false;
  } else {
    lines.push(`PASS: Slowest request took ${slowest.toFixed(6)}s`);
  }
  const n = Math.max(1, s.latenciesS.length);
  const mean = s.latenciesS.reduce((a, b) => a + b, 0) / n;
  const stddev = Math.sqrt(s.latenciesS.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  if (stddev > 0.1) {
    lines.push(`Stddev too high: ${stddev.toFixed(6)}s`);
    ok = false;
  } else {
    lines.push(`PASS: Stddev is ${stddev.toFixed(6)}s`);
  }
  lines.push(ok ? 'PASS' : 'FAIL');
  return { lines, ok };
}
