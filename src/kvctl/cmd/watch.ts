// watch: events of a key, a range or a prefix until Ctrl-C (exit 130, as a killed etcdctl), or
// until the server cancels the watch (a compacted start revision: exit 5). `-- command args`
// runs a command for each event; `-i` reads `watch ...` lines from standard input.
import { spawn } from 'node:child_process';
import { CompactedError, type Client, type WatchOptions, type WatchResponse } from '../../client/index.js';
import type { Command, Ctx } from '../context.js';
import { badArgs, callFailed, Exit, KvctlError } from '../errors.js';
import { parseFlags, type FlagSpec, type Flags } from '../flags.js';
import { goQuote } from '../format.js';
import { LineReader } from '../io.js';
import type { Printer } from '../printer.js';
import { argify } from '../txn-parser.js';

const WATCH_FLAGS: FlagSpec[] = [
  { name: 'interactive', short: 'i', type: 'bool', default: false, usage: 'Interactive mode' },
  { name: 'prefix', type: 'bool', default: false, usage: 'Watch on a prefix if prefix is set' },
  { name: 'rev', type: 'int', default: 0, usage: 'Revision to start watching' },
  { name: 'prev-kv', type: 'bool', default: false, usage: 'get the previous key-value pair before the event happens' },
  { name: 'progress-notify', type: 'bool', default: false, usage: 'get periodic watch progress notification from server' },
];

interface WatchSpec {
  key: string;
  opts: WatchOptions;
  exec: string[];
}

function watchSpec(watchArgs: string[], exec: string[], flags: Flags): WatchSpec {
  const opts: WatchOptions = {};
  if (watchArgs.length === 2) {
    if (flags.bool('prefix')) throw badArgs('`range_end` and `--prefix` are mutually exclusive');
    opts.rangeEnd = watchArgs[1]!;
  }
  if (flags.bool('prefix')) opts.prefix = true;
  if (flags.int('rev') > 0) opts.startRevision = flags.int('rev');
  if (flags.bool('prev-kv')) opts.prevKv = true;
  if (flags.bool('progress-notify')) opts.progressNotify = true;
  return { key: watchArgs[0]!, opts, exec };
}

function envWatchKey(ctx: Ctx): { key: string; range: string } {
  const env = ctx.io.env;
  const key = env.KVCTL_WATCH_KEY ?? env.ETCDCTL_WATCH_KEY ?? '';
  const range = env.KVCTL_WATCH_RANGE_END ?? env.ETCDCTL_WATCH_RANGE_END ?? '';
  if (key === '' && range !== '') throw badArgs(`ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=${goQuote(range)}`);
  return { key, range };
}

/** Arguments before and after `--`, with the environment's key (ETCDCTL_WATCH_KEY) when set. */
function splitArgs(args: string[], beforeDash: number, env: { key: string; range: string }): { watchArgs: string[]; exec: string[] } {
  let watchArgs = beforeDash >= 0 ? args.slice(0, beforeDash) : args;
  const exec = beforeDash >= 0 ? args.slice(beforeDash) : [];
  if (beforeDash >= 0 && exec.length === 0) throw badArgs('bad number of arguments (found separator --, but no commands)');
  if (watchArgs.length === 0 && env.key === '') throw badArgs('bad number of arguments');
  if (env.key !== '' && watchArgs.length > 0) throw badArgs('bad number of arguments (found conflicting environment key)');
  if (env.key !== '') watchArgs = env.range !== '' ? [env.key, env.range] : [env.key];
  return { watchArgs, exec };
}

