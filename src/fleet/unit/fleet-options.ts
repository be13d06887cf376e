// `[X-Fleet]`, read as CoreOS fleet reads it (job.Job's requirements, unit.parseMultivalueLine,
// api.ValidateOptions), with fleet's option names and its pre-0.8 `X-Condition*` names, and fleet's
// rules on which options go together. Where fleet silently drops a malformed value (a metadata pair
// without `=`, an unknown option), we refuse the unit: a typo there would quietly change where the
// unit runs.
import type { FleetOptions, UnitEntry, UnitFile } from '../types.js';
import { UnitFileError } from './errors.js';
import { globProblem, hasGlobMeta, matchGlob } from './glob.js';
import { unitNameProblem } from './names.js';
import { parseBoolean } from './values.js';
import { sectionEntries } from './specifiers.js';

type Option = 'MachineID' | 'MachineOf' | 'MachineMetadata' | 'Conflicts' | 'Global' | 'Replaces';

/** Every key fleet accepts in [X-Fleet], and the option it sets. */
export const FLEET_OPTION_KEYS: Readonly<Record<string, Option>> = {
  MachineID: 'MachineID',
  MachineOf: 'MachineOf',
  MachineMetadata: 'MachineMetadata',
  Conflicts: 'Conflicts',
  Global: 'Global',
  Replaces: 'Replaces',
  // Deprecated in fleet 0.8; fleet still honours them.
  'X-ConditionMachineID': 'MachineID',
  'X-ConditionMachineBootID': 'MachineID',
  'X-ConditionMachineOf': 'MachineOf',
  'X-ConditionMachineMetadata': 'MachineMetadata',
  'X-Conflicts': 'Conflicts',
};

/** Where an option was last set, to point at it when it clashes with another. */
interface Seen {
  key: string;
  line: number;
}

/** `[X-Fleet]` of `unit` (all its [X-Fleet] sections, in order), checked. Throws a UnitFileError. */
export function fleetOptions(unit: UnitFile): FleetOptions {
  const file = unit.name;
  const opts: FleetOptions = { machineOf: [], machineMetadata: {}, conflicts: [], global: false, replaces: [] };
  const seen = new Map<Option, Seen>();
  const lineOfValue = new Map<string, number>(); // `${option}\0${value}` -> line

  for (const entry of sectionEntries(unit, 'X-Fleet')) {
    const option = FLEET_OPTION_KEYS[entry.key];
    if (option === undefined) throw unknownKey(file, entry);
    const fail = (reason: string) => new UnitFileError(file, entry.line, `${entry.key}=${entry.value}: ${reason}`);

    // The empty assignment resets the option, as it resets a list in systemd.
    if (entry.value === '') {
      reset(opts, option);
      seen.delete(option);
      continue;
    }
    const values = splitValues(entry.value);
    if (values.length === 0) throw fail('no value between the quotes');
    seen.set(option, { key: entry.key, line: entry.line });
    for (const value of values) {
      lineOfValue.set(`${option}\0${value}`, entry.line);
      switch (option) {
        case 'MachineID':
          if (/\s/.test(value)) throw fail('a machine ID has no blanks');
          if (opts.machineId !== undefined && opts.machineId !== value) {
            throw fail(`the unit already requires machine ${opts.machineId}; it can run on one machine only`);
          }
          opts.machineId = value;
          break;
        case 'MachineOf':
        case 'Replaces': {
          const problem = unitNameProblem(value);
          if (problem !== undefined) throw fail(`${JSON.stringify(value)} is not a unit name: ${problem}`);
          const list = option === 'MachineOf' ? opts.machineOf : opts.replaces;
          if (!list.includes(value)) list.push(value);
          break;
        }
        case 'MachineMetadata': {
          const parts = value.split('=');
          if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
            throw fail(`${JSON.stringify(value)} is not key=value (several pairs on one line are quoted: "a=b" "c=d")`);
          }
          const [k, v] = parts as [string, string];
          const allowed = (opts.machineMetadata[k] ??= []);
          if (!allowed.includes(v)) allowed.push(v);
          break;
        }
        case 'Conflicts': {
          const problem = conflictPatternProblem(value);
          if (problem !== undefined) throw fail(problem);
          if (!opts.conflicts.includes(value)) opts.conflicts.push(value);
          break;
        }
        case 'Global': {
          const flag = parseBoolean(value);
          if (flag === undefined) throw fail('Global takes a boolean: true or false (also yes/no, on/off, 1/0)');
          opts.global = flag;
          if (!flag) seen.delete('Global');
          break;
        }
      }
    }
  }

  checkSelfReferences(file, opts, lineOfValue);
  checkCombinations(file, opts, seen, lineOfValue);
  return opts;
}

/**
 * fleet's parseMultivalueLine: a value that starts and ends with `"` holds several values separated
 * by spaces, each in quotes (`"region=us-east-1" "disk=ssd"`); any other value is one value.
 */
export function splitValues(value: string): string[] {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return [value];
  const values: string[] = [];
  let current = '';
  let quoted = false;
  for (const c of value) {
    if (c === '"') quoted = !quoted;
    else if (c === ' ' && !quoted) {
      if (current !== '') values.push(current);
      current = '';
    } else current += c;
  }
  if (current !== '') values.push(current);
  return values;
}

