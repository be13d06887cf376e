// lock and elect: etcd's concurrency recipes held until Ctrl-C (then released, exit 0), or for
// the run of a command (lock NAME command args...).
import { spawn } from 'node:child_process';
import { Election, Mutex, Session, type Client } from '../../client/index.js';
import type { Command, Ctx } from '../context.js';
import { badArgs, callFailed, Exit, KvctlError } from '../errors.js';

async function openSession(ctx: Ctx, client: Client, ttl: number): Promise<Session> {
  const s = new Session(client, { ttl });
  await s.ready().catch((e: unknown) => {
    throw callFailed(e);
  });
  return s;
}

/** Resolves 'interrupted' on Ctrl-C, 'lost' when the session's lease could not be kept. */
function held(ctx: Ctx, session: Session): Promise<'interrupted' | 'lost'> {
  return new Promise((resolve) => {
    if (ctx.io.interrupt.aborted) return resolve('interrupted');
    ctx.io.interrupt.addEventListener('abort', () => resolve('interrupted'), { once: true });
    session.once('lost', () => resolve('lost'));
    if (session.done) resolve('lost');
  });
}

function runCommand(ctx: Ctx, argv: string[], env: Record<string, string>): Promise<number | string> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...ctx.io.env, ...env }, stdio: ['inherit', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => ctx.io.stdout(d));
    child.stderr.on('data', (d: Buffer) => ctx.io.stderr(d.toString()));
    child.on('error', (e) => resolve(e.message));
    child.on('close', (code, sig) => resolve(sig ? `signal: ${sig}` : (code ?? 0)));
  });
}

export const lock: Command = {
  name: 'lock',
  use: 'lock <lockname> [exec-command arg1 arg2 ...]',
  short: 'Acquires a named lock',
  flags: [{ name: 'ttl', type: 'int', default: 10, usage: 'timeout for session' }],
  interruptible: true,
  async run(ctx) {
    if (ctx.args.length === 0) throw badArgs('lock takes a lock name argument and an optional command to execute');
    const display = ctx.printer();
    const client = ctx.client();
    const session = await openSession(ctx, client, ctx.flags.int('ttl'));
    const m = new Mutex(session, ctx.args[0]!);
    try {
      try {
        await m.lock({ signal: ctx.io.interrupt });
      } catch (e) {
        if (ctx.io.interrupt.aborted) return Exit.Success;
        throw callFailed(e);
      }
      const command = ctx.args.slice(1);
      if (command.length > 0) {
        const code = await runCommand(ctx, command, { ETCD_LOCK_KEY: m.key, ETCD_LOCK_REV: String(m.revision) });
        await m.unlock().catch(() => undefined);
        if (code !== 0) throw new KvctlError(Exit.Error, typeof code === 'number' ? `exit status ${code}` : code);
        return Exit.Success;
      }
      const k = await client.get(m.key, ctx.call()).catch((e: unknown) => {
        throw callFailed(e);
      });
      display.get(k);
      const why = await held(ctx, session);
      if (why === 'lost') throw new KvctlError(Exit.Error, 'session expired');
      await m.unlock().catch(() => undefined);
      return Exit.Success;
    } finally {
      await session.close().catch(() => undefined);
    }
  },
};

export const elect: Command = {
  name: 'elect',
  use: 'elect <election-name> [proposal]',
  short: 'Observes and participates in leader election',
  flags: [{ name: 'listen', short: 'l', type: 'bool', default: false, usage: 'observation mode' }],
  interruptible: true,
  async run(ctx) {
    const { args } = ctx;
    const listen = ctx.flags.bool('listen');
    if (args.length !== 1 && args.length !== 2) throw badArgs('elect takes one election name argument and an optional proposal argument');
    if (!listen && args.length !== 2) throw badArgs('no proposal argument but -l not set');
    if (listen && args.length !== 1) throw badArgs('proposal given but -l is set');
    const display = ctx.printer();
    const client = ctx.client();
    const session = await openSession(ctx, client, 60);
    const e = new Election(session, args[0]!);
    try {
      if (listen) {
        try {
          for await (const kv of e.observe({ signal: ctx.io.interrupt })) {
            display.get({ header: {}, kvs: [kv], more: false, count: 1 });
          }
        } catch (err) {
          if (!ctx.io.interrupt.aborted) throw callFailed(err);
        }
        return Exit.Success;
      }
      try {
        await e.campaign(args[1]!, { signal: ctx.io.interrupt });
      } catch (err) {
        if (ctx.io.interrupt.aborted) return Exit.Success;
        throw callFailed(err);
      }
      const r = await client.get(e.key, ctx.call()).catch((err: unknown) => {
        throw callFailed(err);
      });
      display.get(r);
      const why = await held(ctx, session);
      if (why === 'lost') throw new KvctlError(Exit.Error, 'session expired');
      await e.resign().catch(() => undefined);
      return Exit.Success;
    } finally {
      await session.close().catch(() => undefined);
    }
  },
};
