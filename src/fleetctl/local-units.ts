// From the arguments of submit/load/start to the units to write, as fleet's lazyCreateUnits decides:
// a unit already in the registry is used as it is; otherwise a unit file of that name on disk is
// submitted; otherwise an instance (`web@1.service`) is made from its template, in the registry or
// on disk beside where the instance's file would be. Every argument is read and checked before
// anything is written, so that one bad file changes nothing.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ValidationError } from '../discovery/errors.js';
import { findServiceSection, serviceFromUnit } from '../discovery/unit.js';
import type { RegistrySnapshot } from '../fleet/registry/index.js';
import type { UnitFile } from '../fleet/types.js';
import {
  UnitFileError,
  UnitNameError,
  expandSpecifiers,
  fleetOptions,
  instantiate,
  isInstance,
  isTemplate,
  parseUnitFile,
  parseUnitFileBytes,
  serviceSpec,
  templateOf,
  unitHash,
  unitNameProblem,
  unitTypeOf,
} from '../fleet/unit/index.js';
import type { Ctx } from './context.js';
import { FleetctlError } from './errors.js';
import { unitNameOf, withDefaultType } from './names.js';

/**
 * - `create`: a new unit (from a file, or an instance from its template);
 * - `replace`: --replace with content that differs from the registry's;
 * - `same`: --replace with the content the registry already has ("nothing to do");
 * - `keep`: the registry's unit, used as it is.
 */
export type PlanAction = 'create' | 'replace' | 'same' | 'keep';

export interface UnitPlan {
  name: string;
  action: PlanAction;
  /** The unit to write (create, replace). */
  file?: UnitFile;
  /** Whether the unit is global ([X-Fleet] Global=true), for create/replace. */
  global?: boolean;
  /** Settings the runner will not honour (serviceSpec's warnings), to show at submit time. */
  warnings: string[];
}

const creating = (msg: string): FleetctlError => new FleetctlError(`Error creating units: ${msg}`);

/** A unit file's error with the path the user gave instead of the unit's name. */
function located(e: unknown, shown: string): FleetctlError {
  if (e instanceof UnitFileError) return creating(e.line > 0 ? `${shown}:${e.line}: ${e.reason}` : `${shown}: ${e.reason}`);
  if (e instanceof UnitNameError) return creating(e.message);
  throw e;
}

/** Reads a file; undefined when there is none (ENOENT, or a missing directory on the way). */
async function readIfExists(path: string, shown: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw creating(`failed reading ${shown}: ${(e as Error).message}`);
  }
}

/**
 * Stand-ins for the machine in the [X-Service] check: the agent that runs the unit reads the
 * section again with its own; only what does not depend on them can be wrong here.
 */
const CHECK_MACHINE = { machineId: '0'.repeat(32), bootId: '0'.repeat(32), hostname: 'localhost' };

/** The unit's [X-Fleet], [Service] and [X-Service] checked as the engine, the runner and the agent will read them. */
function check(file: UnitFile, shown: string): { global: boolean; warnings: string[] } {
  try {
    const global = fleetOptions(file).global;
    const warnings = unitTypeOf(file.name) === 'service' ? serviceSpec(file).warnings : [];
    // A template's [X-Service] is checked in its instances (`Port=%i` has no port before).
    const service = isTemplate(file.name) ? undefined : findServiceSection(file.sections);
    if (service) {
      const expand = (value: string) => expandSpecifiers(value, file.name, CHECK_MACHINE);
      serviceFromUnit(service, { unitName: file.name, machineId: CHECK_MACHINE.machineId, address: '127.0.0.1', expand });
    }
    return { global, warnings };
  } catch (e) {
    if (e instanceof ValidationError) {
      // Its message names the unit; the user is shown the file instead.
      const message = e.message.startsWith(`${file.name}: `) ? e.message.slice(file.name.length + 2) : e.message;
      throw creating(`${shown}: ${message}`);
    }
    throw located(e, shown);
  }
}

