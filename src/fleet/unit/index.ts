// Unit files: systemd syntax, fleet's [X-Fleet] options, [Service] as the runner executes it.
export { UnitFileError, UnitNameError } from './errors.js';
export { MAX_UNIT_FILE_BYTES, parseUnitFile, parseUnitFileBytes } from './parser.js';
export {
  TEMPLATE_TYPES,
  UNIT_NAME_MAX,
  UNIT_TYPES,
  instanceName,
  instanceOf,
  isInstance,
  isTemplate,
  isValidUnitName,
  prefixOf,
  splitUnitName,
  templateOf,
  unitNameProblem,
  unitTypeOf,
  validateUnitName,
} from './names.js';
export type { UnitNameParts } from './names.js';
export { SPECIFIER_SECTIONS, SUPPORTED_SPECIFIERS, expandSpecifiers, sectionEntries, unescapeUnitName, type MachineFacts, type MachineSpecifiers } from './specifiers.js';
export { instantiate } from './template.js';
export { FLEET_OPTION_KEYS, fleetOptions, splitValues } from './fleet-options.js';
export { compileGlob, globProblem, hasGlobMeta, matchGlob } from './glob.js';
export { DEFAULT_RESTART_SEC_MS, DEFAULT_TIMEOUT_MS, serviceSpec } from './service-spec.js';
export { parseBoolean, parseTimeSpan } from './values.js';
export { isEnvName, splitWords } from '../../util/words.js';
export type { SplitOptions } from '../../util/words.js';
export { unitDescription } from './description.js';
export { unitHash } from './hash.js';
