// fleetctl: CoreOS fleetctl's commands, flags, tables and messages over Flotilla's registry (in
// kvd, through src/client). `run(argv, io)` is the whole program; bin/fleetctl.ts only wires it to
// the process. See docs/fleetctl.md.
import { ClientError } from '../client/index.js';
import { readClientTls } from '../fleet/client-tls.js';
import { parseSecondsOrDuration } from '../util/duration.js';
import { DEFAULT_PREFIX, RecordError, RegistryError } from '../fleet/registry/index.js';
import { KvctlError } from '../kvctl/errors.js';
import { flagUsage, parseFlags, type FlagSpec } from '../kvctl/flags.js';
import { cat, journal, status } from './cmd/status.js';
import { destroy, restart, stop, unload } from './cmd/control.js';
import { load, start, submit } from './cmd/lifecycle.js';
import { listMachines, listUnitFiles, listUnits } from './cmd/list.js';
import { Ctx, type Command, type FleetctlIo, type GlobalOptions } from './context.js';
import { Exit, FleetctlError, storeErrorText } from './errors.js';
import {
  DEFAULT_LIST_MACHINES_FIELDS,
  DEFAULT_LIST_UNIT_FILES_FIELDS,
  DEFAULT_LIST_UNITS_FIELDS,
  fieldNames,
  LIST_MACHINES_FIELDS,
  LIST_UNIT_FILES_FIELDS,
  LIST_UNITS_FIELDS,
} from './fields.js';
import { tabwrite } from './table.js';

export { Exit, FleetctlError } from './errors.js';
export type { FleetctlIo } from './context.js';
export { ATTEMPT_MS } from './wait.js';

/** The fleet release whose fleetctl this one matches. */
export const VERSION = '1.0.0';
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:2379';
const DESCRIPTION = 'fleetctl is a command-line interface to fleet, the cluster-wide CoreOS init system.';

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'endpoint', type: 'string', default: DEFAULT_ENDPOINT, usage: 'Location of the store (kvd or etcd v3 client URLs), comma-separated' },
  { name: 'request-timeout', type: 'string', default: '3', usage: 'Amount of time in seconds to allow a single request before considering it failed.' },
  { name: 'etcd-key-prefix', type: 'string', default: DEFAULT_PREFIX, usage: 'Keyspace for fleet data in the store (development use only!)' },
  { name: 'key-file', type: 'string', default: '', usage: 'Location of TLS key file used to secure communication with the store' },
  { name: 'cert-file', type: 'string', default: '', usage: 'Location of TLS cert file used to secure communication with the store' },
  { name: 'ca-file', type: 'string', default: '', usage: 'Location of TLS CA file used to secure communication with the store' },
  { name: 'debug', type: 'bool', default: false, usage: 'Print out more debug information to stderr' },
  { name: 'version', type: 'bool', default: false, usage: 'Print the version and exit' },
  { name: 'help', short: 'h', type: 'bool', default: false, usage: 'Print usage information and exit' },
];

const blockAttemptsFlag = (what: string): FlagSpec => ({
  name: 'block-attempts',
  type: 'int',
  default: 0,
  usage: `Wait until the units are ${what}, performing up to N attempts (500 ms apart) before giving up. A value of 0 indicates no limit. Does not apply to global units.`,
});
const noBlockFlag = (what: string): FlagSpec => ({
  name: 'no-block',
  type: 'bool',
  default: false,
  usage: `Do not wait until the units have ${what} before exiting. Always the case for global units.`,
});
const replaceFlag = (what: string): FlagSpec => ({ name: 'replace', type: 'bool', default: false, usage: `Replace the ${what} units in the cluster with new versions.` });
const fullFlag = (short: boolean): FlagSpec => ({ name: 'full', ...(short ? { short: 'l' } : {}), type: 'bool', default: false, usage: 'Do not ellipsize fields on output' });
const noLegendFlag: FlagSpec = { name: 'no-legend', type: 'bool', default: false, usage: 'Do not print a legend (column headers)' };
const fieldsFlag = (def: string, what: string, fields: Record<string, unknown>): FlagSpec => ({
  name: 'fields',
  type: 'string',
  default: def,
  usage: `Columns to print for each ${what}. Valid fields are "${fieldNames(fields)}"`,
});

const version: Command = {
  name: 'version',
  use: 'version',
  short: 'Print the version and exit',
  flags: [],
  async run(ctx) {
    ctx.out(`fleetctl version ${VERSION}`);
  },
};

