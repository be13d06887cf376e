// The columns of list-units, list-unit-files and list-machines, with fleet's field names and its
// rendering of each ("-" for nothing, short hashes and machine ids unless --full).
import type { MachineRecord, RegistrySnapshot, UnitRecord, UnitStateRecord } from '../fleet/registry/index.js';
import { FleetctlError } from './errors.js';
import { currentState, machineIdLegend, machineLegend, type UnitContents } from './units.js';

/** fleet prints 7 hex digits of a hash unless --full. */
const SHORT_HASH = 7;

export interface FieldContext {
  snap: RegistrySnapshot;
  contents: UnitContents;
  full: boolean;
}

export type Field<T> = (row: T, c: FieldContext) => string;

/** One row of list-units: a unit as one machine reports it. */
export interface UnitStateRow {
  state: UnitStateRecord;
  unit: UnitRecord | undefined;
}

const dash = (s: string | undefined): string => (s === undefined || s === '' ? '-' : s);
const hash = (h: string, full: boolean): string => (full ? h : h.slice(0, SHORT_HASH));

export const LIST_UNITS_FIELDS: Record<string, Field<UnitStateRow>> = {
  unit: (r) => r.state.name,
  load: (r) => dash(r.state.load),
  active: (r) => dash(r.state.active),
  sub: (r) => dash(r.state.sub),
  machine: (r, c) => machineLegend(r.state.machine, c.snap.machines.get(r.state.machine), c.full),
  hash: (r, c) => (r.state.hash ? hash(r.state.hash, c.full) : '-'),
  desc: (r, c) => dash(r.unit ? c.contents.description(r.unit) : undefined),
};
export const DEFAULT_LIST_UNITS_FIELDS = 'unit,machine,active,sub';

function target(u: UnitRecord, c: FieldContext): string {
  if (c.contents.isGlobal(u)) return 'global';
  const placement = c.snap.placements.get(u.name);
  if (!placement) return '-';
  return machineLegend(placement.machine, c.snap.machines.get(placement.machine), c.full);
}

export const LIST_UNIT_FILES_FIELDS: Record<string, Field<UnitRecord>> = {
  unit: (u) => u.name,
  global: (u, c) => String(c.contents.isGlobal(u)),
  dstate: (u) => dash(u.desired),
  target,
  tmachine: target,
  state: (u, c) => (c.contents.isGlobal(u) ? '-' : currentState(c.snap, u.name)),
  hash: (u, c) => hash(u.hash, c.full),
  desc: (u, c) => dash(c.contents.description(u)),
};
export const DEFAULT_LIST_UNIT_FILES_FIELDS = 'unit,hash,dstate,state,target';

export const LIST_MACHINES_FIELDS: Record<string, Field<MachineRecord>> = {
  machine: (m, c) => machineIdLegend(m.id, c.full),
  ip: (m) => dash(m.publicIp),
  metadata: (m) => formatMetadata(m.metadata),
};
export const DEFAULT_LIST_MACHINES_FIELDS = 'machine,ip,metadata';

/** `k=v,k=v` sorted by key, `-` when there is none (fleet's formatMetadata). */
export function formatMetadata(md: Record<string, string>): string {
  const keys = Object.keys(md).sort();
  if (keys.length === 0) return '-';
  return keys.map((k) => `${k}=${md[k]}`).join(',');
}

/** The columns a --fields value asks for, checked against `fields` with fleet's messages. */
export function parseFields<T>(spec: string, fields: Record<string, Field<T>>): string[] {
  if (spec === '') throw new FleetctlError('Must define output format');
  const cols = spec.split(',');
  for (const col of cols) {
    if (!Object.hasOwn(fields, col)) throw new FleetctlError(`Invalid key in output format: ${JSON.stringify(col)}`);
  }
  return cols;
}

/** The table's rows: the legend (upper-case field names) unless --no-legend, then one row per item. */
export function tableRows<T>(cols: string[], fields: Record<string, Field<T>>, items: T[], c: FieldContext, legend: boolean): string[][] {
  const rows = items.map((item) => cols.map((col) => fields[col]!(item, c)));
  return legend ? [cols.map((col) => col.toUpperCase()), ...rows] : rows;
}

/** `"active,desc,hash,..."`: the valid fields, sorted, for usage texts. */
export function fieldNames(fields: Record<string, unknown>): string {
  return Object.keys(fields).sort().join(',');
}
