// stop, unload, destroy and restart: units that already exist, changed in the registry and (by
// default) waited for, with fleet's messages. Every named unit is checked before anything changes.
import type { RegistrySnapshot, UnitRecord } from '../../fleet/registry/index.js';
import type { DesiredState } from '../../fleet/types.js';
import type { Ctx } from '../context.js';
import { FleetctlError } from '../errors.js';
import { goList, unitNameOf } from '../names.js';
import { currentState, UnitContents } from '../units.js';
import { waitForUnits, type Goal } from '../wait.js';
import { blockAttempts } from './lifecycle.js';

/** The registry's records of the named units, in argument order; an unknown name is an error. */
function existingUnits(snap: RegistrySnapshot, args: string[]): UnitRecord[] {
  const units: UnitRecord[] = [];
  for (const arg of args) {
    const name = unitNameOf(arg);
    const unit = snap.units.get(name);
    if (!unit) throw new FleetctlError(`Unit ${name} does not exist.`);
    if (!units.includes(unit)) units.push(unit);
  }
  return units;
}

async function setDesired(ctx: Ctx, unit: UnitRecord, desired: DesiredState): Promise<void> {
  if (unit.desired !== desired) await ctx.registry.setDesired(unit.name, desired);
}

export async function stop(ctx: Ctx): Promise<number> {
  if (ctx.args.length === 0) {
    ctx.err('No units given');
    return 0;
  }
  const snap = await ctx.snapshot();
  const units = existingUnits(snap, ctx.args);
  const contents = new UnitContents(snap);
  for (const u of units) {
    if (!contents.isGlobal(u) && currentState(snap, u.name) === 'inactive') {
      throw new FleetctlError(`Unable to stop unit ${u.name} in state inactive`);
    }
  }
  const stopping: string[] = [];
  for (const u of units) {
    const global = contents.isGlobal(u);
    // Already stopped and meant to stay so: nothing to do (fleet skips it too).
    if (!global && currentState(snap, u.name) === 'loaded' && u.desired === 'loaded') continue;
    await setDesired(ctx, u, 'loaded');
    if (global) ctx.out(`Triggered global unit ${u.name} stop`);
    else stopping.push(u.name);
  }
  const exit = await waitForUnits(ctx, stopping, 'stopped', blockAttempts(ctx), 'stop');
  if (exit === 0) ctx.err(`Successfully stopped units ${goList(stopping)}.`);
  else ctx.err(`Failed to stop units ${goList(stopping)}. exit == ${exit}.`);
  return exit;
}

export async function unload(ctx: Ctx): Promise<number> {
  if (ctx.args.length === 0) {
    ctx.err('No units given');
    return 0;
  }
  const snap = await ctx.snapshot();
  const units = existingUnits(snap, ctx.args);
  const contents = new UnitContents(snap);
  const waiting: string[] = [];
  for (const u of units) {
    await setDesired(ctx, u, 'inactive');
    if (contents.isGlobal(u)) ctx.out(`Triggered global unit ${u.name} unload`);
    else if (snap.states.has(u.name) || u.desired !== 'inactive') waiting.push(u.name);
  }
  const exit = await waitForUnits(ctx, waiting, 'unloaded', blockAttempts(ctx), 'unload');
  if (exit === 0) ctx.err(`Successfully unloaded units ${goList(waiting)}.`);
  else ctx.err(`Failed to unload units ${goList(waiting)}. exit == ${exit}.`);
  return exit;
}

export async function destroy(ctx: Ctx): Promise<number> {
  if (ctx.args.length === 0) {
    ctx.err('No units given');
    return 0;
  }
  const snap = await ctx.snapshot();
  // fleet skips names it does not know: destroying twice is not an error.
  const names = [...new Set(ctx.args.map(unitNameOf))].filter((n) => snap.units.has(n));
  if (names.length === 0) {
    ctx.err('Units not found in registry');
    return 0;
  }
  const destroyed: string[] = [];
  for (const name of names) if (await ctx.registry.destroy(name)) destroyed.push(name);
  // fleet's destroy says nothing more with --no-block: "Destroyed" is the whole answer.
  const attempts = blockAttempts(ctx);
  const exit = attempts < 0 ? 0 : await waitForUnits(ctx, destroyed, 'destroyed', attempts, 'destroy');
  for (const name of destroyed) ctx.out(`Destroyed ${name}`);
  return exit;
}

/** One phase of a restart: set the state, wait for it (the global unit's machines included). */
async function phase(ctx: Ctx, name: string, desired: DesiredState, goal: Goal): Promise<number> {
  await ctx.registry.setDesired(name, desired);
  return waitForUnits(ctx, [name], goal, Math.max(0, ctx.flags.int('block-attempts')), 'restart');
}

export async function restart(ctx: Ctx): Promise<number> {
  if (ctx.args.length === 0) {
    ctx.err('No units given');
    return 0;
  }
  const snap = await ctx.snapshot();
  const units = existingUnits(snap, ctx.args);
  const contents = new UnitContents(snap);
  let exit = 0;
  for (const u of units) {
    if (contents.isGlobal(u)) {
      // Stopped on every machine first, so that no agent can miss the stop between two changes.
      if ((await phase(ctx, u.name, 'loaded', 'halted')) !== 0) return 1;
      await ctx.registry.setDesired(u.name, 'launched');
      ctx.out(`Triggered global unit ${u.name} start`);
      continue;
    }
    const state = currentState(snap, u.name);
    if (state === 'inactive') {
      ctx.err(`Unable to restart unit ${u.name} in state inactive`);
      exit = 1;
      continue;
    }
    // A unit meant to run but not running (failed) is cycled too, so that its machine starts it again.
    const cycle = state === 'launched' || u.desired === 'launched';
    if (cycle && (await phase(ctx, u.name, 'loaded', 'stopped')) !== 0) return 1;
    if ((await phase(ctx, u.name, 'launched', 'launched')) !== 0) return 1;
  }
  return exit;
}