function parseLocal(name: string, bytes: Buffer, shown: string): UnitFile {
  try {
    return parseUnitFileBytes(name, bytes);
  } catch (e) {
    throw located(e, shown);
  }
}

interface LocalSource {
  file: UnitFile;
  shown: string;
  /** The local file is the instance's template (web@.service beside web@1.service). */
  fromTemplate: boolean;
}

/** The unit as the local disk has it: its own file, or (for an instance) its template's file. */
async function localSource(ctx: Ctx, arg: string, name: string): Promise<LocalSource | undefined> {
  const cwd = ctx.io.cwd ?? process.cwd();
  const shown = withDefaultType(arg);
  const bytes = await readIfExists(resolve(cwd, shown), shown);
  if (bytes) return { file: parseLocal(name, bytes, shown), shown, fromTemplate: false };
  if (!isInstance(name)) return undefined;
  const template = templateOf(name)!;
  const templateShown = dirname(shown) === '.' ? template : `${dirname(shown)}/${template}`;
  const tbytes = await readIfExists(resolve(cwd, templateShown), templateShown);
  if (!tbytes) return undefined;
  return { file: instanceOf(parseLocal(template, tbytes, templateShown), name, templateShown), shown: templateShown, fromTemplate: true };
}

function instanceOf(template: UnitFile, name: string, shown: string): UnitFile {
  try {
    return instantiate(template, name);
  } catch (e) {
    throw located(e, shown);
  }
}

/**
 * Decides, for each argument, what submit/load/start write. `allowTemplates`: submit may submit a
 * template (`web@.service`); load and start may not (a template is never scheduled).
 */
export async function planUnits(ctx: Ctx, snap: RegistrySnapshot, args: string[], opts: { replace: boolean; allowTemplates: boolean; verb: string }): Promise<UnitPlan[]> {
  const plans: UnitPlan[] = [];
  const seen = new Set<string>();
  for (const arg of args) {
    const name = unitNameOf(arg);
    if (seen.has(name)) continue;
    seen.add(name);
    const problem = unitNameProblem(name);
    if (problem !== undefined) throw creating(`invalid unit name ${JSON.stringify(name)}: ${problem}`);
    if (!opts.allowTemplates && isTemplate(name)) {
      throw new FleetctlError(`Unable to ${opts.verb} template unit ${name}: ${opts.verb} its instances instead (e.g. ${name.replace('@.', '@1.')})`);
    }
    const local = await localSource(ctx, arg, name);
    const existing = snap.units.get(name);
    if (existing) {
      if (!local || unitHash(local.file.text) === existing.hash) {
        plans.push({ name, action: local && opts.replace ? 'same' : 'keep', warnings: [] });
        continue;
      }
      if (!opts.replace) {
        const what = local.fromTemplate ? 'local template unit file' : 'local unit file';
        throw creating(`Unit ${name} in registry differs from ${what} ${local.shown}. Add --replace to override.`);
      }
      plans.push({ name, action: 'replace', file: local.file, ...check(local.file, local.shown) });
      continue;
    }
    if (local) {
      plans.push({ name, action: 'create', file: local.file, ...check(local.file, local.shown) });
      continue;
    }
    plans.push(fromRegistryTemplate(snap, name));
  }
  return plans;
}

/** An instance made from a template the registry has, or fleet's "unable to find" error. */
function fromRegistryTemplate(snap: RegistrySnapshot, name: string): UnitPlan {
  if (!isInstance(name)) throw creating(`unable to find Unit(${name}) in Registry or on filesystem`);
  const template = templateOf(name)!;
  const rec = snap.units.get(template);
  if (!rec) throw creating(`unable to find Unit(${name}) or template Unit(${template}) in Registry or on filesystem`);
  const text = snap.contents.get(rec.hash);
  if (text === undefined) throw creating(`template Unit(${template}): its content ${rec.hash} is missing from the registry`);
  let file: UnitFile;
  try {
    file = instantiate(parseUnitFile(template, text), name);
  } catch (e) {
    throw located(e, template);
  }
  return { name, action: 'create', file, ...check(file, template) };
}
