// status and journal: a unit's state as its machine reports it, and its output, read from the
// agent's HTTP API (fleet ran systemctl and journalctl over SSH on the machine).
import { RegistryError, type MachineRecord, type RegistrySnapshot, type UnitRecord } from '../../fleet/registry/index.js';
import { journalUrl, processesUrl, readJournal, readProcesses } from '../agent-api.js';
import type { Ctx } from '../context.js';
import { Exit, FleetctlError } from '../errors.js';
import { unitNameOf } from '../names.js';
import { statusText } from '../status-text.js';
import { currentState, machineLegend, placedState, UnitContents } from '../units.js';

/** Lines of journal `status` shows, as systemctl status does. */
const STATUS_JOURNAL_LINES = 10;

/** The unit and the machine it runs on, or fleet's message for why there is none. */
function runningUnit(snap: RegistrySnapshot, contents: UnitContents, arg: string, what: 'status' | 'journal'): { unit: UnitRecord; machine: string } {
  const name = unitNameOf(arg);
  const unit = snap.units.get(name);
  if (!unit) throw new FleetctlError(`Unit ${name} does not exist.`);
  if (contents.isGlobal(unit)) {
    throw new FleetctlError(what === 'status' ? `Unable to determine status of global unit ${name}.` : `Unable to retrieve journal of global unit ${name}.`);
  }
  if (currentState(snap, name) === 'inactive') {
    throw new FleetctlError(what === 'status' ? `Unit ${name} does not appear to be loaded.` : `Unit ${name} does not appear to be running.`);
  }
  return { unit, machine: snap.placements.get(name)!.machine };
}

function agentOf(snap: RegistrySnapshot, unit: string, machine: string, what: string): MachineRecord {
  const rec = snap.machines.get(machine);
  if (!rec || !rec.agentUrl) {
    throw new FleetctlError(`Unable to read the ${what} of ${unit}: machine ${machineLegend(machine, rec, true)} publishes no agent API`);
  }
  return rec;
}

/** A promise's value or its error, without rejecting. */
function outcome<T>(p: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

export async function status(ctx: Ctx): Promise<number> {
  const snap = await ctx.snapshot();
  const contents = new UnitContents(snap);
  const targets = ctx.args.map((arg) => runningUnit(snap, contents, arg, 'status'));
  for (const [i, { unit, machine }] of targets.entries()) {
    // The blank line between units, as systemctl status prints it.
    if (i > 0) ctx.io.stdout('\n');
    const st = placedState(snap, unit.name)!;
    // What cannot be read from the agent is left out with a warning: the state is still right.
    const warn = (e: unknown): undefined => {
      if (!(e instanceof FleetctlError)) throw e;
      ctx.err(`WARNING: ${e.message}`);
      return undefined;
    };
    const opts = { timeoutMs: ctx.global.requestTimeoutMs, signal: ctx.io.interrupt };
    let agent: MachineRecord | undefined;
    try {
      agent = agentOf(snap, unit.name, machine, 'processes and journal');
    } catch (e) {
      warn(e);
    }
    // Both asked at once (an agent that does not answer costs one timeout, not two); any warnings
    // come in a fixed order, the processes' first.
    let journal = '';
    const [processes, read] = agent
      ? await Promise.all([
          outcome(readProcesses(processesUrl(agent, unit.name), unit.name, opts)),
          outcome(readJournal(journalUrl(agent, unit.name, STATUS_JOURNAL_LINES, false), unit.name, { ...opts, write: (t) => (journal += t) })),
        ])
      : [];
    if (processes && 'error' in processes) warn(processes.error);
    if (read && 'error' in read) warn(read.error);
    ctx.io.stdout(statusText(unit, contents.description(unit), st, snap.machines.get(machine), ctx.now(), processes && 'value' in processes ? processes.value : undefined));
    if (journal !== '') ctx.io.stdout(`\n${journal.endsWith('\n') ? journal : `${journal}\n`}`);
  }
  return 0;
}

export async function journal(ctx: Ctx): Promise<number> {
  if (ctx.args.length !== 1) throw new FleetctlError('One unit file must be provided.');
  const lines = ctx.flags.int('lines');
  if (lines < 0) throw new FleetctlError(`--lines must be 0 or more, not ${lines}`);
  const snap = await ctx.snapshot();
  const { unit, machine } = runningUnit(snap, new UnitContents(snap), ctx.args[0]!, 'journal');
  const url = journalUrl(agentOf(snap, unit.name, machine, 'journal'), unit.name, lines, ctx.flags.bool('follow'));
  const interrupted = await readJournal(url, unit.name, {
    timeoutMs: ctx.global.requestTimeoutMs,
    signal: ctx.io.interrupt,
    write: (t) => ctx.io.stdout(t),
  });
  return interrupted ? Exit.Signal : Exit.Success;
}

export async function cat(ctx: Ctx): Promise<void> {
  if (ctx.args.length !== 1) throw new FleetctlError('One unit file must be provided');
  const name = unitNameOf(ctx.args[0]!);
  const found = await ctx.registry.getUnit(name);
  if (!found) throw new FleetctlError(`Unit ${name} not found`);
  let text: string;
  try {
    text = await ctx.registry.getContent(found.unit.hash);
  } catch (e) {
    if (e instanceof RegistryError) throw new FleetctlError(`Error retrieving Unit ${name}: ${e.message}`);
    throw e;
  }
  // As stored: no newline added (fleet: "the contents of the unit file must not be modified").
  ctx.io.stdout(text);
}
