// submit, load and start: make sure the units exist in the registry (submitting files and making
// template instances as needed), then ask for them to be loaded or launched, and by default block
// until the machines they are placed on report it, with fleet's messages.
import type { DesiredState } from '../../fleet/types.js';
import type { Ctx } from '../context.js';
import { FleetctlError } from '../errors.js';
import { planUnits, type UnitPlan } from '../local-units.js';
import { UnitContents } from '../units.js';
import { waitForUnits, type Goal } from '../wait.js';

/** fleet's getBlockAttempts: -1 with --no-block, else --block-attempts (0 and below: no limit). */
export function blockAttempts(ctx: Ctx): number {
  if (ctx.flags.bool('no-block')) return -1;
  return Math.max(0, ctx.flags.int('block-attempts'));
}

/** Writes the planned units. Returns the names whose content was replaced (they restart). */
async function createUnits(ctx: Ctx, plans: UnitPlan[]): Promise<Set<string>> {
  for (const plan of plans) for (const w of plan.warnings) ctx.err(`WARNING: ${w}`);
  const replaced = new Set<string>();
  for (const plan of plans) {
    if (plan.action === 'same') ctx.out(`Found same Unit(${plan.name}) in Registry, nothing to do`);
    if (!plan.file) continue;
    // A race with another writer (the unit submitted meanwhile with other content) is a
    // RegistryError, reported as it is.
    const result = await ctx.registry.submit(plan.file, { replace: plan.action === 'replace' });
    // fleet waits for a new unit to exist (inactive) and says so.
    if (result === 'created') ctx.out(`Unit ${plan.name} inactive`);
    if (result === 'replaced') replaced.add(plan.name);
  }
  return replaced;
}

/**
 * fleet's setTargetStateOfUnits: sets the desired state of each unit that is not there yet.
 * Returns the units whose state changed (or whose content was replaced): those to wait for.
 */
async function setTargetState(ctx: Ctx, names: string[], desired: DesiredState, replaced: Set<string>, failure: string): Promise<string[]> {
  const triggered: string[] = [];
  for (const name of names) {
    const current = await ctx.registry.getUnit(name);
    if (!current) throw new FleetctlError(`${failure}: unable to find unit ${name}`);
    if (current.unit.desired === desired && !replaced.has(name)) continue;
    await ctx.registry.setDesired(name, desired);
    triggered.push(name);
  }
  return triggered;
}

async function lifecycle(ctx: Ctx, kind: 'submit' | 'load' | 'start'): Promise<number> {
  if (ctx.args.length === 0) {
    ctx.err('No units given');
    return 0;
  }
  const snap = await ctx.snapshot();
  const plans = await planUnits(ctx, snap, ctx.args, { replace: ctx.flags.bool('replace'), allowTemplates: kind === 'submit', verb: kind });
  const replaced = await createUnits(ctx, plans);
  if (kind === 'submit') return 0;

  const desired: DesiredState = kind === 'load' ? 'loaded' : 'launched';
  const goal: Goal = kind === 'load' ? 'loaded' : 'launched';
  const names = plans.map((p) => p.name);
  const triggered = await setTargetState(ctx, names, desired, replaced, kind === 'load' ? 'Error loading units' : 'Error starting units');
  const contents = new UnitContents(snap);
  const waiting: string[] = [];
  for (const name of triggered) {
    const plan = plans.find((p) => p.name === name)!;
    const global = plan.global ?? contents.isGlobal(snap.units.get(name)!);
    if (global) ctx.out(`Triggered global unit ${name} ${kind}`);
    else waiting.push(name);
  }
  const exit = await waitForUnits(ctx, waiting, goal, blockAttempts(ctx), kind);
  if (exit !== 0) {
    ctx.err(`Error waiting for unit states, exit status: ${exit}`);
    return 1;
  }
  return 0;
}

export const submit = (ctx: Ctx) => lifecycle(ctx, 'submit');
export const load = (ctx: Ctx) => lifecycle(ctx, 'load');
export const start = (ctx: Ctx) => lifecycle(ctx, 'start');