export const COMMANDS: Command[] = [
  {
    name: 'cat',
    use: 'cat UNIT',
    short: 'Output the contents of a submitted unit',
    description: 'Outputs the unit file that is currently loaded in the cluster. Useful to verify\nthe correct version of a unit is running.',
    flags: [],
    run: cat,
  },
  {
    name: 'destroy',
    use: 'destroy [--no-block|--block-attempts=N] UNIT...',
    short: 'Destroy one or more units in the cluster',
    description:
      'Completely remove one or more running or submitted units from the cluster.\n\nThe machines running them stop them; fleetctl waits until they have, unless\n--no-block. Destroyed units are impossible to start unless re-submitted.',
    flags: [blockAttemptsFlag('destroyed'), noBlockFlag('been destroyed')],
    run: destroy,
  },
  {
    name: 'journal',
    use: 'journal [--lines=N] [-f|--follow] UNIT',
    short: 'Print the journal of a unit in the cluster to stdout',
    description:
      "Outputs the journal of a unit, read from the agent of the machine that the unit occupies.\n\nRead the last 10 lines:\n\tfleetctl journal foo.service\n\nRead the last 100 lines:\n\tfleetctl journal --lines 100 foo.service\n\nThis command does not work with global units.",
    flags: [
      { name: 'lines', short: 'n', type: 'int', default: 10, usage: 'Number of recent log lines to return' },
      { name: 'follow', short: 'f', type: 'bool', default: false, usage: 'Continuously print new entries as they are appended to the journal.' },
    ],
    run: journal,
  },
  {
    name: 'list-machines',
    use: 'list-machines [-l|--full] [--no-legend] [--fields]',
    short: 'Enumerate the current hosts in the cluster',
    description:
      'Lists all active machines within the cluster. Previously active machines will not appear in this list.\n\nFor easily parsable output, you can remove the column headers:\n\tfleetctl list-machines --no-legend\n\nOutput the list without truncation:\n\tfleetctl list-machines --full',
    flags: [fullFlag(true), noLegendFlag, fieldsFlag(DEFAULT_LIST_MACHINES_FIELDS, 'Machine', LIST_MACHINES_FIELDS)],
    run: listMachines,
  },
  {
    name: 'list-unit-files',
    use: 'list-unit-files [--full] [--no-legend] [--fields]',
    short: 'List the units that exist in the cluster.',
    description: 'Lists all unit files that exist in the cluster (whether or not they are loaded onto a machine).',
    flags: [fullFlag(false), noLegendFlag, fieldsFlag(DEFAULT_LIST_UNIT_FILES_FIELDS, 'Unit file', LIST_UNIT_FILES_FIELDS)],
    run: listUnitFiles,
  },
  {
    name: 'list-units',
    use: 'list-units [-l|--full] [--no-legend] [--fields]',
    short: 'List the current state of units in the cluster',
    description:
      'Lists the state of all units in the cluster loaded onto a machine.\n\nFor easily parsable output, you can remove the column headers:\n\tfleetctl list-units --no-legend\n\nOutput the list without ellipses:\n\tfleetctl list-units --full\n\nOr, choose the columns to display:\n\tfleetctl list-units --fields=unit,machine',
    flags: [fullFlag(true), noLegendFlag, fieldsFlag(DEFAULT_LIST_UNITS_FIELDS, 'Unit', LIST_UNITS_FIELDS)],
    run: listUnits,
  },
  {
    name: 'load',
    use: 'load [--no-block|--block-attempts=N] UNIT...',
    short: 'Schedule one or more units in the cluster, first submitting them if necessary.',
    description:
      'Load one or many units in the cluster, but do not start them.\n\nFor units which are not global, load operations are performed synchronously,\nwhich means fleetctl will block until it detects that the unit(s) have\ntransitioned to a loaded state. This behaviour can be configured with the\nrespective --block-attempts and --no-block options. Load operations on global\nunits are always non-blocking.',
    flags: [blockAttemptsFlag('loaded'), noBlockFlag('been loaded'), replaceFlag('old scheduled')],
    run: load,
  },
  {
    name: 'restart',
    use: 'restart [--block-attempts=N] UNIT...',
    short: 'Instruct systemd to rolling restart one or more units in the cluster.',
    description:
      'Restarts one or more units in the cluster, one after the other: each is stopped, then\nstarted, and fleetctl waits for both before the next. A stopped unit is started.',
    flags: [blockAttemptsFlag('stopped/started')],
    run: restart,
  },
  {
    name: 'start',
    use: 'start [--no-block|--block-attempts=N] UNIT...',
    short: 'Instruct systemd to start one or more units in the cluster, first submitting and loading if necessary.',
    description:
      'Start one or many units on the cluster. Units are unit files in the current working directory\nor names of previously submitted units; web@1.service is made from a submitted\n(or local) web@.service.\n\nFor units which are not global, start operations are performed synchronously,\nwhich means fleetctl will block until it detects that the unit(s) have\ntransitioned to a started state. This behaviour can be configured with the\nrespective --block-attempts and --no-block options. Start operations on global\nunits are always non-blocking.',
    flags: [blockAttemptsFlag('launched'), noBlockFlag('launched'), replaceFlag('already started')],
    run: start,
  },
  {
    name: 'status',
    use: 'status UNIT...',
    short: 'Output the status of one or more units in the cluster',
    description: 'Output the status of one or more units currently running in the cluster, with the\nlast lines of their journal.\n\nThis command does not work with global units.',
    flags: [],
    run: status,
  },
  {
    name: 'stop',
    use: 'stop [--no-block|--block-attempts=N] UNIT...',
    short: 'Instruct systemd to stop one or more units in the cluster.',
    description:
      'Stop one or more units from running in the cluster, but allow them to be started again in the future.\n\nFor units which are not global, stop operations are performed synchronously,\nwhich means fleetctl will block until it detects that the unit(s) have\ntransitioned to a stopped state. This behaviour can be configured with the\nrespective --block-attempts and --no-block options. Stop operations on global\nunits are always non-blocking.',
    flags: [blockAttemptsFlag('stopped'), noBlockFlag('stopped')],
    run: stop,
  },
  {
    name: 'submit',
    use: 'submit UNIT...',
    short: 'Upload one or more units to the cluster without starting them',
    description:
      'Upload one or more units to the cluster without starting them. Useful\nfor validating units before they are started.\n\nThis operation is idempotent; if a named unit already exists in the cluster, it will not be resubmitted.',
    flags: [replaceFlag('old submitted')],
    run: submit,
  },
  {
    name: 'unload',
    use: 'unload [--no-block|--block-attempts=N] UNIT...',
    short: 'Unschedule one or more units in the cluster.',
    flags: [blockAttemptsFlag('inactive'), noBlockFlag('become inactive')],
    run: unload,
  },
  version,
];

