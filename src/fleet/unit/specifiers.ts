// systemd's `%` specifiers that depend only on the unit's name, resolved the way systemd's
// specifier_printf does: `%n` full name, `%N` name without the type suffix, `%p` prefix, `%P` the
// prefix unescaped, `%i` instance, `%I` the instance unescaped, `%%` a literal `%`. Anything else
// after a `%` is an error, as it is in systemd for most settings: the specifiers that depend on the
// machine (`%H`, `%m`, `%b`...) or the user (`%h`, `%u`...) cannot be known when a unit is submitted,
// and passing them through unresolved would hand a literal `%H` to the command.
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

export const SUPPORTED_SPECIFIERS = '%n %N %p %P %i %I %%';

/** Replaces the specifiers in `value` for the unit named `unitName`; throws an Error naming the bad one. */
export function expandSpecifiers(value: string, unitName: string): string {
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
        out += '%';
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
export function resolveEntry(file: string, unitName: string, entry: UnitEntry): UnitEntry {
  try {
    return { ...entry, value: expandSpecifiers(entry.value, unitName) };
  } catch (err) {
    throw new UnitFileError(file, entry.line, `${entry.key}=${entry.value}: ${(err as Error).message}`);
  }
}

/**
 * The entries of every section named `section` (systemd merges repeated sections), in file order,
 * with specifiers resolved unless the unit has already been through `instantiate`.
 */
export function sectionEntries(unit: UnitFile, section: string): UnitEntry[] {
  const entries: UnitEntry[] = [];
  for (const s of unit.sections) {
    if (s.name !== section) continue;
    for (const e of s.entries) {
      entries.push(unit.specifiersResolved === true || !SPECIFIER_SECTIONS.includes(section) ? e : resolveEntry(unit.name, unit.name, e));
    }
  }
  return entries;
}