/** Runs the exec command for one event, as etcdctl: ETCD_WATCH_* in its environment. */
async function runExec(ctx: Ctx, exec: string[], resp: WatchResponse): Promise<void> {
  for (const ev of resp.events) {
    const env = {
      ...ctx.io.env,
      ETCD_WATCH_REVISION: String(resp.header.revision ?? 0),
      ETCD_WATCH_EVENT_TYPE: goQuote(ev.type === 1 ? 'DELETE' : 'PUT'),
      ETCD_WATCH_KEY: goQuote(ev.kv.key),
      ETCD_WATCH_VALUE: goQuote(ev.kv.value),
    };
    const code = await new Promise<number | string>((resolve) => {
      const child = spawn(exec[0]!, exec.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', (d: Buffer) => ctx.io.stdout(d));
      child.stderr.on('data', (d: Buffer) => ctx.io.stderr(d.toString()));
      child.on('error', (e) => resolve(e.message));
      child.on('close', (c, sig) => resolve(sig ? `signal: ${sig}` : (c ?? 0)));
    });
    if (code !== 0) {
      const why = typeof code === 'number' ? `exit status ${code}` : code;
      throw new KvctlError(Exit.Error, `command [${exec.map((a) => goQuote(a)).join(' ')}] error (${why})`);
    }
  }
}

/** Prints one watcher's responses until it ends; resolves 'canceled' when the server canceled it. */
async function pump(ctx: Ctx, client: Client, spec: WatchSpec, display: Printer): Promise<'ended' | 'canceled'> {
  const w = client.watch(spec.key, spec.opts);
  const stop = () => w.cancel();
  ctx.io.interrupt.addEventListener('abort', stop, { once: true });
  // As etcdctl's blocking dial: no member reachable within the timeouts is a connection error.
  const limit = ctx.global.dialTimeoutMs + ctx.global.commandTimeoutMs;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      w.ready(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new KvctlError(Exit.BadConnection, 'context deadline exceeded')), limit);
      }),
    ]);
  } catch (e) {
    w.cancel();
    ctx.io.interrupt.removeEventListener('abort', stop);
    if (ctx.io.interrupt.aborted) return 'ended';
    if (e instanceof CompactedError) return canceled(ctx, display, e);
    throw callFailed(e, Exit.BadConnection);
  } finally {
    clearTimeout(timer);
  }
  try {
    for await (const resp of w) {
      if (resp.progressNotify) {
        ctx.io.stdout(`progress notify: ${resp.header.revision ?? 0}\n`);
        continue;
      }
      display.watch({ header: resp.header, events: resp.events, compactRevision: 0, canceled: false, created: false });
      if (spec.exec.length > 0) await runExec(ctx, spec.exec, resp);
    }
    return 'ended';
  } catch (e) {
    if (e instanceof CompactedError) return canceled(ctx, display, e);
    if (e instanceof KvctlError) throw e;
    ctx.io.stderr(`watch was canceled (${(e as Error).message})\n`);
    return 'canceled';
  } finally {
    w.cancel();
    ctx.io.interrupt.removeEventListener('abort', stop);
  }
}

function canceled(ctx: Ctx, display: Printer, e: CompactedError): 'canceled' {
  ctx.io.stderr(`watch was canceled (${e.message})\n`);
  display.watch({ header: {}, events: [], compactRevision: e.compactRevision ?? 0, canceled: true, created: false });
  return 'canceled';
}

const canceledByServer = (): KvctlError => new KvctlError(Exit.Interrupted, 'watch is canceled by the server');

async function interactive(ctx: Ctx, display: Printer, env: { key: string; range: string }): Promise<number> {
  const client = ctx.client();
  const reader = new LineReader(ctx.io.stdin);
  const running: Promise<'ended' | 'canceled'>[] = [];
  let failure: unknown;
  const onInterrupt = () => reader.close();
  ctx.io.interrupt.addEventListener('abort', onInterrupt, { once: true });
  const endOfInput = new Promise<void>((resolve) => ctx.io.interrupt.addEventListener('abort', () => resolve(), { once: true }));
  for (;;) {
    const line = await Promise.race([reader.readLine(), endOfInput.then(() => undefined)]);
    if (line === undefined) break;
    const args = argify(line);
    if (args.length < 2 && env.key === '') {
      ctx.io.stderr(`Invalid command ${line} (command type or key is not provided)\n`);
      continue;
    }
    if (args[0] !== 'watch') {
      ctx.io.stderr(`Invalid command ${line} (only support watch)\n`);
      continue;
    }
    const parsed = parseFlags(args.slice(1), WATCH_FLAGS.filter((f) => f.name !== 'interactive'));
    const { watchArgs, exec } = splitArgs(parsed.args, parsed.argsBeforeDash, env);
    const spec = watchSpec(watchArgs, exec, parsed.flags);
    running.push(
      pump(ctx, client, spec, display).catch((e: unknown) => {
        failure = e;
        return 'canceled' as const;
      }),
    );
  }
  ctx.io.interrupt.removeEventListener('abort', onInterrupt);
  if (ctx.io.interrupt.aborted) return Exit.Signal;
  // etcdctl stops at the end of its input; kvctl keeps the watches it started running.
  if (running.length === 0) throw new KvctlError(Exit.InvalidInput, 'error reading watch request line: EOF');
  await Promise.race([Promise.all(running), endOfInput]);
  if (ctx.io.interrupt.aborted) return Exit.Signal;
  if (failure) throw failure;
  throw canceledByServer();
}

export const watch: Command = {
  name: 'watch',
  use: 'watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]',
  short: 'Watches events stream on keys or prefixes',
  flags: WATCH_FLAGS,
  interruptible: true,
  async run(ctx) {
    const env = envWatchKey(ctx);
    const display = ctx.printer();
    if (ctx.flags.bool('interactive')) return interactive(ctx, display, env);
    const { watchArgs, exec } = splitArgs(ctx.args, ctx.argsBeforeDash, env);
    const spec = watchSpec(watchArgs, exec, ctx.flags);
    await pump(ctx, ctx.client(), spec, display);
    if (ctx.io.interrupt.aborted) return Exit.Signal;
    throw canceledByServer();
  },
};
