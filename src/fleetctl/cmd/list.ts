// list-units, list-unit-files and list-machines: one registry read, fleet's columns and layout
// (tab-aligned, legend unless --no-legend, short ids and hashes unless --full).
import type { Ctx } from '../context.js';
import {
  LIST_MACHINES_FIELDS,
  LIST_UNIT_FILES_FIELDS,
  LIST_UNITS_FIELDS,
  parseFields,
  tableRows,
  type FieldContext,
  type UnitStateRow,
} from '../fields.js';
import { tabwrite } from '../table.js';
import { sortedUnits, UnitContents } from '../units.js';

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function context(ctx: Ctx): Promise<FieldContext> {
  const snap = await ctx.snapshot();
  // A record fleet did not write (a person with kvctl, another version) is left out, not hidden.
  for (const e of snap.errors) ctx.err(`WARNING: ${e.message}`);
  return { snap, contents: new UnitContents(snap), full: ctx.flags.bool('full') };
}

export async function listUnits(ctx: Ctx): Promise<void> {
  const cols = parseFields(ctx.flags.string('fields'), LIST_UNITS_FIELDS);
  const c = await context(ctx);
  // What machines report: a unit placed but not yet reported is not listed (fleet's UnitStates);
  // a global unit has one row per machine running it.
  const rows: UnitStateRow[] = [];
  for (const name of [...c.snap.states.keys()].sort(byText)) {
    const byMachine = c.snap.states.get(name)!;
    for (const machine of [...byMachine.keys()].sort(byText)) rows.push({ state: byMachine.get(machine)!, unit: c.snap.units.get(name) });
  }
  ctx.io.stdout(tabwrite(tableRows(cols, LIST_UNITS_FIELDS, rows, c, !ctx.flags.bool('no-legend'))));
}

export async function listUnitFiles(ctx: Ctx): Promise<void> {
  const cols = parseFields(ctx.flags.string('fields'), LIST_UNIT_FILES_FIELDS);
  if (cols.includes('tmachine')) ctx.err('WARNING: The "tmachine" field is deprecated. Use "target" instead');
  const c = await context(ctx);
  ctx.io.stdout(tabwrite(tableRows(cols, LIST_UNIT_FILES_FIELDS, sortedUnits(c.snap), c, !ctx.flags.bool('no-legend'))));
}

export async function listMachines(ctx: Ctx): Promise<void> {
  const cols = parseFields(ctx.flags.string('fields'), LIST_MACHINES_FIELDS);
  const c = await context(ctx);
  const machines = [...c.snap.machines.values()].sort((a, b) => byText(a.id, b.id));
  ctx.io.stdout(tabwrite(tableRows(cols, LIST_MACHINES_FIELDS, machines, c, !ctx.flags.bool('no-legend'))));
}
