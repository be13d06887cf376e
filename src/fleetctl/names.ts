// fleet's unitNameMangle: an argument may be a path (`units/hello.service`) or a name without its
// type (`hello`); the unit it means is the file name, with `.service` added when it has no unit type.
import { basename } from 'node:path';
import { UNIT_TYPES } from '../fleet/unit/index.js';

function hasUnitType(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot > 0 && UNIT_TYPES.includes(name.slice(dot + 1));
}

/** `hello` -> `hello.service`; `dir/hello` -> `dir/hello.service` (fleet's maybeAppendDefaultUnitType). */
export function withDefaultType(arg: string): string {
  return hasUnitType(arg) ? arg : `${arg}.service`;
}

/** The unit an argument names: `units/web@1` -> `web@1.service`. */
export function unitNameOf(arg: string): string {
  return withDefaultType(basename(arg));
}

/** Go's `%v` of a []string: `[a.service b.service]`. */
export function goList(items: string[]): string {
  return `[${items.join(' ')}]`;
}
