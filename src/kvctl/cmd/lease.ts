// lease grant | revoke | timetolive | list | keep-alive.
import type { Command, Ctx } from '../context.js';
import { badArgs, callFailed, Exit, KvctlError } from '../errors.js';
import { hex16, parseGoInt } from '../format.js';
import { parseLeaseHex } from '../kv-ops.js';
import { ClientError, GrpcCode, type LeaseKeepAliveResponse } from '../../client/index.js';

function leaseArg(s: string): bigint {
  try {
    return parseLeaseHex(s);
  } catch (e) {
    throw badArgs(`bad lease ID arg (${(e as Error).message}), expecting ID in Hex`);
  }
}

export const leaseGrant: Command = {
  name: 'lease grant',
  use: 'lease grant <ttl>',
  short: 'Creates leases',
  flags: [],
  async run(ctx) {
    if (ctx.args.length !== 1) throw badArgs('lease grant command needs TTL argument');
    let ttl: bigint;
    try {
      ttl = parseGoInt(ctx.args[0]!, 10);
    } catch (e) {
      throw badArgs(`bad TTL (${(e as Error).message})`);
    }
    const display = ctx.printer();
    const r = await ctx
      .client()
      .leaseGrant(Number(ttl), undefined, ctx.call())
      .catch((e: unknown) => {
        throw callFailed(e, Exit.Error, (m) => `failed to grant lease (${m})`);
      });
    display.grant(r);
  },
};

export const leaseRevoke: Command = {
  name: 'lease revoke',
  use: 'lease revoke <leaseID>',
  short: 'Revokes leases',
  flags: [],
  async run(ctx) {
    if (ctx.args.length !== 1) throw badArgs('lease revoke command needs 1 argument');
    const id = leaseArg(ctx.args[0]!);
    const display = ctx.printer();
    const r = await ctx
      .client()
      .leaseRevoke(id, ctx.call())
      .catch((e: unknown) => {
        throw callFailed(e, Exit.Error, (m) => `failed to revoke lease (${m})`);
      });
    display.revoke(id, r);
  },
};

export const leaseTimeToLive: Command = {
  name: 'lease timetolive',
  use: 'lease timetolive <leaseID> [options]',
  short: 'Get lease information',
  flags: [{ name: 'keys', type: 'bool', default: false, usage: 'Get keys attached to this lease' }],
  async run(ctx) {
    if (ctx.args.length !== 1) throw badArgs('lease timetolive command needs lease ID as argument');
    const id = leaseArg(ctx.args[0]!);
    const keys = ctx.flags.bool('keys');
    const display = ctx.printer();
    const r = await ctx
      .client()
      .leaseTimeToLive(id, { keys, ...ctx.call() })
      .catch((e: unknown) => {
        throw callFailed(e, Exit.BadConnection);
      });
    display.timeToLive(r, keys);
  },
};

export const leaseList: Command = {
  name: 'lease list',
  use: 'lease list',
  short: 'List all active leases',
  flags: [],
  async run(ctx) {
    const display = ctx.printer();
    const r = await ctx
      .client()
      .leaseLeases(ctx.call())
      .catch((e: unknown) => {
        throw callFailed(e, Exit.Error, (m) => `failed to list leases (${m})`);
      });
    display.leases(r);
  },
};

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Renews every TTL/3 and prints each renewal, until the lease is gone ("expired or revoked",
 * exit 0) or Ctrl-C. Failed renewals are retried until the lease would have run out.
 */
async function keepAliveLoop(ctx: Ctx, id: bigint): Promise<number> {
  const client = ctx.client();
  const display = ctx.printer();
  const signal = ctx.io.interrupt;
  let expiresAt = Date.now() + ctx.global.commandTimeoutMs;
  while (!signal.aborted) {
    const sentAt = Date.now();
    let r: LeaseKeepAliveResponse | undefined;
    try {
      r = await client.leaseKeepAliveOnce(id, { timeoutMs: Math.max(500, Math.min(ctx.global.commandTimeoutMs, expiresAt - sentAt)), signal });
    } catch (e) {
      if (signal.aborted) break;
      if (e instanceof ClientError && e.kind === 'Server' && e.code === GrpcCode.NotFound) r = { header: {}, ID: id, TTL: 0 };
      else if (Date.now() >= expiresAt) r = { header: {}, ID: id, TTL: 0 };
      else {
        await sleep(250, signal);
        continue;
      }
    }
    if (r.TTL <= 0) {
      if (ctx.global.writeOut === 'simple') ctx.io.stdout(`lease ${hex16(id)} expired or revoked.\n`);
      return Exit.Success;
    }
    display.keepAlive(r);
    expiresAt = sentAt + r.TTL * 1000;
    await sleep((r.TTL * 1000) / 3, signal);
  }
  return Exit.Signal;
}

export const leaseKeepAlive: Command = {
  name: 'lease keep-alive',
  use: 'lease keep-alive [options] <leaseID>',
  short: 'Keeps leases alive (renew)',
  flags: [{ name: 'once', type: 'bool', default: false, usage: 'Resets the keep-alive time to its original value and exits immediately' }],
  interruptible: true,
  async run(ctx) {
    if (ctx.args.length !== 1) throw badArgs('lease keep-alive command needs lease ID as argument');
    const id = leaseArg(ctx.args[0]!);
    if (!ctx.flags.bool('once')) return keepAliveLoop(ctx, id);
    const display = ctx.printer();
    const r = await ctx
      .client()
      .leaseKeepAliveOnce(id, ctx.call())
      .catch((e: unknown) => {
        throw callFailed(e, Exit.BadConnection);
      });
    if (r.TTL <= 0) throw new KvctlError(Exit.BadConnection, 'etcdserver: requested lease not found');
    display.keepAlive(r);
  },
};
