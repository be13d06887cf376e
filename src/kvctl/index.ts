// kvctl: etcdctl 3.4's commands, flags, output formats and exit codes, for kvd and etcd alike
// (through their JSON gateways, with src/client). `run(argv, io)` is the whole program;
// bin/kvctl.ts only wires it to the process. See docs/kvctl.md.
import { compaction, del, get, put, txn } from './cmd/kv.js';
import { elect, lock } from './cmd/concurrency.js';
import { alarmDisarm, alarmList, defrag, endpointHashKV } from './cmd/maintenance.js';
import { makeMirror } from './cmd/mirror.js';
import { checkPerf } from './cmd/check.js';
import { checkDatascale } from './cmd/check-datascale.js';
import { leaseGrant, leaseKeepAlive, leaseList, leaseRevoke, leaseTimeToLive } from './cmd/lease.js';
import { endpointHealth, endpointStatus, memberAdd, memberList, memberPromote, memberRemove, memberUpdate, moveLeader } from './cmd/member.js';
import { serviceCheckFail, serviceCheckPass, serviceCheckWarn, serviceDeregister, serviceGet, serviceList, serviceRegister, serviceWatch } from './cmd/service.js';
import { snapshotRestore, snapshotSave, snapshotStatusCmd } from './cmd/snapshot.js';
import { watch } from './cmd/watch.js';
import { Ctx, type Command, type GlobalOptions } from './context.js';
import { Exit, KvctlError } from './errors.js';
import { flagUsage, parseFlags, type FlagSpec } from './flags.js';
import type { KvctlIo } from './io.js';
import { GLOBAL_TLS_FLAGS, tlsFromFlags } from './tls.js';

export { processIo, runAsProcess, type KvctlIo } from './io.js';
export { Exit, KvctlError } from './errors.js';

export const VERSION = '3.4.0';
export const API_VERSION = '3.4';

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'endpoints', type: 'strings', default: ['127.0.0.1:2379'], usage: 'member client URLs (host:port, http://host:port or https://host:port), comma-separated' },
  { name: 'dial-timeout', type: 'duration', default: 2000, usage: 'dial timeout for client connections' },
  { name: 'command-timeout', type: 'duration', default: 5000, usage: 'timeout for short running command (excluding dial timeout)' },
  { name: 'write-out', short: 'w', type: 'string', default: 'simple', usage: 'set the output format (simple, json, table)' },
  { name: 'hex', type: 'bool', default: false, usage: 'print byte strings as hex encoded strings' },
  { name: 'debug', type: 'bool', default: false, usage: "enable client-side debug logging (on stderr)" },
  { name: 'keepalive-time', type: 'duration', default: 2000, usage: 'accepted for etcdctl compatibility (unused)' },
  { name: 'keepalive-timeout', type: 'duration', default: 6000, usage: 'accepted for etcdctl compatibility (unused)' },
  { name: 'insecure-transport', type: 'bool', default: true, usage: 'disable transport security for client connections' },
  { name: 'insecure-skip-tls-verify', type: 'bool', default: false, usage: 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)' },
  { name: 'insecure-discovery', type: 'bool', default: true, usage: 'accepted for etcdctl compatibility (unused)' },
  { name: 'cacert', type: 'string', default: '', usage: 'verify certificates of TLS-enabled secure servers using this CA bundle' },
  { name: 'cert', type: 'string', default: '', usage: 'identify secure client using this TLS certificate file' },
  { name: 'key', type: 'string', default: '', usage: 'identify secure client using this TLS key file' },
  { name: 'user', type: 'string', default: '', usage: 'not supported (no authentication)' },
  { name: 'password', type: 'string', default: '', usage: 'not supported (no authentication)' },
  { name: 'discovery-srv', short: 'd', type: 'string', default: '', usage: 'not supported (no DNS discovery)' },
  { name: 'discovery-srv-name', type: 'string', default: '', usage: 'not supported (no DNS discovery)' },
];

const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', type: 'bool', default: false, usage: 'help for this command' };

const version: Command = {
  name: 'version',
  use: 'version',
  short: 'Prints the version of kvctl',
  flags: [],
  async run(ctx) {
    ctx.io.stdout(`kvctl version: ${VERSION}\nAPI version: ${API_VERSION}\n`);
  },
};

