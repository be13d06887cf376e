// Which units this machine must have, from one registry snapshot: the units the engine placed here,
// and the Global units whose MachineMetadata this machine matches. Pure: the reconciler decides on
// the result, tests check it directly.
import type { FleetOptions } from '../types.js';
import type { RegistrySnapshot } from '../registry/index.js';
import { isTemplate, matchGlob } from '../unit/index.js';

export interface TargetUnit {
  name: string;
  /** The content to run (the unit record's hash: a --replace changes it). */
  hash: string;
  desired: 'loaded' | 'launched';
  global: boolean;
}

export interface ThisMachine {
  id: string;
  metadata: Readonly<Record<string, string>>;
}

/** The [X-Fleet] options of a unit's content, or undefined when the content is missing or broken. */
export type OptionsOf = (name: string, hash: string) => FleetOptions | undefined;

/** Whether the machine's metadata satisfies `MachineMetadata=` (same key: any value; keys: all). */
export function metadataMatches(wanted: Readonly<Record<string, readonly string[]>>, metadata: Readonly<Record<string, string>>): boolean {
  for (const [key, values] of Object.entries(wanted)) {
    const have = metadata[key];
    if (have === undefined || !values.includes(have)) return false;
  }
  return true;
}

/** Whether a unit's own constraints on the machine (MachineID, MachineMetadata) allow this one. */
export function fitsMachine(options: FleetOptions | undefined, machine: ThisMachine): boolean {
  if (!options) return true;
  if (options.machineId !== undefined && options.machineId !== machine.id) return false;
  return metadataMatches(options.machineMetadata, machine.metadata);
}

/** Whether two units may not share a machine (`Conflicts=` globs apply in both directions). */
export function conflicting(a: string, aOptions: FleetOptions | undefined, b: string, bOptions: FleetOptions | undefined): boolean {
  return (aOptions?.conflicts ?? []).some((g) => matchGlob(g, b)) || (bOptions?.conflicts ?? []).some((g) => matchGlob(g, a));
}

/**
 * The units this machine must have loaded or running. A Global unit that conflicts with a unit
 * already chosen is left out; the ones already here (`alreadyHere`) are chosen first, so a new
 * Global unit never displaces a running one.
 */
export function machineTargets(snap: RegistrySnapshot, machine: ThisMachine, optionsOf: OptionsOf, alreadyHere: ReadonlySet<string>): Map<string, TargetUnit> {
  const out = new Map<string, TargetUnit>();
  const chosen: { name: string; options: FleetOptions | undefined }[] = [];
  const globals: TargetUnit[] = [];
  for (const unit of snap.units.values()) {
    if (unit.desired === 'inactive' || isTemplate(unit.name)) continue;
    const placement = snap.placements.get(unit.name);
    if (placement) {
      if (placement.machine !== machine.id) continue;
      // Replaced content placed under the old one: if it no longer fits this machine, the engine
      // will move it; running it here meanwhile would break its constraints, so only the old stops.
      if (placement.hash !== unit.hash && !fitsMachine(optionsOf(unit.name, unit.hash), machine)) continue;
      out.set(unit.name, { name: unit.name, hash: unit.hash, desired: unit.desired, global: false });
      chosen.push({ name: unit.name, options: optionsOf(unit.name, unit.hash) });
      continue;
    }
    const options = optionsOf(unit.name, unit.hash);
    if (!options?.global || !metadataMatches(options.machineMetadata, machine.metadata)) continue;
    globals.push({ name: unit.name, hash: unit.hash, desired: unit.desired, global: true });
  }
  globals.sort((a, b) => Number(alreadyHere.has(b.name)) - Number(alreadyHere.has(a.name)) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const g of globals) {
    const options = optionsOf(g.name, g.hash);
    if (chosen.some((c) => conflicting(g.name, options, c.name, c.options))) continue;
    out.set(g.name, g);
    chosen.push({ name: g.name, options });
  }
  return out;
}
