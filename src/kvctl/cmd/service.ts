// service register | deregister | list | get | watch | check-pass | check-warn | check-fail: the
// service registry of src/discovery from the command line (see docs/discovery.md).
//
// A registration made here outlives kvctl: without --ttl-lease it is permanent (until `service
// deregister`); with --ttl-lease N it is bound to a new lease of N seconds that the caller keeps
// alive (`kvctl lease keep-alive`). Health checks are run by the process that registered the
// instance, so --check needs --foreground: kvctl then stays, runs the checks under a lease of its
// own, and deregisters on Ctrl-C.
import { hostname } from 'node:os';
import { ClientError, leaseHex } from '../../client/index.js';
import {
  DEFAULT_PREFIX,
  DiscoveryError,
  ValidationError,
  checkFromSpec,
  defaultReportsPrefix,
  instanceKey,
  listServices,
  lookup,
  register,
  reportCheck,
  watch as watchService,
  type CheckDefinition,
  type HealthStatus,
  type ServiceDefinition,
  type ServiceInstance,
} from '../../discovery/index.js';
import type { Command, Ctx } from '../context.js';
import { badArgs, callFailed, Exit, KvctlError } from '../errors.js';
import type { FlagSpec } from '../flags.js';
import { renderTable } from '../table.js';

const PREFIX_FLAG: FlagSpec = { name: 'service-prefix', type: 'string', default: DEFAULT_PREFIX, usage: 'where service instances are kept in the store' };
const FILTER_FLAGS: FlagSpec[] = [
  { name: 'tag', type: 'string', default: '', usage: 'only instances with this tag' },
  { name: 'passing', type: 'bool', default: false, usage: 'only passing instances' },
];

function output(ctx: Ctx): 'table' | 'json' {
  const w = ctx.global.writeOut;
  if (w === 'simple' || w === 'table') return 'table';
  if (w === 'json') return 'json';
  throw new KvctlError(Exit.BadFeature, `${w} not supported as output format for service commands (use simple, table or json)`);
}

function failed(e: unknown): KvctlError {
  if (e instanceof ValidationError) return badArgs(e.message);
  if (e instanceof DiscoveryError) return new KvctlError(e.code === 'Invalid' ? Exit.BadArgs : Exit.Error, e.message);
  if (e instanceof ClientError) return callFailed(e);
  return callFailed(e);
}

const json = (v: unknown) => `${JSON.stringify(v)}\n`;

function instanceRows(list: ServiceInstance[]): string[][] {
  return list.map((i) => [i.ID, i.Address, String(i.Port), i.Status, i.Tags.join(','), i.Node]);
}

function instanceTable(list: ServiceInstance[]): string {
  return renderTable(['id', 'address', 'port', 'status', 'tags', 'node'], instanceRows(list));
}

