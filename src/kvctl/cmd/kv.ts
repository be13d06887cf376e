// put, get, del, txn, compaction.
import type { Command } from '../context.js';
import { badArgs, callFailed, Exit, KvctlError } from '../errors.js';
import { parseGoInt } from '../format.js';
import { LineReader, readAll } from '../io.js';
import { DEL_FLAGS, GET_FLAGS, PUT_FLAGS, delOp, getOp, putOp } from '../kv-ops.js';
import { readTxn } from '../txn-parser.js';

export const put: Command = {
  name: 'put',
  use: 'put [options] <key> <value> (<value> can also be given from stdin)',
  short: 'Puts the given key into the store',
  description: [
    'Puts the given key into the store.',
    '',
    "When <value> begins with '-', <value> is interpreted as a flag.",
    "Insert '--' for workaround:",
    '',
    '$ put <key> -- <value>',
    '$ put -- <key> <value>',
    '',
    "If <value> isn't given as a command line argument and '--ignore-value' is not specified,",
    'this command tries to read the value from standard input.',
    '',
    'For example,',
    '$ cat file | put <key>',
    'will store the content of the file to <key>.',
  ].join('\n'),
  flags: PUT_FLAGS,
  async run(ctx) {
    const { args, flags } = ctx;
    const stdinValue = args.length === 1 && !flags.bool('ignore-value') ? await readAll(ctx.io.stdin) : undefined;
    const p = putOp(args, flags, stdinValue);
    const display = ctx.printer();
    const r = await ctx
      .client()
      .put(p.key, p.value, { ...p.opts, ...ctx.call() })
      .catch((e: unknown) => {
        throw callFailed(e);
      });
    display.put(r);
  },
};

export const get: Command = {
  name: 'get',
  use: 'get [options] <key> [range_end]',
  short: 'Gets the key or a range of keys',
  flags: GET_FLAGS,
  async run(ctx) {
    const g = getOp(ctx.args, ctx.flags);
    const display = ctx.printer({ valueOnly: ctx.flags.bool('print-value-only'), countOnly: ctx.flags.bool('count-only') });
    const r = await ctx
      .client()
      .get(g.key, { ...g.opts, ...ctx.call() })
      .catch((e: unknown) => {
        throw callFailed(e);
      });
    display.get(r);
  },
};

export const del: Command = {
  name: 'del',
  use: 'del [options] <key> [range_end]',
  short: 'Removes the specified key or range of keys [key, range_end)',
  flags: DEL_FLAGS,
  async run(ctx) {
    const d = delOp(ctx.args, ctx.flags);
    const display = ctx.printer();
    const r = await ctx
      .client()
      .delete(d.key, { ...d.opts, ...ctx.call() })
      .catch((e: unknown) => {
        throw callFailed(e);
      });
    display.del(r);
  },
};

export const txn: Command = {
  name: 'txn',
  use: 'txn [options]',
  short: 'Txn processes all the requests in one transaction',
  description: [
    'Txn reads multiple etcd requests from standard input and applies them as a single atomic transaction.',
    '',
    'A transaction consists of three components:',
    '1) a list of conditions,',
    '2) a list of requests to apply if all the conditions are true,',
    '3) a list of requests to apply if any condition is false.',
    '',
    'Each list ends with an empty line. Example:',
    '',
    'mod("key1") > "0"',
    '',
    'put key1 "overwrote-key1"',
    '',
    'put key1 "created-key1"',
    'put key2 "some extra key"',
    '',
  ].join('\n'),
  flags: [{ name: 'interactive', short: 'i', type: 'bool', default: false, usage: 'Input transaction in interactive mode' }],
  async run(ctx) {
    if (ctx.args.length !== 0) throw badArgs('txn command does not accept argument');
    const reader = new LineReader(ctx.io.stdin);
    const interactive = ctx.flags.bool('interactive');
    let parsed;
    try {
      parsed = await readTxn(reader, interactive ? (s) => ctx.io.stdout(`${s}\n`) : undefined);
    } finally {
      reader.close();
    }
    const display = ctx.printer();
    const r = await ctx
      .client()
      .txn()
      .if(...parsed.compares)
      .then(...parsed.success)
      .else(...parsed.failure)
      .commit(ctx.call())
      .catch((e: unknown) => {
        throw callFailed(e);
      });
    display.txn(r);
  },
};

export const compaction: Command = {
  name: 'compaction',
  aliases: ['compact'],
  use: 'compaction [options] <revision>',
  short: 'Compacts the event history in etcd',
  flags: [{ name: 'physical', type: 'bool', default: false, usage: "'true' to wait for compaction to physically remove all old revisions" }],
  async run(ctx) {
    if (ctx.args.length !== 1) throw badArgs('compaction command needs 1 argument');
    let rev: number;
    try {
      rev = Number(parseGoInt(ctx.args[0]!, 10));
    } catch (e) {
      throw new KvctlError(Exit.Error, (e as Error).message);
    }
    const physical = ctx.flags.bool('physical');
    await ctx
      .client()
      .compact(rev, { physical, ...ctx.call(), ...(physical ? { timeoutMs: Math.max(ctx.global.commandTimeoutMs, 30000) } : {}) })
      .catch((e: unknown) => {
        throw callFailed(e);
      });
    ctx.io.stdout(`compacted revision ${rev}\n`);
  },
};