function reset(opts: FleetOptions, option: Option): void {
  switch (option) {
    case 'MachineID':
      delete opts.machineId;
      break;
    case 'MachineOf':
      opts.machineOf = [];
      break;
    case 'MachineMetadata':
      opts.machineMetadata = {};
      break;
    case 'Conflicts':
      opts.conflicts = [];
      break;
    case 'Global':
      opts.global = false;
      break;
    case 'Replaces':
      opts.replaces = [];
      break;
  }
}

function unknownKey(file: string, entry: UnitEntry): UnitFileError {
  const near = Object.keys(FLEET_OPTION_KEYS).find((k) => k.toLowerCase() === entry.key.toLowerCase());
  const hint = near !== undefined ? `did you mean ${near}?` : `fleet's options are MachineID, MachineOf, MachineMetadata, Conflicts, Global and Replaces`;
  return new UnitFileError(file, entry.line, `unknown [X-Fleet] option ${JSON.stringify(entry.key)}: ${hint}`);
}

/** A Conflicts pattern must be a glob that can match some unit name. */
function conflictPatternProblem(pattern: string): string | undefined {
  const problem = globProblem(pattern);
  if (problem !== undefined) return `not a glob pattern: ${problem}`;
  if (/\s/.test(pattern)) {
    return 'a pattern has no blanks; to give several, quote each ("a*" "b*") or repeat Conflicts=';
  }
  const bad = /[^A-Za-z0-9:_.\\@*?[\]^-]/.exec(pattern);
  if (bad !== null) return `the character ${JSON.stringify(bad[0])} cannot appear in a unit name, so the pattern matches nothing`;
  return undefined;
}

/**
 * A unit cannot be placed next to itself (MachineOf), displace itself (Replaces) or conflict with
 * itself by name. A Conflicts *glob* that matches the unit's own name is fleet's usual idiom
 * (`Conflicts=web@*.service` in `web@.service`) and is allowed: it is about the other units.
 */
function checkSelfReferences(file: string, opts: FleetOptions, lineOfValue: Map<string, number>): void {
  const self = (option: Option, what: string) => {
    const line = lineOfValue.get(`${option}\0${file}`)!;
    return new UnitFileError(file, line, `${option}=${file} names the unit itself: ${what}`);
  };
  if (opts.machineOf.includes(file)) throw self('MachineOf', 'a unit is always on its own machine');
  if (opts.replaces.includes(file)) throw self('Replaces', 'a unit cannot displace itself');
  if (opts.conflicts.some((p) => p === file && !hasGlobMeta(p))) {
    throw self('Conflicts', 'a unit cannot conflict with itself');
  }
}

/** fleet's rules (api.ValidateOptions and its unit file documentation) on options that exclude each other. */
function checkCombinations(
  file: string,
  opts: FleetOptions,
  seen: Map<Option, Seen>,
  lineOfValue: Map<string, number>,
): void {
  const clash = (a: Option, b: Option, why: string) => {
    const sa = seen.get(a)!;
    const sb = seen.get(b)!;
    const [first, second] = sa.line <= sb.line ? [sa, sb] : [sb, sa];
    const what = (s: Seen) => (s === seen.get('Global') ? `${s.key}=true` : `${s.key}=`);
    return new UnitFileError(file, second.line, `${what(second)} cannot be used with ${what(first)} (line ${first.line}): ${why}`);
  };
  const has = (o: Option) => seen.has(o);
  if (has('MachineID') && has('Global')) throw clash('MachineID', 'Global', 'a global unit runs on every machine');
  if (has('MachineID') && has('MachineOf')) {
    throw clash('MachineID', 'MachineOf', 'the machine is fixed already; the other unit decides nothing');
  }
  if (has('MachineID') && has('Conflicts')) {
    throw clash('MachineID', 'Conflicts', 'a unit pinned to one machine cannot move away from a conflict');
  }
  if (has('Global') && has('MachineOf')) throw clash('Global', 'MachineOf', 'a global unit runs on every machine');
  if (has('Global') && has('Replaces')) throw clash('Global', 'Replaces', 'a global unit runs on every machine');
  if (has('Conflicts') && has('Replaces')) {
    throw clash('Conflicts', 'Replaces', 'fleet does not combine them; use one or the other');
  }
  for (const peer of opts.machineOf) {
    const conflict = opts.conflicts.find((p) => matchGlob(p, peer));
    if (conflict !== undefined) {
      throw new UnitFileError(
        file,
        lineOfValue.get(`Conflicts\0${conflict}`)!,
        `unresolvable requirements: MachineOf=${peer} (line ${lineOfValue.get(`MachineOf\0${peer}`)}) matches Conflicts=${conflict}`,
      );
    }
    if (opts.replaces.includes(peer)) {
      throw new UnitFileError(
        file,
        lineOfValue.get(`Replaces\0${peer}`)!,
        `unresolvable requirements: MachineOf=${peer} (line ${lineOfValue.get(`MachineOf\0${peer}`)}) is also replaced by this unit`,
      );
    }
  }
}