function definitionFrom(ctx: Ctx): ServiceDefinition {
  const f = ctx.flags;
  if (ctx.args.length > 0) throw badArgs(`service register takes flags only (got ${JSON.stringify(ctx.args.join(' '))})`);
  if (f.string('name') === '') throw badArgs('--name is required');
  if (!f.changed.has('port')) throw badArgs('--port is required');
  const address = f.string('address');
  const checks: CheckDefinition[] = [];
  for (const spec of f.strings('check')) {
    const c = checkFromSpec(spec, address);
    if (typeof c === 'string') throw badArgs(`--check ${spec}: ${c}`);
    if (c.Type !== 'ttl') {
      if (f.string('interval') !== '') c.Interval = f.string('interval');
      if (f.string('timeout') !== '') c.Timeout = f.string('timeout');
    }
    checks.push(c);
  }
  const meta: Record<string, string> = {};
  for (const kv of f.strings('meta')) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw badArgs(`--meta ${kv}: write --meta key=value`);
    meta[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const def: ServiceDefinition = {
    Name: f.string('name'),
    Address: address,
    Port: f.int('port'),
    Tags: f.strings('tag'),
    Meta: meta,
    Node: f.string('node') || hostname(),
    Checks: checks,
  };
  if (f.string('id') !== '') def.ID = f.string('id');
  return def;
}

export const serviceRegister: Command = {
  name: 'service register',
  use: 'service register --name NAME --port PORT [--address A] [--tag T]... [--check SPEC]... [options]',
  short: 'Registers a service instance',
  description:
    'Writes an instance record under the services prefix. It stays until `service deregister`\n' +
    '(or, with --ttl-lease N, until its new lease of N seconds expires: keep it alive with\n' +
    '`lease keep-alive`). --check (http://…, tcp://host:port, tcp:PORT, exec:/path args,\n' +
    'ttl:30s) needs --foreground: kvctl then stays, runs the checks and deregisters on Ctrl-C.',
  flags: [
    { name: 'name', type: 'string', default: '', usage: 'service name (a DNS label: a-z, 0-9, -)' },
    { name: 'port', type: 'int', default: 0, usage: 'port the instance serves on' },
    { name: 'address', type: 'string', default: '127.0.0.1', usage: 'address the instance serves on' },
    { name: 'id', type: 'string', default: '', usage: 'instance ID (default <node>-<port>)' },
    { name: 'node', type: 'string', default: '', usage: 'machine of the instance (default this host name)' },
    { name: 'tag', type: 'strings', default: [], usage: 'tag (repeatable, or comma-separated)' },
    { name: 'meta', type: 'strings', default: [], usage: 'key=value metadata (repeatable)' },
    { name: 'check', type: 'strings', default: [], usage: 'health check (repeatable; needs --foreground)' },
    { name: 'interval', type: 'string', default: '', usage: 'check interval (default 10s)' },
    { name: 'timeout', type: 'string', default: '', usage: 'check timeout (default 5s, at most the interval)' },
    { name: 'ttl-lease', type: 'int', default: 0, usage: 'bind the record to a new lease of this many seconds (0: permanent)' },
    { name: 'foreground', type: 'bool', default: false, usage: 'stay, run the checks and keep the lease alive; deregister on Ctrl-C' },
    PREFIX_FLAG,
  ],
  interruptible: true,
  async run(ctx) {
    const mode = output(ctx);
    const def = definitionFrom(ctx);
    const foreground = ctx.flags.bool('foreground');
    const ttl = ctx.flags.int('ttl-lease');
    if (ttl < 0) throw badArgs('--ttl-lease must be 0 (permanent) or a number of seconds');
    if (!foreground && (def.Checks ?? []).length > 0) {
      throw badArgs('--check needs --foreground: checks are run by the process that registered the instance, and kvctl exits after registering (use --foreground, a unit\'s [X-Service] section or the library)');
    }
    const client = ctx.client();
    const prefix = ctx.flags.string('service-prefix');
    const say = (reg: { key: string; instance: ServiceInstance; lease: bigint }, note: string) => {
      if (mode === 'json') ctx.io.stdout(json({ Key: reg.key, Lease: reg.lease === 0n ? '' : leaseHex(reg.lease), Instance: reg.instance }));
      else ctx.io.stdout(`registered ${reg.instance.Service}/${reg.instance.ID} at ${reg.instance.Address}:${reg.instance.Port}${note}\n`);
    };
    if (!foreground) {
      try {
        let lease: bigint | undefined;
        if (ttl > 0) lease = (await client.leaseGrant(ttl, undefined, ctx.call())).ID;
        const reg = await register(client, def, lease !== undefined ? { lease, prefix } : { permanent: true, prefix });
        say(reg, lease !== undefined ? ` (lease ${leaseHex(lease)}, ${ttl}s)` : '');
      } catch (e) {
        throw failed(e);
      }
      return;
    }
    let reg;
    try {
      reg = await register(client, def, { prefix, leaseTtl: ttl > 0 ? ttl : 10 });
    } catch (e) {
      throw failed(e);
    }
    say(reg, ` (lease ${leaseHex(reg.lease)}); running its checks until Ctrl-C`);
    reg.on('check', (checkId, r) => {
      if (mode === 'table') ctx.io.stdout(`check ${checkId}: ${r.status}${r.output ? ` (${r.output.split('\n')[0]})` : ''}\n`);
      else ctx.io.stdout(json({ CheckID: checkId, Status: r.status, Output: r.output }));
    });
    await new Promise<void>((resolve) => {
      if (ctx.io.interrupt.aborted) resolve();
      else ctx.io.interrupt.addEventListener('abort', () => resolve(), { once: true });
    });
    try {
      await reg.deregister();
    } catch (e) {
      throw failed(e);
    }
    if (mode === 'table') ctx.io.stdout(`deregistered ${def.Name}/${reg.instance.ID}\n`);
    return Exit.Success;
  },
};

export const serviceDeregister: Command = {
  name: 'service deregister',
  use: 'service deregister NAME ID',
  short: 'Removes a service instance',
  flags: [PREFIX_FLAG],
  async run(ctx) {
    if (ctx.args.length !== 2) throw badArgs('service deregister needs NAME and ID');
    const [name, id] = ctx.args as [string, string];
    const prefix = ctx.flags.string('service-prefix');
    const client = ctx.client();
    const r = await client.delete(instanceKey(prefix, name, id), { ...ctx.call(), idempotent: true }).catch((e: unknown) => {
      throw failed(e);
    });
    if (r.deleted === 0) throw new KvctlError(Exit.Error, `service ${name} has no instance ${JSON.stringify(id)}`);
    await client.delete(`${defaultReportsPrefix(prefix)}${name}/${id}/`, { prefix: true, idempotent: true, ...ctx.call() }).catch(() => undefined);
    if (output(ctx) === 'json') ctx.io.stdout(json({ Deregistered: `${name}/${id}` }));
    else ctx.io.stdout(`deregistered ${name}/${id}\n`);
  },
};

export const serviceList: Command = {
  name: 'service list',
  use: 'service list',
  short: 'Lists the registered services',
  flags: [PREFIX_FLAG],
  async run(ctx) {
    const mode = output(ctx);
    if (ctx.args.length > 0) throw badArgs('service list takes no arguments');
    const list = await listServices(ctx.client(), { prefix: ctx.flags.string('service-prefix') }).catch((e: unknown) => {
      throw failed(e);
    });
    if (mode === 'json') return void ctx.io.stdout(json(list));
    const rows = list.map((s) => [s.Name, String(s.Instances), String(s.Passing), String(s.Warning), String(s.Critical), s.Tags.join(',')]);
    ctx.io.stdout(renderTable(['name', 'instances', 'passing', 'warning', 'critical', 'tags'], rows));
  },
};

function filterOf(ctx: Ctx): { tag?: string; passingOnly: boolean; prefix: string } {
  const tag = ctx.flags.string('tag');
  return { ...(tag !== '' ? { tag } : {}), passingOnly: ctx.flags.bool('passing'), prefix: ctx.flags.string('service-prefix') };
}

export const serviceGet: Command = {
  name: 'service get',
  use: 'service get NAME [--tag T] [--passing]',
  short: 'Lists the instances of a service',
  flags: [...FILTER_FLAGS, PREFIX_FLAG],
  async run(ctx) {
    const mode = output(ctx);
    if (ctx.args.length !== 1) throw badArgs('service get needs a service NAME');
    const list = await lookup(ctx.client(), ctx.args[0]!, filterOf(ctx)).catch((e: unknown) => {
      throw failed(e);
    });
    if (mode === 'json') return void ctx.io.stdout(json(list));
    ctx.io.stdout(instanceTable(list));
  },
};

export const serviceWatch: Command = {
  name: 'service watch',
  use: 'service watch NAME [--tag T] [--passing]',
  short: 'Prints the instances of a service after every change',
  flags: [...FILTER_FLAGS, PREFIX_FLAG],
  interruptible: true,
  async run(ctx) {
    const mode = output(ctx);
    if (ctx.args.length !== 1) throw badArgs('service watch needs a service NAME');
    const name = ctx.args[0]!;
    try {
      for await (const set of watchService(ctx.client(), name, { ...filterOf(ctx), signal: ctx.io.interrupt })) {
        if (mode === 'json') ctx.io.stdout(json({ Service: set.service, Revision: set.revision, Instances: set.instances }));
        else ctx.io.stdout(`revision ${set.revision}: ${set.instances.length} instance${set.instances.length === 1 ? '' : 's'} of ${name}\n${set.instances.length > 0 ? instanceTable(set.instances) : ''}`);
      }
    } catch (e) {
      throw failed(e);
    }
    return Exit.Signal;
  },
};

function checkCommand(verb: 'pass' | 'warn' | 'fail', status: HealthStatus): Command {
  return {
    name: `service check-${verb}`,
    use: `service check-${verb} CHECK_ID [--note TEXT] [--service NAME]`,
    short: `Reports a TTL check as ${status}`,
    description: 'CHECK_ID is the CheckID (or the ID of an instance with one ttl check). The agent that\nregistered the instance applies the report; without another one within its TTL the check\nturns critical.',
    flags: [
      { name: 'note', type: 'string', default: '', usage: 'the output of the check' },
      { name: 'service', type: 'string', default: '', usage: 'the service of the check (when several have it)' },
      PREFIX_FLAG,
    ],
    async run(ctx) {
      const mode = output(ctx);
      if (ctx.args.length !== 1) throw badArgs(`service check-${verb} needs a CHECK_ID`);
      const service = ctx.flags.string('service');
      const target = await reportCheck(ctx.client(), ctx.args[0]!, status, ctx.flags.string('note'), {
        prefix: ctx.flags.string('service-prefix'),
        ...(service !== '' ? { service } : {}),
      }).catch((e: unknown) => {
        throw failed(e);
      });
      const where = `${target.instance.Service}/${target.instance.ID}`;
      if (mode === 'json') ctx.io.stdout(json({ CheckID: target.checkId, Instance: where, Status: status }));
      else ctx.io.stdout(`check ${target.checkId} of ${where}: ${status}\n`);
    },
  };
}

export const serviceCheckPass = checkCommand('pass', 'passing');
export const serviceCheckWarn = checkCommand('warn', 'warning');
export const serviceCheckFail = checkCommand('fail', 'critical');
