// The engine: every fleetd runs one, one at a time acts. It campaigns in the store's election under
// `engine/` with a session whose TTL is the agent's, so an engine whose fleetd died or lost the store
// hands over within a TTL. While it leads it mirrors the registry (RegistryView), runs the scheduler
// on every change (coalesced: one pass in flight, at most one queued) and on a timer, and writes each
// decision in a txn guarded by its election key and by the placement's mod revision as it saw it:
// an engine that lost the election, or decided from a stale view, has its writes refused by the store.
import { EventEmitter } from 'node:events';
import { Compare, Election, MAX_TXN_OPS, Session, type TxnCompare } from '../../client/index.js';
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.js';
import { componentLogger, type Logger } from '../../util/log.js';
import type { PlacementChange, Registry, RegistrySnapshot } from '../registry/index.js';
import { RegistryView } from '../registry/index.js';
import type { FleetOptions } from '../types.js';
import { fleetOptions, parseUnitFile } from '../unit/index.js';
import { ContentCollector, DEFAULT_CONTENT_GRACE_MS } from './content-gc.js';
import { schedule, shortId, type Decision, type SchedulerUnit, type Unschedulable } from './scheduler.js';

export const DEFAULT_RECONCILE_INTERVAL_MS = 2000;
export const DEFAULT_HOLD_OFF_MS = 10_000;
export const DEFAULT_ENGINE_TTL_SECONDS = 5;

export interface EngineOptions {
  registry: Registry;
  /** This fleetd's machine id: its candidacy's value and the `engine` of the placements it writes. */
  machineId: string;
  /** The election session's TTL in seconds: the agent's TTL (default 5). */
  ttlSeconds?: number;
  /** A pass at least this often while leading (default 2000 ms; `--engine-reconcile-interval`). */
  reconcileIntervalMs?: number;
  /** A placement younger than this is not moved (default 10000 ms; `--engine-hold-off`). */
  holdOffMs?: number;
  /** Pause before campaigning again after the store could not be reached (default 1000 ms). */
  retryMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** A view shared with the agent. Without one, the engine runs its own while it leads. */
  view?: RegistryView;
  /** A unit text named by no unit, placement or unit state for this long is deleted (default 60000 ms). */
  contentGraceMs?: number;
}

/** A decision and what became of its write. */
export type AppliedDecision = Decision & {
  /** `refused`: a guard failed (leadership lost, or the placement changed since the view showed it). */
  outcome: 'applied' | 'refused' | 'failed' | 'skipped';
  error?: string;
};

export interface PassReport {
  /** Engine clock at the start of the pass. */
  at: number;
  /** The view's store revision the pass decided from. */
  revision: number;
  decisions: AppliedDecision[];
  /** Units that need a machine (or a move) and did not get one, and why; broken unit files included. */
  unschedulable: Unschedulable[];
  /** Unit texts deleted by this pass (named by nothing for the grace period). */
  collected: string[];
  durationMs: number;
}

export interface EngineEvents {
  /** This engine leads: its election key and that key's create revision. */
  leader: [info: { key: string; revision: number }];
  /** This engine stopped leading (or stopped campaigning when it is stopped). */
  follower: [reason: string];
  pass: [report: PassReport];
}

interface ParsedUnit {
  options?: FleetOptions;
  invalid?: string;
}

/** One period of leadership. */
interface Term {
  election: Election;
  guard: TxnCompare;
  ended: boolean;
  end: (reason: string) => void;
  view: RegistryView;
}

