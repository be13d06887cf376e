// Unit names as systemd (unit_name_is_valid) and fleet (api.ValidateName) accept them:
// `prefix.type`, the template `prefix@.type` and its instances `prefix@instance.type`.
import { UnitNameError } from './errors.js';

/** systemd's UNIT_NAME_MAX is 256 with the terminating NUL. */
export const UNIT_NAME_MAX = 255;

/** The unit types fleet accepts (fleet's validUnitTypes: systemd's, including the retired ones). */
export const UNIT_TYPES: readonly string[] = [
  'service',
  'socket',
  'busname',
  'target',
  'snapshot',
  'device',
  'mount',
  'automount',
  'swap',
  'timer',
  'path',
  'slice',
  'scope',
];

/** systemd refuses templates of the other types (unit_type_may_template). */
export const TEMPLATE_TYPES: readonly string[] = ['service', 'socket', 'target', 'timer', 'path'];

const VALID_CHAR = /^[A-Za-z0-9:_.\\@-]$/;

export interface UnitNameParts {
  /** Before the first `@` (or before the type suffix when there is no `@`). */
  prefix: string;
  /** After the first `@`: `''` for a template, undefined for a plain unit. */
  instance: string | undefined;
  /** The type suffix without its dot: `service`. */
  type: string;
}

/** Why `name` is not a valid unit name, or undefined when it is one. */
export function unitNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'a unit name cannot be empty';
  if (name.length > UNIT_NAME_MAX) return `longer than ${UNIT_NAME_MAX} characters (${name.length})`;
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) {
    return 'a unit name ends in its type, as in hello.service';
  }
  const type = name.slice(dot + 1);
  if (!UNIT_TYPES.includes(type)) {
    return `unknown unit type ".${type}" (known: ${UNIT_TYPES.map((t) => '.' + t).join(' ')})`;
  }
  for (const ch of name.slice(0, dot)) {
    if (!VALID_CHAR.test(ch)) {
      return `the character ${JSON.stringify(ch)} is not allowed (letters, digits and :_.\\@- are)`;
    }
  }
  const at = name.indexOf('@');
  if (at === 0) return 'nothing before "@"';
  if (at > 0 && !TEMPLATE_TYPES.includes(type)) {
    return `.${type} units cannot be templates or instances (only ${TEMPLATE_TYPES.map((t) => '.' + t).join(' ')})`;
  }
  return undefined;
}

/** Throws a UnitNameError when `name` is not a valid unit name. */
export function validateUnitName(name: string): void {
  const problem = unitNameProblem(name);
  if (problem !== undefined) throw new UnitNameError(name, problem);
}

export function isValidUnitName(name: string): boolean {
  return unitNameProblem(name) === undefined;
}

/** The parts of a valid unit name; throws a UnitNameError for an invalid one. */
export function splitUnitName(name: string): UnitNameParts {
  validateUnitName(name);
  const dot = name.lastIndexOf('.');
  const type = name.slice(dot + 1);
  const at = name.indexOf('@');
  if (at < 0) return { prefix: name.slice(0, dot), instance: undefined, type };
  return { prefix: name.slice(0, at), instance: name.slice(at + 1, dot), type };
}

/** `web@.service`. False for anything that is not a valid unit name. */
export function isTemplate(name: string): boolean {
  return isValidUnitName(name) && splitUnitName(name).instance === '';
}

/** `web@1.service`. False for anything that is not a valid unit name. */
export function isInstance(name: string): boolean {
  if (!isValidUnitName(name)) return false;
  const instance = splitUnitName(name).instance;
  return instance !== undefined && instance !== '';
}

/** `web@1.service` -> `web@.service`; a template is its own template; undefined for a plain unit. */
export function templateOf(name: string): string | undefined {
  const { prefix, instance, type } = splitUnitName(name);
  return instance === undefined ? undefined : `${prefix}@.${type}`;
}

/** `web@1.service` -> `1`; `''` for a template; undefined for a plain unit. */
export function instanceOf(name: string): string | undefined {
  return splitUnitName(name).instance;
}

/** `web@1.service` -> `web`; `hello.service` -> `hello`. */
export function prefixOf(name: string): string {
  return splitUnitName(name).prefix;
}

/** `web@1.service` -> `service`. */
export function unitTypeOf(name: string): string {
  return splitUnitName(name).type;
}

/** The instance `instance` of `template`: (`web@.service`, `1`) -> `web@1.service`. */
export function instanceName(template: string, instance: string): string {
  const { prefix, instance: templateInstance, type } = splitUnitName(template);
  if (templateInstance !== '') throw new UnitNameError(template, 'not a template (name@.type)');
  if (instance === '') throw new UnitNameError(template, 'the instance name is empty');
  const name = `${prefix}@${instance}.${type}`;
  validateUnitName(name);
  return name;
}
