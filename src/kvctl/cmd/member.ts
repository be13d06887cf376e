// member list | add | remove | promote | update, endpoint status | health, move-leader.
import type { Command, Ctx } from '../context.js';
import { badArgs, callFailed, Exit, KvctlError, errorText } from '../errors.js';
import { goList, goQuote, parseGoInt } from '../format.js';
import type { HealthDisplay, StatusDisplay } from '../printer.js';

function memberIdArg(args: string[]): bigint {
  if (args.length !== 1) throw badArgs('member ID is not provided');
  try {
    return parseGoInt(args[0]!, 16, 'ParseUint');
  } catch (e) {
    throw badArgs(`bad member ID arg (${(e as Error).message}), expecting ID in Hex`);
  }
}

/** --peer-urls as etcd's types.NewURLs checks them. */
function peerUrls(ctx: Ctx): string[] {
  const raw = ctx.flags.string('peer-urls');
  if (raw === '') throw badArgs('member peer urls not provided');
  const urls = raw.split(',');
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw badArgs(`parse ${goQuote(u)}: invalid URI for request`);
    }
    if (!['http:', 'https:', 'unix:', 'unixs:'].includes(parsed.protocol)) throw badArgs(`URL scheme must be http, https, unix, or unixs: ${u}`);
    if (!/:\d+$/.test(parsed.host)) throw badArgs(`URL address does not have the form "host:port": ${u}`);
    if (parsed.pathname !== '/' && parsed.pathname !== '') throw badArgs(`URL must not contain a path: ${u}`);
  }
  return urls;
}

export const memberList: Command = {
  name: 'member list',
  use: 'member list',
  short: 'Lists all members in the cluster',
  description: [
    'When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.',
    'The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.',
  ].join('\n'),
  flags: [],
  async run(ctx) {
    const display = ctx.printer();
    const r = await ctx
      .client()
      .memberList(ctx.call())
      .catch((e: unknown) => {
        throw callFailed(e);
      });
    display.memberList(r);
  },
};

export const memberAdd: Command = {
  name: 'member add',
  use: 'member add <memberName> [options]',
  short: 'Adds a member into the cluster',
  flags: [
    { name: 'peer-urls', type: 'string', default: '', usage: 'comma separated peer URLs for the new member.' },
    { name: 'learner', type: 'bool', default: false, usage: 'indicates if the new member is raft learner' },
  ],
  async run(ctx) {
    if (ctx.args.length < 1) throw badArgs('member name not provided');
    if (ctx.args.length > 1) {
      let msg = 'too many arguments';
      for (const a of ctx.args) if (a.toLowerCase().startsWith('http')) msg += `, did you mean --peer-urls=${a}`;
      throw badArgs(msg);
    }
    const name = ctx.args[0]!;
    const urls = peerUrls(ctx);
    const display = ctx.printer();
    const client = ctx.client();
    const r = await client.memberAdd(urls, { learner: ctx.flags.bool('learner'), ...ctx.call() }).catch((e: unknown) => {
      throw callFailed(e);
    });
    display.memberAdd(r);
    if (ctx.global.writeOut !== 'simple') return;
    // What the new member needs to start (etcd's variable names, as etcdctl prints them).
    const list = await client.memberList(ctx.call()).catch((e: unknown) => {
      throw callFailed(e);
    });
    const conf: string[] = [];
    for (const m of list.members) {
      for (const u of m.peerURLs) conf.push(`${m.ID === r.member.ID ? name : m.name}=${u}`);
    }
    ctx.io.stdout(
      `\nETCD_NAME=${goQuote(name)}\nETCD_INITIAL_CLUSTER=${goQuote(conf.join(','))}\nETCD_INITIAL_ADVERTISE_PEER_URLS=${goQuote(urls.join(','))}\nETCD_INITIAL_CLUSTER_STATE="existing"\n`,
    );
  },
};

export const memberRemove: Command = {
  name: 'member remove',
  use: 'member remove <memberID>',
  short: 'Removes a member from the cluster',
  flags: [],
  async run(ctx) {
    const id = memberIdArg(ctx.args);
    const display = ctx.printer();
    const r = await ctx
      .client()
      .memberRemove(id, ctx.call())
      .catch((e: unknown) => {
        throw callFailed(e);
      });
    display.memberRemove(id, r);
  },
};

export const memberPromote: Command = {
  name: 'member promote',
  use: 'member promote <memberID>',
  short: 'Promotes a non-voting member in the cluster',
  description: 'Promotes a non-voting learner member to a voting one in the cluster.',
  flags: [],
  async run(ctx) {
    const id = memberIdArg(ctx.args);
    const display = ctx.printer();
    const r = await ctx
      .client()
      .memberPromote(id, ctx.call())
      .catch((e: unknown) => {
        throw callFailed(e);
      });
    display.memberPromote(id, r);
  },
};