export class Engine extends EventEmitter<EngineEvents> {
  readonly machineId: string;
  private readonly registry: Registry;
  private readonly sharedView: RegistryView | undefined;
  private readonly ttl: number;
  private readonly intervalMs: number;
  private readonly holdOffMs: number;
  private readonly retryMs: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private stopped = false;
  private readonly stopAc = new AbortController();
  private loop: Promise<void> | undefined;
  private session: Session | undefined;
  private term: Term | undefined;
  private passing: Promise<void> | undefined;
  private passQueued = false;
  private intervalTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private last: PassReport | undefined;
  private readonly contents: ContentCollector;
  /** `${hash}\0${name}` -> parsed [X-Fleet] (specifiers depend on the name, so the name is part of the key). */
  private readonly parsed = new Map<string, ParsedUnit>();
  /** The reason last logged for each unschedulable unit (logged again only when it changes). */
  private readonly reported = new Map<string, string>();

  constructor(opts: EngineOptions) {
    super();
    this.registry = opts.registry;
    this.machineId = opts.machineId;
    this.ttl = opts.ttlSeconds ?? DEFAULT_ENGINE_TTL_SECONDS;
    this.intervalMs = opts.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS;
    this.holdOffMs = opts.holdOffMs ?? DEFAULT_HOLD_OFF_MS;
    this.retryMs = opts.retryMs ?? 1000;
    this.contents = new ContentCollector(opts.contentGraceMs ?? DEFAULT_CONTENT_GRACE_MS);
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? componentLogger('engine', { machine: shortId(opts.machineId) });
    this.sharedView = opts.view;
  }

  /** Starts campaigning; returns at once (leadership is announced by the 'leader' event). */
  start(): void {
    if (this.loop || this.stopped) return;
    this.loop = this.campaignLoop();
  }

  /** Stops acting, gives up the candidacy (its lease is revoked) and resolves when all is done. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.stopAc.abort();
      if (this.term) this.term.end('engine stopped');
      // Wakes a lease grant that waits for an unreachable store.
      else this.session?.close().catch(() => undefined);
    }
    await this.loop;
  }

  get isLeader(): boolean {
    return this.term !== undefined && !this.term.ended;
  }

  /** The last pass's decisions and unschedulable units (undefined before the first pass). */
  lastPass(): PassReport | undefined {
    return this.last;
  }

  /** Asks for a pass now (coalesced with one in flight); resolves when no pass is running or queued. */
  async reconcile(): Promise<void> {
    this.requestPass();
    while (this.passing) await this.passing;
  }