/** A command by its name or, as fleet's cobra allows, an unambiguous prefix of it. */
function findCommand(word: string): Command | undefined {
  const exact = COMMANDS.find((c) => c.name === word);
  if (exact) return exact;
  const matches = COMMANDS.filter((c) => c.name.startsWith(word));
  return matches.length === 1 ? matches[0] : undefined;
}

function globalEnvNames(spec: FlagSpec): string[] {
  return GLOBAL_FLAGS.includes(spec) ? [`FLEETCTL_${spec.name.toUpperCase().replace(/-/g, '_')}`] : [];
}

function commandList(): string {
  return tabwrite([...COMMANDS.map((c) => ['', c.name, c.short]), ['', 'help', 'Help about any command']]);
}

export function rootUsage(): string {
  return (
    `NAME:\n\tfleetctl - ${DESCRIPTION}\n\nUSAGE:\n\tfleetctl [global options] <command> [command options] [arguments...]\n\n` +
    `VERSION:\n\t${VERSION}\n\nCOMMANDS:\n${commandList()}\nGLOBAL OPTIONS:\n${flagUsage(GLOBAL_FLAGS)}\n` +
    `Global options can also be configured via upper-case environment variables prefixed with "FLEETCTL_"\n` +
    `For example, "some-flag" => "FLEETCTL_SOME_FLAG"\n\nRun "fleetctl help <command>" for more details on a specific command.\n`
  );
}

export function commandUsage(c: Command): string {
  let s = `NAME:\n\tfleetctl ${c.name} - ${c.short}\n\nUSAGE:\n\tfleetctl ${c.use}\n\n`;
  if (c.description) s += `DESCRIPTION:\n${c.description.split('\n').map((l) => (l ? `\t${l}` : '')).join('\n')}\n\n`;
  if (c.flags.length > 0) s += `OPTIONS:\n${flagUsage(c.flags)}\n`;
  return `${s}GLOBAL OPTIONS:\n${flagUsage(GLOBAL_FLAGS)}`;
}

/** The flags that take a value, in any command: their values are not the command word. */
function valueFlags(): Set<string> {
  const names = new Set<string>();
  for (const f of [...GLOBAL_FLAGS, ...COMMANDS.flatMap((c) => c.flags)]) {
    if (f.type === 'bool') continue;
    names.add(`--${f.name}`);
    if (f.short) names.add(`-${f.short}`);
  }
  return names;
}

