// Blocking until units reach a state, as fleetctl's --block-attempts/--no-block do, but without
// polling: the command's RegistryView (one read, then a watch) is checked again on every change.
// fleet checks a unit up to N times, 500 ms apart (defaultSleepTime), and gives up after the Nth;
// here N attempts are a deadline of N x 500 ms, and 0 means no deadline, as in fleet.
import type { RegistrySnapshot } from '../fleet/registry/index.js';
import type { Ctx } from './context.js';
import { currentState, isRunning, machineLegend, placedState, type JobState } from './units.js';

/** fleet's defaultSleepTime: one block attempt. */
export const ATTEMPT_MS = 500;

/**
 * What a command waits for:
 * - `loaded`: the machine the unit is placed on reports it loaded (and not running), with its content;
 * - `launched`: that machine reports it active, with its current content;
 * - `stopped`: no longer running where it is placed;
 * - `unloaded`: no machine reports it any more;
 * - `halted`: running on no machine (a global unit's stop, in a restart);
 * - `destroyed`: gone from the registry and from every machine.
 */
export type Goal = 'loaded' | 'launched' | 'stopped' | 'halted' | 'unloaded' | 'destroyed';

/** The fleet job state each goal is reported as in the timeout message. */
const GOAL_STATE: Record<Goal, string> = {
  loaded: 'loaded',
  launched: 'launched',
  stopped: 'loaded',
  halted: 'loaded',
  unloaded: 'inactive',
  destroyed: 'destroyed',
};

type Check = { done: string | undefined } | { failed: string } | undefined;

function reached(snap: RegistrySnapshot, name: string, state: JobState): string {
  const placement = snap.placements.get(name);
  const msg = `Unit ${name} ${state}`;
  if (!placement || state === 'inactive') return msg;
  return `${msg} on ${machineLegend(placement.machine, snap.machines.get(placement.machine), false)}`;
}

/**
 * Whether `name` reached `goal` in `snap`. `baseline` is the unit record's mod revision when the
 * wait began: a failure reported before it is an old one (the agent has not acted yet), not an answer.
 */
function check(snap: RegistrySnapshot, name: string, goal: Goal, baseline: number, stateKey: (machine: string) => string): Check {
  const unit = snap.units.get(name);
  const states = snap.states.get(name);
  switch (goal) {
    case 'unloaded':
      return !states || states.size === 0 ? { done: reached(snap, name, 'inactive') } : undefined;
    case 'destroyed':
      return !unit && (!states || states.size === 0) ? { done: undefined } : undefined;
    case 'halted':
      return [...(states?.values() ?? [])].some(isRunning) ? undefined : { done: undefined };
    case 'stopped': {
      const st = placedState(snap, name);
      return !st || !isRunning(st) ? { done: reached(snap, name, currentState(snap, name)) } : undefined;
    }
    case 'loaded':
    case 'launched': {
      if (!unit) return { failed: `unit ${name} was destroyed while fleetctl waited for it` };
      const st = placedState(snap, name);
      if (!st || st.hash !== unit.hash) return undefined;
      const where = machineLegend(st.machine, snap.machines.get(st.machine), false);
      const fresh = (snap.modRevisions.get(stateKey(st.machine)) ?? 0) > baseline;
      if (st.load !== 'loaded') {
        return fresh ? { failed: `unit ${name} could not be loaded on ${where} (load state ${st.load})` } : undefined;
      }
      if (goal === 'loaded') return isRunning(st) ? undefined : { done: reached(snap, name, 'loaded') };
      if (st.active === 'active') return { done: reached(snap, name, 'launched') };
      if (st.active === 'failed' && fresh) {
        return { failed: `unit ${name} failed on ${where}${st.result ? ` (result: ${st.result})` : ''}` };
      }
      return undefined;
    }
  }
}

/**
 * Waits for each unit to reach `goal`, printing fleet's `Unit X <state> on <machine>` as each does
 * (in the order they get there), and `Error waiting for units: ...` for each that does not.
 * `attempts` < 0 does not wait (--no-block): `Triggered unit X <verb>`. Resolves with the exit code.
 */
export async function waitForUnits(ctx: Ctx, names: string[], goal: Goal, attempts: number, verb: string): Promise<number> {
  if (names.length === 0) return 0;
  if (attempts < 0) {
    for (const name of names) ctx.out(`Triggered unit ${name} ${verb}`);
    return 0;
  }
  const view = await ctx.view();
  const keys = ctx.registry.keys;
  const signal = ctx.io.interrupt;
  const outcomes = await Promise.all(
    names.map(
      (name) =>
        new Promise<boolean>((resolve) => {
          const baseline = view.current.modRevisions.get(keys.unit(name)) ?? 0;
          let timer: NodeJS.Timeout | undefined;
          const finish = (ok: boolean) => {
            view.off('change', evaluate);
            signal.removeEventListener('abort', onAbort);
            if (timer) clearTimeout(timer);
            resolve(ok);
          };
          const onAbort = () => finish(false);
          function evaluate(): void {
            const r = check(view.current, name, goal, baseline, (machine) => keys.state(name, machine));
            if (!r) return;
            if ('failed' in r) {
              ctx.err(`Error waiting for units: ${r.failed}`);
              finish(false);
            } else {
              if (r.done !== undefined) ctx.out(r.done);
              finish(true);
            }
          }
          if (attempts > 0) {
            timer = setTimeout(() => {
              ctx.err(`Error waiting for units: timed out waiting for unit ${name} to report state ${GOAL_STATE[goal]}`);
              finish(false);
            }, attempts * ATTEMPT_MS);
          }
          view.on('change', evaluate);
          signal.addEventListener('abort', onAbort, { once: true });
          evaluate();
        }),
    ),
  );
  return outcomes.every((ok) => ok) ? 0 : 1;
}

