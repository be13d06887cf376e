// Template units (`web@.service`) and their instances (`web@1.service`): an instance is the
// template's text under the instance's name, with the name's specifiers filled in (the machine's
// wait for the machine that runs it).
import type { UnitFile } from '../types.js';
import { UnitFileError } from './errors.js';
import { instanceName, isInstance, splitUnitName, templateOf } from './names.js';
import { resolveEntry, SPECIFIER_SECTIONS } from './specifiers.js';

/**
 * The instance `instance` of `template`. `instance` is the part between `@` and the type (`1`), or
 * the whole instance name (`web@1.service`). Specifiers are resolved in the sections listed in
 * SPECIFIER_SECTIONS; errors there name the template file and the line.
 */
export function instantiate(template: UnitFile, instance: string): UnitFile {
  if (splitUnitName(template.name).instance !== '') {
    throw new UnitFileError(template.name, 0, 'not a template unit (a template is named like name@.service)');
  }
  const name = isInstance(instance) && templateOf(instance) === template.name ? instance : instanceName(template.name, instance);
  // [X-Fleet] is resolved for good (it has no machine's specifiers); the other sections keep the
  // machine's specifiers and `%%` for the agent that runs the instance (see sectionEntries).
  const sections = template.sections.map((section) =>
    SPECIFIER_SECTIONS.includes(section.name)
      ? { ...section, entries: section.entries.map((e) => resolveEntry(template.name, name, e, section.name === 'X-Fleet' ? undefined : 'defer')) }
      : { ...section, entries: section.entries.map((e) => ({ ...e })) },
  );
  return { name, sections, text: template.text, specifiersResolved: true };
}