  private async campaignLoop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.oneTerm();
      } catch (e) {
        if (this.stopped) break;
        this.log.warn({ err: e }, 'engine: campaign failed; trying again');
        await this.sleep(this.retryMs);
      }
    }
  }

  /** One session: campaign, lead until leadership ends, then give the session up. */
  private async oneTerm(): Promise<void> {
    const session = new Session(this.registry.client, { ttl: this.ttl });
    this.session = session;
    try {
      await session.ready();
      const election = new Election(session, this.registry.keys.engine);
      await election.campaign(this.machineId, { signal: this.stopAc.signal });
      if (this.stopped || session.done) return;
      await this.lead(session, election);
    } finally {
      // Revoking the lease removes the candidacy at once, so another engine need not wait a TTL.
      await session.close().catch(() => undefined);
      this.session = undefined;
    }
  }

  private async lead(session: Session, election: Election): Promise<void> {
    let end!: (reason: string) => void;
    const ended = new Promise<string>((resolve) => (end = resolve));
    const view = this.sharedView ?? new RegistryView(this.registry);
    const term: Term = {
      election,
      guard: Compare.createRevision(election.key, '=', election.revision),
      ended: false,
      end: (reason) => {
        term.ended = true;
        end(reason);
      },
      view,
    };
    const onLost = (err: Error) => term.end(`session lost: ${err.message}`);
    const onChange = (keys: string[]) => {
      if (keys.includes(election.key) || keys.includes('*')) this.checkCandidacy(term);
      this.requestPass();
    };
    const onViewError = (err: Error) => this.log.warn({ err }, 'engine: registry view error');
    session.once('lost', onLost);
    this.contents.reset();
    this.term = term;
    this.log.info({ key: election.key, revision: election.revision }, 'engine: leading');
    this.emit('leader', { key: election.key, revision: election.revision });
    try {
      if (!this.sharedView) {
        const started = view.start();
        const outcome = await Promise.race([started.then(() => undefined), ended]);
        if (outcome !== undefined) {
          await started.catch(() => undefined);
          return;
        }
      }
      view.on('change', onChange);
      view.on('error', onViewError);
      this.checkCandidacy(term);
      this.tick();
      const reason = await ended;
      this.log.info({ reason }, 'engine: no longer leading');
    } catch (e) {
      term.end(`could not read the registry: ${(e as Error).message}`);
      throw e;
    } finally {
      term.ended = true;
      this.term = undefined;
      session.off('lost', onLost);
      view.off('change', onChange);
      view.off('error', onViewError);
      this.clock.clearTimeout(this.intervalTimer);
      this.clock.clearTimeout(this.retryTimer);
      this.intervalTimer = this.retryTimer = undefined;
      while (this.passing) await this.passing;
      if (!this.sharedView) await view.stop();
      this.emit('follower', await ended);
    }
  }

  /** Ends the term when the view shows our candidacy key gone (revoked lease, deleted by hand). */
  private checkCandidacy(term: Term): void {
    const snap = term.view.started ? term.view.current : undefined;
    if (!snap || term.ended) return;
    if (snap.revision >= term.election.revision && !snap.modRevisions.has(term.election.key)) {
      term.end('the election key is gone');
    }
  }

  /** The periodic pass. */
  private tick(): void {
    this.requestPass();
    this.intervalTimer = this.clock.setTimeout(() => this.tick(), this.intervalMs);
  }

  private requestPass(): void {
    const term = this.term;
    if (!term || term.ended) return;
    if (this.passing) {
      this.passQueued = true;
      return;
    }
    this.passing = (async () => {
      try {
        do {
          this.passQueued = false;
          await this.pass(term);
        } while (this.passQueued && !term.ended);
      } catch (e) {
        this.log.error({ err: e }, 'engine: pass failed');
      } finally {
        this.passing = undefined;
      }
    })();
  }

  private async pass(term: Term): Promise<void> {
    if (term.ended || !term.view.started) return;
    const started = this.clock.now();
    const snap = term.view.current;
    // Everything the pass decides from is read now, in one synchronous step: the view keeps changing
    // while the writes are in flight.
    const units = this.schedulerUnits(snap);
    const placementRevisions = new Map<string, number>();
    for (const name of snap.placements.keys()) placementRevisions.set(name, snap.modRevisions.get(this.registry.keys.placement(name)) ?? 0);
    const revision = snap.revision;
    const result = schedule({
      units,
      machines: snap.machines,
      placements: snap.placements,
      states: snap.states,
      now: started,
      holdOffMs: this.holdOffMs,
    });

    // A pass's decisions are one joint plan (a unit moved off a machine makes room for another), so
    // they are written together, in one transaction where the txn limits allow: a stale guard
    // refuses the whole plan and the next pass decides again from a fresh view. One round trip
    // also moves every unit of a failed machine at once, where one write per unit took a round trip
    // each (110-280 ms apart on a loaded machine). A plan too big for one transaction goes in
    // several, in order; a refused or failed one leaves the rest to the next pass (the change that
    // refused it triggers one; so does the timer).
    const applied: AppliedDecision[] = [];
    let stop = false;
    for (const chunk of planChunks(result.decisions)) {
      if (stop || term.ended) {
        for (const d of chunk) applied.push({ ...d, outcome: 'skipped' });
        continue;
      }
      const outcome = await this.write(term, chunk, units, placementRevisions, started);
      for (const d of chunk) applied.push({ ...d, ...outcome });
      if (outcome.outcome !== 'applied') stop = true;
    }
    const collected = stop || term.ended ? [] : await this.collectContents(term, snap, started);

    this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (result.retryAt !== undefined && !term.ended) {
      this.retryTimer = this.clock.setTimeout(() => this.requestPass(), Math.max(0, result.retryAt - started));
    }
    this.logUnschedulable(result.unschedulable);
    const report: PassReport = { at: started, revision, decisions: applied, unschedulable: result.unschedulable, collected, durationMs: this.clock.now() - started };
    this.last = report;
    this.emit('pass', report);
  }

  /** Writes a chunk of the plan in one transaction; the outcome is the whole chunk's. */
  private async write(
    term: Term,
    chunk: readonly Decision[],
    units: ReadonlyMap<string, { hash: string }>,
    placementRevisions: ReadonlyMap<string, number>,
    now: number,
  ): Promise<Pick<AppliedDecision, 'outcome' | 'error'>> {
    const changes: PlacementChange[] = chunk.map((d) => ({
      name: d.unit,
      placement: d.kind === 'place' ? { machine: d.machine, hash: units.get(d.unit)?.hash ?? '', at: now, engine: this.machineId } : undefined,
      guards: placementGuards(this.registry.keys, d, placementRevisions.get(d.unit) ?? 0),
    }));
    const names = chunk.map((d) => d.unit);
    try {
      if (await this.registry.setPlacements(changes, [term.guard])) {
        for (const d of chunk) {
          this.log.info({ unit: d.unit, decision: d.kind, machine: d.kind === 'place' ? d.machine : d.from, reason: d.reason }, `engine: ${d.kind} ${d.unit}`);
        }
        return { outcome: 'applied' };
      }
      await this.confirmLeadership(term);
      this.log.info({ units: names, leading: !term.ended }, 'engine: write refused by its guards');
      return { outcome: 'refused' };
    } catch (e) {
      this.log.warn({ err: e, units: names }, 'engine: write failed');
      return { outcome: 'failed', error: (e as Error).message };
    }
  }

  /**
   * Deletes the unit texts the collector says are due, each guarded by our election key and by the
   * text's mod revision in the snapshot the pass decided from. Returns those deleted; a refused or
   * failed delete ends the round (the next pass sees the registry again).
   */
  private async collectContents(term: Term, snap: RegistrySnapshot, now: number): Promise<string[]> {
    // The hashes and their mod revisions are read in one synchronous step: the view changes while
    // the deletes are in flight, and a guard read later could see the put of a submit that names
    // the text again, and let the delete through.
    const due = this.contents.due(snap, now).map((hash) => {
      const key = this.registry.keys.content(hash);
      return { hash, seen: Compare.modRevision(key, '=', snap.modRevisions.get(key) ?? 0) };
    });
    const deleted: string[] = [];
    for (const { hash, seen } of due) {
      if (term.ended) break;
      try {
        const ok = await this.registry.deleteContent(hash, [term.guard, seen]);
        if (!ok) break;
        deleted.push(hash);
      } catch (e) {
        this.log.warn({ err: e, hash }, 'engine: deleting an unused unit text failed');
        break;
      }
    }
    if (deleted.length) this.log.info({ count: deleted.length }, 'engine: deleted unit texts no unit names any more');
    return deleted;
  }

  /** After a refused write: if our election key is gone we lost the election; stop at once. */
  private async confirmLeadership(term: Term): Promise<void> {
    try {
      const r = await this.registry.client.get(term.election.key);
      const kv = r.kvs[0];
      if (!kv || kv.create_revision !== term.election.revision) term.end('the election key is gone (a write was refused)');
    } catch {
      // The store is away: the session's keep-alive decides.
    }
  }

  private schedulerUnits(snap: RegistrySnapshot): Map<string, SchedulerUnit> {
    const units = new Map<string, SchedulerUnit>();
    const used = new Set<string>();
    for (const [name, rec] of snap.units) {
      const cacheKey = `${rec.hash}\0${name}`;
      used.add(cacheKey);
      const parsed = this.parse(cacheKey, name, rec.hash, snap.contents.get(rec.hash));
      units.set(name, { name, desired: rec.desired, hash: rec.hash, ...parsed });
    }
    for (const k of this.parsed.keys()) if (!used.has(k)) this.parsed.delete(k);
    return units;
  }

  /** The unit's [X-Fleet], parsed once per (content, name); a broken file is reported, never thrown. */
  private parse(cacheKey: string, name: string, hash: string, text: string | undefined): ParsedUnit {
    const cached = this.parsed.get(cacheKey);
    if (cached) return cached;
    // Submitted with its unit record in one txn; missing only if removed by hand. Not cached: it may come back.
    if (text === undefined) return { invalid: `its content ${hash.slice(0, 12)} is missing from the registry` };
    let result: ParsedUnit;
    try {
      result = { options: fleetOptions(parseUnitFile(name, text)) };
    } catch (e) {
      result = { invalid: (e as Error).message };
      this.log.warn({ unit: name, hash, error: result.invalid }, 'engine: unit file cannot be scheduled');
    }
    this.parsed.set(cacheKey, result);
    return result;
  }

  private logUnschedulable(list: Unschedulable[]): void {
    const now = new Set<string>();
    for (const { unit, reason } of list) {
      now.add(unit);
      if (this.reported.get(unit) === reason) continue;
      this.reported.set(unit, reason);
      this.log.info({ unit, reason }, `engine: ${unit} not placed: ${reason}`);
    }
    for (const unit of this.reported.keys()) if (!now.has(unit)) this.reported.delete(unit);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const h = this.clock.setTimeout(resolve, ms);
      this.stopAc.signal.addEventListener(
        'abort',
        () => {
          this.clock.clearTimeout(h);
          resolve();
        },
        { once: true },
      );
    });
  }
}

