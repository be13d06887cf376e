// What fleetctl derives from a registry snapshot, with fleet's meanings: a unit's current state
// (inactive / loaded / launched, from the report of the machine it is placed on), whether it is
// global, its description, and how a machine is named in tables (`3b8a72c1.../10.0.0.1`).
import type { MachineRecord, RegistrySnapshot, UnitRecord, UnitStateRecord } from '../fleet/registry/index.js';
import type { ActiveState, UnitFile } from '../fleet/types.js';
import { fleetOptions, parseUnitFile, unitDescription } from '../fleet/unit/index.js';

export type JobState = 'inactive' | 'loaded' | 'launched';

/** systemd active states in which the unit's processes exist: what fleet calls launched. */
const RUNNING: readonly ActiveState[] = ['active', 'activating', 'deactivating'];

export function isRunning(state: UnitStateRecord): boolean {
  return RUNNING.includes(state.active);
}

/** The state the machine a non-global unit is placed on reports for it, if any. */
export function placedState(snap: RegistrySnapshot, name: string): UnitStateRecord | undefined {
  const placement = snap.placements.get(name);
  if (!placement) return undefined;
  return snap.states.get(name)?.get(placement.machine);
}

/**
 * fleet's CurrentState: `inactive` until a machine it is placed on reports it, then `launched`
 * while its processes run and `loaded` otherwise.
 */
export function currentState(snap: RegistrySnapshot, name: string): JobState {
  const st = placedState(snap, name);
  if (!st) return 'inactive';
  return isRunning(st) ? 'launched' : 'loaded';
}

/** Parsed contents by hash: the same text is parsed once per command. */
export class UnitContents {
  private parsed = new Map<string, UnitFile | undefined>();

  constructor(private readonly snap: RegistrySnapshot) {}

  /** The unit's file as stored, or undefined when its content is missing or does not parse. */
  file(unit: UnitRecord): UnitFile | undefined {
    const key = `${unit.name}\0${unit.hash}`;
    if (!this.parsed.has(key)) {
      const text = this.snap.contents.get(unit.hash);
      let file: UnitFile | undefined;
      try {
        file = text === undefined ? undefined : parseUnitFile(unit.name, text);
      } catch {
        file = undefined;
      }
      this.parsed.set(key, file);
    }
    return this.parsed.get(key);
  }

  isGlobal(unit: UnitRecord): boolean {
    const file = this.file(unit);
    if (!file) return false;
    try {
      return fleetOptions(file).global;
    } catch {
      return false;
    }
  }

  description(unit: UnitRecord): string | undefined {
    const file = this.file(unit);
    return file ? unitDescription(file) : undefined;
  }
}

/** fleet's machineIDLegend: the first 8 characters and `...`, or the whole id with --full. */
export function machineIdLegend(id: string, full: boolean): string {
  return full ? id : `${id.slice(0, 8)}...`;
}

/** fleet's machineFullLegend: the id legend and `/<ip>` when the machine is known and has one. */
export function machineLegend(id: string, machine: MachineRecord | undefined, full: boolean): string {
  const legend = machineIdLegend(id, full);
  return machine && machine.publicIp ? `${legend}/${machine.publicIp}` : legend;
}

/** Units sorted by name (fleet's registry lists them so). */
export function sortedUnits(snap: RegistrySnapshot): UnitRecord[] {
  return [...snap.units.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