export const COMMANDS: Command[] = [
  alarmDisarm,
  alarmList,
  checkDatascale,
  checkPerf,
  compaction,
  defrag,
  del,
  elect,
  endpointHashKV,
  endpointHealth,
  endpointStatus,
  get,
  leaseGrant,
  leaseKeepAlive,
  leaseList,
  leaseRevoke,
  leaseTimeToLive,
  lock,
  makeMirror,
  memberAdd,
  memberList,
  memberPromote,
  memberRemove,
  memberUpdate,
  moveLeader,
  put,
  serviceCheckFail,
  serviceCheckPass,
  serviceCheckWarn,
  serviceDeregister,
  serviceGet,
  serviceList,
  serviceRegister,
  serviceWatch,
  snapshotRestore,
  snapshotSave,
  snapshotStatusCmd,
  txn,
  version,
  watch,
];

const GROUPS: Record<string, string> = {
  alarm: 'Alarm related commands',
  check: 'commands for checking properties of the etcd cluster',
  lease: 'Lease related commands',
  member: 'Membership related commands',
  endpoint: 'Endpoint related commands',
  snapshot: 'Manages kvd node snapshots',
  service: 'Service discovery: register, look up and watch service instances',
};

function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name || c.aliases?.includes(name));
}

function globalEnvNames(spec: FlagSpec): string[] {
  if (!GLOBAL_FLAGS.includes(spec)) return [];
  const n = spec.name.toUpperCase().replace(/-/g, '_');
  return [`KVCTL_${n}`, `ETCDCTL_${n}`];
}

function globalUsage(): string {
  return `GLOBAL OPTIONS:\n${flagUsage(GLOBAL_FLAGS)}`;
}

export function commandUsage(c: Command): string {
  let s = `NAME:\n\t${c.name} - ${c.short}\n\nUSAGE:\n\tkvctl ${c.use} [flags]\n\n`;
  if (c.description) s += `DESCRIPTION:\n${c.description.split('\n').map((l) => `\t${l}`).join('\n')}\n\n`;
  const help = { ...HELP_FLAG, usage: `help for ${c.name.split(' ').pop()}` };
  s += `OPTIONS:\n${flagUsage([help, ...c.flags])}\n${globalUsage()}\n`;
  return s;
}

/** `\tname\t\tdescription` lines, aligned with tabs as etcdctl's help. */
function commandLines(rows: [string, string][]): string {
  const col = Math.ceil((8 + Math.max(...rows.map(([n]) => n.length)) + 1) / 8) * 8;
  return rows.map(([n, d]) => `\t${n}${'\t'.repeat(Math.ceil((col - 8 - n.length) / 8))}${d}\n`).join('');
}

function groupUsage(group: string): string {
  const subs = COMMANDS.filter((c) => c.name.startsWith(`${group} `));
  const lines = commandLines(subs.map((c) => [c.name.slice(group.length + 1), c.short]));
  return `NAME:\n\t${group} - ${GROUPS[group]}\n\nUSAGE:\n\tkvctl ${group} <subcommand> [flags]\n\nAPI VERSION:\n\t${API_VERSION}\n\n\nCOMMANDS:\n${lines}\nOPTIONS:\n${flagUsage([{ ...HELP_FLAG, usage: `help for ${group}` }])}\n${globalUsage()}\n`;
}

export function rootUsage(): string {
  const names = [...COMMANDS].sort((a, b) => a.name.localeCompare(b.name));
  const lines = commandLines(names.map((c) => [c.name, c.short]));
  return (
    `NAME:\n\tkvctl - etcdctl's commands for kvd (and etcd 3.4), over the JSON gateway.\n\n` +
    `USAGE:\n\tkvctl [flags] <command> [arguments]\n\nVERSION:\n\t${VERSION}\n\nAPI VERSION:\n\t${API_VERSION}\n\n\n` +
    `COMMANDS:\n${lines}\nOPTIONS:\n${flagUsage([{ ...HELP_FLAG, usage: 'help for kvctl' }])}\n${globalUsage()}\n`
  );
}

/** Finds the command words among the arguments (global flags may come before them). */
function locate(argv: string[]): { words: string[]; rest: string[] } {
  const valueFlags = new Set<string>();
  for (const f of GLOBAL_FLAGS) {
    if (f.type === 'bool') continue;
    valueFlags.add(`--${f.name}`);
    if (f.short) valueFlags.add(`-${f.short}`);
  }
  const at: number[] = [];
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    if (t === '--') break;
    if (t.startsWith('-') && t.length > 1) {
      if (valueFlags.has(t)) i++;
      continue;
    }
    at.push(i);
    if (at.length === 2 || !(t in GROUPS)) break;
  }
  return { words: at.map((i) => argv[i]!), rest: argv.filter((_, i) => !at.includes(i)) };
}