/**
 * What must still hold for a decision made from the view to be written: the placement as the view
 * showed it (`modRevision`, 0 for none) and, for a unit leaving a machine that is gone, that machine
 * still gone. Without the second, a machine that fenced and came back (a new lease, announced
 * again) while the view still showed it gone could restart the unit under its old placement, and
 * the move written after would start it elsewhere too: it ran on two machines at once (seen in the
 * failover test under CPU starvation, when the old lease expired before the new announcement).
 * With it, a move made after the announcement is refused (the next pass sees the machine back),
 * and one made before it is seen by the machine before it starts anything (its reconciler waits
 * until its view has reached its own announcement).
 */
export function placementGuards(keys: Pick<Registry['keys'], 'placement' | 'machine'>, d: Decision, modRevision: number): TxnCompare[] {
  const key = keys.placement(d.unit);
  const guards = [modRevision > 0 ? Compare.modRevision(key, '=', modRevision) : Compare.createRevision(key, '=', 0)];
  if (d.kind === 'place' && d.leaving !== undefined) guards.push(Compare.createRevision(keys.machine(d.leaving), '=', 0));
  return guards;
}

/** Compares and operations one transaction may hold (kvd's and etcd's default --max-txn-ops). */
export const TXN_LIMIT = MAX_TXN_OPS;

/**
 * Splits a pass's decisions into transactions: in order, each within the txn limits (the engine's
 * election guard plus each decision's own guards; one operation each), and a unit decided twice
 * (which one transaction cannot hold: a txn names each key once) starting a new one.
 */
export function planChunks(decisions: readonly Decision[], limit = TXN_LIMIT): Decision[][] {
  const chunks: Decision[][] = [];
  let chunk: Decision[] = [];
  let compares = 1;
  let units = new Set<string>();
  for (const d of decisions) {
    const guards = d.kind === 'place' && d.leaving !== undefined ? 2 : 1;
    if (chunk.length > 0 && (compares + guards > limit || chunk.length + 1 > limit || units.has(d.unit))) {
      chunks.push(chunk);
      chunk = [];
      compares = 1;
      units = new Set();
    }
    chunk.push(d);
    compares += guards;
    units.add(d.unit);
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
