// The command line of the daemons (kvd, fleetd), as etcd reads its own: long string flags, each
// also readable from <PREFIX>_<FLAG> in the environment (KVD_DATA_DIR, FLEETD_AGENT_TTL; an empty
// variable counts as unset), a flag winning over its variable, plus --help/-h and --version.
// Unknown flags and positional arguments are errors. What a value means is the daemon's to check.
import { parseArgs } from 'node:util';

export interface DaemonFlag {
  help: string;
  /** The default, as --help shows it. */
  def: string;
  /** Left out of --help (advanced). */
  hidden?: boolean;
  /**
   * A Go boolean flag: `--flag` alone means `--flag=true`, as etcd's command line reads it
   * (`--flag=false` and the environment variable as for any flag; the value is the daemon's to check).
   */
  goBool?: boolean;
}

export interface DaemonArgs<N extends string> {
  help: boolean;
  version: boolean;
  /** The flag's value, else its environment variable's, else undefined. */
  raw(flag: N): string | undefined;
  /** A boolean flag given among `booleans`. */
  bool(name: string): boolean;
}

/** The environment variable of a flag: `KVD` and `data-dir` give `KVD_DATA_DIR`. */
export function flagEnvName(prefix: string, flag: string): string {
  return `${prefix}_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** --help's list of the flags, then --help and --version themselves, a line per name and per help. */
export function flagUsageLines(flags: Record<string, DaemonFlag>): string[] {
  const lines: string[] = [];
  for (const [name, f] of Object.entries(flags)) {
    if (f.hidden) continue;
    lines.push(`  --${name}`, `      ${f.help} (default ${JSON.stringify(f.def)})`);
  }
  lines.push('  --help', '      show this help', '  --version', '      print the version');
  return lines;
}

/**
 * Reads `argv` against `flags` (string flags) and `booleans` (command-line only); a bad command
 * line throws what `error` makes of node's message (without its `TypeError [CODE]:` prefix).
 */
export function readDaemonArgs<N extends string>(
  argv: string[],
  env: NodeJS.ProcessEnv,
  envPrefix: string,
  flags: Record<N, DaemonFlag>,
  error: (message: string) => Error,
  booleans: string[] = [],
): DaemonArgs<N> {
  const goBools = new Set(Object.entries<DaemonFlag>(flags).flatMap(([k, f]) => (f.goBool ? [`--${k}`] : [])));
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv.map((a) => (goBools.has(a) ? `${a}=true` : a)),
      options: {
        ...Object.fromEntries(Object.keys(flags).map((k) => [k, { type: 'string' as const }])),
        ...Object.fromEntries(booleans.map((k) => [k, { type: 'boolean' as const }])),
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw error((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
  return {
    help: values.help === true,
    version: values.version === true,
    raw: (flag) => {
      const fromFlag = values[flag];
      if (typeof fromFlag === 'string') return fromFlag;
      const fromEnv = env[flagEnvName(envPrefix, flag)];
      return fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined;
    },
    bool: (name) => values[name] === true,
  };
}
