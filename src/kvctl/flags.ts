// Flags as etcdctl's (spf13/pflag through cobra) takes them: `--name=value`, `--name value`,
// `-w json`, `-wjson`, booleans as `--prefix` or `--prefix=false`, flags anywhere among the
// arguments, `--` ending the flags; the same error texts.
import { Exit, KvctlError } from './errors.js';
import { GoParseError, goDuration, parseGoBool, parseGoDuration, parseGoInt } from './format.js';

export type FlagType = 'bool' | 'string' | 'int' | 'duration' | 'strings';

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  /** bool: boolean; string: string; int: number; duration: milliseconds; strings: string[]. */
  default: boolean | string | number | string[];
  usage: string;
}

export type FlagValue = boolean | string | number | string[];

export class Flags {
  constructor(
    private readonly values: Map<string, FlagValue>,
    /** Flags given on the command line or in the environment. */
    readonly changed: Set<string>,
  ) {}

  bool(name: string): boolean {
    return this.get(name) as boolean;
  }

  string(name: string): string {
    return this.get(name) as string;
  }

  int(name: string): number {
    return this.get(name) as number;
  }

  /** Milliseconds. */
  duration(name: string): number {
    return this.get(name) as number;
  }

  strings(name: string): string[] {
    return this.get(name) as string[];
  }

  private get(name: string): FlagValue {
    const v = this.values.get(name);
    if (v === undefined) throw new Error(`kvctl: no flag --${name}`);
    return v;
  }
}

export interface ParsedArgs {
  flags: Flags;
  args: string[];
  /** The number of arguments before `--` (-1 without one), as pflag's ArgsLenAtDash. */
  argsBeforeDash: number;
}

const flagError = (msg: string): KvctlError => new KvctlError(Exit.Error, msg, true);

function describe(spec: FlagSpec): string {
  return spec.short ? `-${spec.short}, --${spec.name}` : `--${spec.name}`;
}

function convert(spec: FlagSpec, raw: string, previous: FlagValue, repeated: boolean): FlagValue {
  try {
    switch (spec.type) {
      case 'bool':
        return parseGoBool(raw);
      case 'string':
        return raw;
      case 'int': {
        const v = parseGoInt(raw, 0);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw new GoParseError(`strconv.ParseInt: parsing "${raw}": value out of range`);
        }
        return Number(v);
      }
      case 'duration':
        return parseGoDuration(raw);
      case 'strings': {
        const items = raw === '' ? [] : raw.split(',').map((s) => s.trim());
        return repeated ? [...(previous as string[]), ...items] : items;
      }
    }
  } catch (e) {
    throw flagError(`invalid argument "${raw}" for "${describe(spec)}" flag: ${(e as Error).message}`);
  }
}

/** Parses `tokens` against `specs`; positional arguments are returned in order. */
export function parseFlags(tokens: string[], specs: FlagSpec[], env: Record<string, string | undefined> = {}, envNames: (s: FlagSpec) => string[] = () => []): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const values = new Map<string, FlagValue>(specs.map((s) => [s.name, Array.isArray(s.default) ? [...s.default] : s.default]));
  const changed = new Set<string>();
  const set = (spec: FlagSpec, raw: string) => {
    values.set(spec.name, convert(spec, raw, values.get(spec.name)!, changed.has(spec.name)));
    changed.add(spec.name);
  };
  const args: string[] = [];
  let argsBeforeDash = -1;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (tok === '--') {
      argsBeforeDash = args.length;
      args.push(...tokens.slice(i + 1));
      break;
    }
    if (tok.startsWith('--') && tok.length > 2) {
      const eq = tok.indexOf('=');
      const name = eq >= 0 ? tok.slice(2, eq) : tok.slice(2);
      const spec = byName.get(name);
      if (!spec) throw flagError(`unknown flag: --${name}`);
      if (eq >= 0) set(spec, tok.slice(eq + 1));
      else if (spec.type === 'bool') set(spec, 'true');
      else {
        if (i + 1 >= tokens.length) throw flagError(`flag needs an argument: --${name}`);
        set(spec, tokens[++i]!);
      }
      continue;
    }
    if (tok.startsWith('-') && tok.length > 1) {
      // One or more shorthand flags: -i, -l, -w json, -wjson, -w=json.
      let rest = tok.slice(1);
      while (rest.length > 0) {
        const c = rest[0]!;
        const spec = byShort.get(c);
        if (!spec) throw flagError(`unknown shorthand flag: '${c}' in -${tok.slice(1)}`);
        rest = rest.slice(1);
        if (spec.type === 'bool') {
          if (rest.startsWith('=')) {
            set(spec, rest.slice(1));
            rest = '';
          } else set(spec, 'true');
          continue;
        }
        if (rest.startsWith('=')) set(spec, rest.slice(1));
        else if (rest.length > 0) set(spec, rest);
        else {
          if (i + 1 >= tokens.length) throw flagError(`flag needs an argument: '${c}' in -${c}`);
          set(spec, tokens[++i]!);
        }
        rest = '';
      }
      continue;
    }
    args.push(tok);
  }
  // The environment fills in what the command line did not give (KVCTL_ENDPOINTS, ...).
  for (const spec of specs) {
    if (changed.has(spec.name)) continue;
    for (const name of envNames(spec)) {
      const v = env[name];
      if (v === undefined || v === '') continue;
      try {
        set(spec, v);
      } catch (e) {
        throw new KvctlError(Exit.Error, `${name}: ${(e as Error).message}`);
      }
      break;
    }
  }
  return { flags: new Flags(values, changed), args, argsBeforeDash };
}

/** The flag lines of a usage text, as etcdctl prints them. */
export function flagUsage(specs: FlagSpec[]): string {
  const rows = [...specs]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => {
      const name = s.short ? `  -${s.short}, --${s.name}` : `      --${s.name}`;
      return [`${name}${defaultText(s)}`, s.usage] as const;
    });
  const width = Math.max(...rows.map(([l]) => l.length));
  const col = (Math.floor(width / 8) + 1) * 8;
  return rows.map(([l, u]) => `${l}${'\t'.repeat(Math.max(1, Math.ceil((col - l.length) / 8)))}${u}\n`).join('');
}

function defaultText(s: FlagSpec): string {
  switch (s.type) {
    case 'bool':
      return `[=${String(s.default)}]`;
    case 'string':
      return `="${String(s.default)}"`;
    case 'int':
      return `=${String(s.default)}`;
    case 'duration':
      return `=${goDuration((s.default as number) * 1e6)}`;
    case 'strings':
      return `=[${(s.default as string[]).join(',')}]`;
  }
}