export const memberUpdate: Command = {
  name: 'member update',
  use: 'member update <memberID> [options]',
  short: 'Updates a member in the cluster',
  flags: [{ name: 'peer-urls', type: 'string', default: '', usage: 'comma separated peer URLs for the updated member.' }],
  async run(ctx) {
    const id = memberIdArg(ctx.args);
    const urls = peerUrls(ctx);
    const display = ctx.printer();
    const r = await ctx
      .client()
      .memberUpdate(id, urls, ctx.call())
      .catch((e: unknown) => {
        throw callFailed(e);
      });
    display.memberUpdate(id, r);
  },
};

export const CLUSTER_FLAG = { name: 'cluster', type: 'bool' as const, default: false, usage: 'use all endpoints from the cluster member list' };

/** --endpoints, or with --cluster the client URLs of every member (in member list order). */
export async function endpointsOf(ctx: Ctx): Promise<string[]> {
  if (!ctx.flags.bool('cluster')) return ctx.global.endpoints;
  const r = await ctx
    .client()
    .memberList(ctx.call())
    .catch((e: unknown) => {
      throw callFailed(e);
    });
  const seen = new Set<string>();
  const out: string[] = [];
  for (const m of r.members) {
    for (const u of m.clientURLs) {
      if (seen.has(u)) continue;
      seen.add(u);
      out.push(u);
    }
  }
  return out;
}

export const endpointStatus: Command = {
  name: 'endpoint status',
  use: 'endpoint status',
  short: 'Prints out the status of endpoints specified in `--endpoints` flag',
  description: [
    'When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.',
    'The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.',
  ].join('\n'),
  flags: [CLUSTER_FLAG],
  async run(ctx) {
    const display = ctx.printer();
    const eps = await endpointsOf(ctx);
    const client = ctx.client(eps);
    const list: StatusDisplay[] = [];
    let failed = false;
    for (const ep of eps) {
      try {
        list.push({ ...(await client.status(ep, ctx.call())), ep });
      } catch (e) {
        failed = true;
        ctx.io.stderr(`Failed to get the status of endpoint ${ep} (${errorText(e)})\n`);
      }
    }
    display.endpointStatus(list);
    if (failed) return Exit.Error;
  },
};

export const endpointHealth: Command = {
  name: 'endpoint health',
  use: 'endpoint health',
  short: 'Checks the healthiness of endpoints specified in `--endpoints` flag',
  flags: [CLUSTER_FLAG],
  async run(ctx) {
    const display = ctx.printer();
    const eps = await endpointsOf(ctx);
    const client = ctx.client(eps);
    const list: HealthDisplay[] = await Promise.all(
      eps.map(async (ep) => {
        try {
          return { ...(await client.health(ep, ctx.call())), ep };
        } catch (e) {
          return { endpoint: ep, ep, health: false, took: 0, error: errorText(e) };
        }
      }),
    );
    display.endpointHealth(list);
    if (list.some((h) => !h.health)) throw new KvctlError(Exit.Error, 'unhealthy cluster');
  },
};

export const moveLeader: Command = {
  name: 'move-leader',
  use: 'move-leader <transferee-member-id>',
  short: 'Transfers leadership to another etcd cluster member.',
  flags: [],
  async run(ctx) {
    if (ctx.args.length !== 1) throw badArgs('move-leader command needs 1 argument');
    let target: bigint;
    try {
      target = parseGoInt(ctx.args[0]!, 16, 'ParseUint');
    } catch (e) {
      throw badArgs((e as Error).message);
    }
    const display = ctx.printer();
    // As etcdctl: the leader must be one of --endpoints (asked one by one for their status).
    const probe = ctx.client();
    let leaderEp: string | undefined;
    let leaderId = 0n;
    for (const ep of ctx.global.endpoints) {
      const s = await probe.status(ep, ctx.call()).catch(() => undefined);
      if (s && s.leader !== 0n && s.leader === s.header.member_id) {
        leaderEp = ep;
        leaderId = s.leader;
        break;
      }
    }
    if (!leaderEp) throw badArgs(`no leader endpoint given at ${goList(ctx.global.endpoints)}`);
    const r = await ctx
      .client([leaderEp])
      .moveLeader(target, ctx.call())
      .catch((e: unknown) => {
        throw callFailed(e);
      });
    display.moveLeader(leaderId, target, r.header);
  },
};