function globalOptions(p: ReturnType<typeof parseFlags>): GlobalOptions {
  const f = p.flags;
  for (const name of ['user', 'password']) {
    if (f.string(name) !== '') throw new KvctlError(Exit.BadFeature, `--${name}: authentication is not supported by kvctl`);
  }
  if (f.string('discovery-srv') !== '' || f.string('discovery-srv-name') !== '') {
    throw new KvctlError(Exit.BadFeature, 'DNS discovery is not supported by kvctl');
  }
  const writeOut = f.string('write-out');
  if (!['simple', 'json', 'table', 'fields', 'protobuf'].includes(writeOut)) throw new KvctlError(Exit.BadFeature, 'unsupported output format');
  const endpoints = f.strings('endpoints').filter((e) => e !== '');
  if (endpoints.length === 0) throw new KvctlError(Exit.BadArgs, 'no endpoints given');
  return {
    endpoints,
    dialTimeoutMs: f.duration('dial-timeout'),
    commandTimeoutMs: f.duration('command-timeout'),
    writeOut,
    hex: f.bool('hex'),
    debug: f.bool('debug'),
    tls: tlsFromFlags(f, GLOBAL_TLS_FLAGS),
  };
}

function fail(io: KvctlIo, e: unknown, usage?: string, debug = false): number {
  if (e instanceof KvctlError) {
    io.stderr(`Error: ${e.message}\n`);
    if (e.showUsage && usage) io.stdout(usage);
    return e.exitCode;
  }
  io.stderr(`Error: ${(e as Error)?.message ?? String(e)}\n`);
  if (debug && e instanceof Error && e.stack) io.stderr(`${e.stack}\n`);
  return Exit.Error;
}

/** Runs one kvctl invocation; resolves with the exit code. */
export async function run(argv: string[], io: KvctlIo): Promise<number> {
  const { words, rest } = locate(argv);
  let command: Command | undefined;
  if (words.length === 0 || words[0] === 'help') {
    const topic = words[0] === 'help' ? rest.filter((a) => !a.startsWith('-')) : [];
    if (topic.length > 0) {
      const c = findCommand(topic.slice(0, 2).join(' ')) ?? findCommand(topic[0]!);
      if (c) io.stdout(commandUsage(c));
      else if (topic[0]! in GROUPS) io.stdout(groupUsage(topic[0]!));
      else {
        io.stderr(`Error: unknown help topic ${JSON.stringify(topic.join(' '))}\n`);
        return Exit.Error;
      }
      return Exit.Success;
    }
    // Flags alone: --help prints the usage; an unknown flag is an error.
    try {
      parseFlags(rest, [HELP_FLAG, ...GLOBAL_FLAGS]);
    } catch (e) {
      return fail(io, e, rootUsage());
    }
    io.stdout(rootUsage());
    return Exit.Success;
  }
  const head = words[0]!;
  if (head in GROUPS) {
    command = words.length === 2 ? findCommand(`${head} ${words[1]}`) : undefined;
    if (!command) {
      // As etcdctl: a group without (a known) subcommand prints its help.
      io.stdout(groupUsage(head));
      return Exit.Success;
    }
  } else {
    command = findCommand(head);
    if (!command) {
      io.stderr(`Error: unknown command ${JSON.stringify(head)} for "kvctl"\nRun 'kvctl --help' for usage.\n`);
      return Exit.Error;
    }
  }

  const usage = commandUsage(command);
  let ctx: Ctx;
  try {
    const parsed = parseFlags(rest, [...command.flags, HELP_FLAG, ...GLOBAL_FLAGS], io.env, globalEnvNames);
    if (parsed.flags.bool('help')) {
      io.stdout(usage);
      return Exit.Success;
    }
    ctx = new Ctx(io, parsed.args, parsed.argsBeforeDash, parsed.flags, globalOptions(parsed));
  } catch (e) {
    return fail(io, e, usage);
  }

  let onInterrupt: (() => void) | undefined;
  try {
    const work = command.run(ctx);
    let code: number | void;
    if (command.interruptible) code = await work;
    else {
      // A short command dies on Ctrl-C, as etcdctl does.
      const interrupted = new Promise<number>((resolve) => {
        onInterrupt = () => resolve(Exit.Signal);
        if (io.interrupt.aborted) onInterrupt();
        else io.interrupt.addEventListener('abort', onInterrupt, { once: true });
      });
      work.catch(() => undefined);
      code = await Promise.race([work, interrupted]);
    }
    return code ?? Exit.Success;
  } catch (e) {
    return fail(io, e, usage, ctx.global.debug);
  } finally {
    if (onInterrupt) io.interrupt.removeEventListener('abort', onInterrupt);
    ctx.close();
  }
}