/** The command word (the first argument that is not a flag or a flag's value) and the rest. */
function locate(argv: string[]): { word: string | undefined; rest: string[] } {
  const takesValue = valueFlags();
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    if (t === '--') break;
    if (t.startsWith('-') && t.length > 1) {
      if (takesValue.has(t)) i++;
      continue;
    }
    return { word: t, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { word: undefined, rest: argv };
}

/** --request-timeout in seconds as fleet takes it (`3`, `0.5`), or a Go duration (`500ms`). */
function requestTimeoutMs(raw: string): number {
  const value = parseSecondsOrDuration(raw) ?? NaN;
  if (!Number.isFinite(value) || value <= 0) {
    throw new FleetctlError(`invalid argument "${raw}" for "--request-timeout" flag: a positive number of seconds is expected`, Exit.Error, true);
  }
  return Math.ceil(value);
}

function globalOptions(flags: ReturnType<typeof parseFlags>['flags']): GlobalOptions {
  const endpoints = flags
    .string('endpoint')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (endpoints.length === 0) throw new FleetctlError('No endpoint given: --endpoint needs at least one store URL (http://host:port)');
  const tls = readClientTls({ caFile: flags.string('ca-file'), certFile: flags.string('cert-file'), keyFile: flags.string('key-file') }, (m) => new FleetctlError(m));
  return { endpoints, tls, requestTimeoutMs: requestTimeoutMs(flags.string('request-timeout')), prefix: flags.string('etcd-key-prefix'), debug: flags.bool('debug') };
}

function fail(io: FleetctlIo, e: unknown, usage: string | undefined, endpoints: string[]): number {
  if (e instanceof FleetctlError) {
    io.stderr(`${e.message}\n`);
    if (e.showUsage && usage) io.stdout(usage);
    return e.exitCode;
  }
  if (e instanceof KvctlError) {
    // The flag parser's errors (unknown flag, bad value): cobra's form, with the usage.
    io.stderr(`Error: ${e.message}\n`);
    if (e.showUsage && usage) io.stdout(usage);
    return Exit.Error;
  }
  if (e instanceof ClientError) {
    io.stderr(`${storeErrorText(e, endpoints)}\n`);
    return Exit.Error;
  }
  if (e instanceof RegistryError || e instanceof RecordError) {
    // Another writer got there first, or a record in the store is not what fleet writes.
    io.stderr(`${e.message}\n`);
    return Exit.Error;
  }
  io.stderr(`Error: ${(e as Error)?.message ?? String(e)}\n`);
  return Exit.Error;
}

/** Runs one fleetctl invocation; resolves with the exit code. */
export async function run(argv: string[], io: FleetctlIo): Promise<number> {
  const { word, rest } = locate(argv);
  if (word === undefined || word === 'help') {
    let parsed;
    try {
      parsed = parseFlags(rest, GLOBAL_FLAGS, io.env, globalEnvNames);
    } catch (e) {
      return fail(io, e, rootUsage(), []);
    }
    if (word === undefined && parsed.flags.bool('version')) {
      io.stdout(`fleetctl version ${VERSION}\n`);
      return Exit.Success;
    }
    const topic = parsed.args[0];
    if (word === 'help' && topic !== undefined) {
      const c = findCommand(topic);
      if (!c) {
        io.stderr(`Error: unknown help topic ${JSON.stringify(topic)}\nRun 'fleetctl help' for usage.\n`);
        return Exit.Error;
      }
      io.stdout(commandUsage(c));
      return Exit.Success;
    }
    io.stdout(rootUsage());
    return Exit.Success;
  }
  const command = findCommand(word);
  if (!command) {
    io.stderr(`Error: unknown command ${JSON.stringify(word)} for "fleetctl"\nRun 'fleetctl --help' for usage.\n`);
    return Exit.Error;
  }

  const usage = commandUsage(command);
  let ctx: Ctx;
  try {
    const parsed = parseFlags(rest, [...command.flags, ...GLOBAL_FLAGS], io.env, globalEnvNames);
    if (parsed.flags.bool('help')) {
      io.stdout(usage);
      return Exit.Success;
    }
    if (parsed.flags.bool('version')) {
      io.stdout(`fleetctl version ${VERSION}\n`);
      return Exit.Success;
    }
    ctx = new Ctx(io, parsed.args, parsed.flags, globalOptions(parsed.flags));
  } catch (e) {
    return fail(io, e, usage, []);
  }

  let onInterrupt: (() => void) | undefined;
  try {
    // Ctrl-C ends any command at once, as it ends fleetctl (journal -f ends its stream itself).
    const interrupted = new Promise<number>((resolve) => {
      onInterrupt = () => resolve(Exit.Signal);
      if (io.interrupt.aborted) onInterrupt();
      else io.interrupt.addEventListener('abort', onInterrupt, { once: true });
    });
    const work = command.run(ctx);
    work.catch(() => undefined);
    return (await Promise.race([work, interrupted])) ?? Exit.Success;
  } catch (e) {
    return fail(io, e, usage, ctx.global.endpoints);
  } finally {
    if (onInterrupt) io.interrupt.removeEventListener('abort', onInterrupt);
    await ctx.close();
  }
}
