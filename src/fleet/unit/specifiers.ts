// systemd's `%` specifiers, resolved the way systemd's specifier_printf does. Those of the unit's
// name: `%n` full name, `%N` name without the type suffix, `%p` prefix, `%P` the prefix unescaped,
// `%i` instance, `%I` the instance unescaped. Those of the machine that runs the unit: `%m` its
// machine id, `%b` its boot id, `%H` its host name, `%l` the host name up to the first dot. `%%` is
// a literal `%`. Anything else after a `%` is an error, as it is in systemd for most settings (the
// user's specifiers `%h`, `%u`... have no user to stand for: units run as fleetd's user).
//
// The machine's specifiers are known only on the machine: a unit is checked when it is submitted
// (they are kept as written), and resolved by the agent that runs it. [X-Fleet] is read to choose
// the machine, so they are refused there.
import type { UnitEntry, UnitFile } from '../types.js';
import { UnitFileError } from './errors.js';
import { splitUnitName } from './names.js';

/**
 * Sections whose values get resolved: those systemd resolves itself (our runner has no systemd) and
 * fleet's. Other sections are kept verbatim: systemd ignores unknown sections, so must we.
 */
export const SPECIFIER_SECTIONS: readonly string[] = [
  'Unit',
  'Service',
  'Socket',
  'Timer',
  'Path',
  'Install',
  'X-Fleet',
  'X-Service',
];

export const SUPPORTED_SPECIFIERS = '%n %N %p %P %i %I %m %b %H %l %%';

/** What the machine's specifiers stand for on the machine that runs the unit. */
export interface MachineFacts {
  /** `%m`: the machine's id (fleet's machine id, FLOTILLA_MACHINE_ID in the unit's environment). */
  machineId: string;
  /** `%b`: the kernel's boot id, 32 hex digits. */
  bootId: string;
  /** `%H`: the host name; `%l` is its part before the first dot. */
  hostname: string;
}

/**
 * What to do with the machine's specifiers: fill them in (the facts of the machine running the
 * unit); `keep` them as written (a unit checked or shown where no machine runs it); `defer` them,
 * with `%%` kept as written too, so that a later pass with `keep` or the facts reads the value
 * exactly as if it were the first (an instantiated template); or, when undefined, refuse them.
 */
export type MachineSpecifiers = MachineFacts | 'keep' | 'defer' | undefined;

function machineValue(m: MachineFacts, spec: string): string {
  if (spec === 'm') return m.machineId;
  if (spec === 'b') return m.bootId;
  if (spec === 'H') return m.hostname;
  const dot = m.hostname.indexOf('.');
  return dot < 0 ? m.hostname : m.hostname.slice(0, dot);
}

/**
 * Replaces the specifiers in `value` for the unit named `unitName`, the machine's as `machine`
 * says; throws an Error naming the bad one.
 */
export function expandSpecifiers(value: string, unitName: string, machine?: MachineSpecifiers): string {
  if (!value.includes('%')) return value;
  const { prefix, instance = '', type } = splitUnitName(unitName);
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    const spec = value[++i];
    switch (spec) {
      case '%':
        out += machine === 'defer' ? '%%' : '%';
        break;
      case 'm':
      case 'b':
      case 'H':
      case 'l':
        if (machine === undefined) {
          throw new Error(`"%${spec}" stands for something of the machine that runs the unit, which is not chosen yet where this is read (it works in [Unit], [Service] and [X-Service])`);
        }
        out += typeof machine === 'object' ? machineValue(machine, spec) : `%${spec}`;
        break;
      case 'n':
        out += unitName;
        break;
      case 'N':
        out += unitName.slice(0, -(type.length + 1));
        break;
      case 'p':
        out += prefix;
        break;
      case 'P':
        out += unescapeUnitName(prefix);
        break;
      case 'i':
        out += instance;
        break;
      case 'I':
        out += unescapeUnitName(instance);
        break;
      case undefined:
        throw new Error(`a lone "%" ends the value (write "%%" for a literal %)`);
      default:
        throw new Error(
          `unsupported specifier "%${spec}" (supported: ${SUPPORTED_SPECIFIERS}; write "%%" for a literal %)`,
        );
    }
  }
  return out;
}

/** systemd's unit_name_unescape: `-` stands for `/`, `\xNN` for the byte NN. */
export function unescapeUnitName(text: string): string {
  return text.replace(/-|\\x([0-9a-fA-F]{2})/g, (m, hex: string | undefined) =>
    hex === undefined ? '/' : String.fromCharCode(parseInt(hex, 16)),
  );
}

/** The entry with its value resolved, or a UnitFileError at the entry's line. */
export function resolveEntry(file: string, unitName: string, entry: UnitEntry, machine?: MachineSpecifiers): UnitEntry {
  try {
    return { ...entry, value: expandSpecifiers(entry.value, unitName, machine) };
  } catch (err) {
    throw new UnitFileError(file, entry.line, `${entry.key}=${entry.value}: ${(err as Error).message}`);
  }
}

/**
 * The entries of every section named `section` (systemd merges repeated sections), in file order,
 * with specifiers resolved: the machine's as `machine` says ([X-Fleet] refuses them). An
 * instantiated template's [X-Fleet] is taken as it is; its other sections hold the deferred form
 * (instantiate), which resolves here exactly as the template's text would under the instance's name.
 */
export function sectionEntries(unit: UnitFile, section: string, machine: MachineFacts | 'keep' = 'keep'): UnitEntry[] {
  const entries: UnitEntry[] = [];
  const resolve = SPECIFIER_SECTIONS.includes(section) && !(section === 'X-Fleet' && unit.specifiersResolved === true);
  for (const s of unit.sections) {
    if (s.name !== section) continue;
    for (const e of s.entries) {
      entries.push(resolve ? resolveEntry(unit.name, unit.name, e, section === 'X-Fleet' ? undefined : machine) : e);
    }
  }
  return entries;
}
