// The one [Unit] setting fleetctl shows: the description (its DESC column).
import type { UnitFile } from '../types.js';
import { sectionEntries } from './specifiers.js';

/** The last `Description=` of [Unit] with specifiers resolved, or undefined when there is none. */
export function unitDescription(unit: UnitFile): string | undefined {
  const last = sectionEntries(unit, 'Unit').filter((e) => e.key === 'Description').pop();
  return last === undefined || last.value === '' ? undefined : last.value;
}
