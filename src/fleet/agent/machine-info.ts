// What the agent tells the cluster about its machine (the `machine/<id>` record): identity, address,
// operator metadata, and the resources the scheduler weighs (CPU count, memory, load). Resources are
// re-read every 10 s but only a meaningful change is re-announced: every announcement is a write
// that every engine and agent watching the registry receives, so a wobble of a few MiB is not news.
import { EventEmitter } from 'node:events';
import { loadavg } from 'node:os';
import si from 'systeminformation';
import type { MachineRecord } from '../registry/index.js';
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.js';

export interface MachineFacts {
  cpus: number;
  /** Bytes. */
  memTotal: number;
  /** Bytes the machine can still give to new processes (the kernel's MemAvailable, not MemFree). */
  memFree: number;
  /** 1-minute load average. */
  load: number;
}

export type FactsReader = () => Promise<MachineFacts>;

export const FACTS_REFRESH_MS = 10_000;
/** A change of free memory by more than this fraction of the total is re-announced. */
export const MEM_CHANGE_FRACTION = 0.05;
/** A change of the 1-minute load by more than this is re-announced. */
export const LOAD_CHANGE = 0.5;

/**
 * The host's facts. The CPU count is read once (systeminformation's cpu() parses /proc/cpuinfo and
 * more, ~40 ms); memory each time (mem() reads /proc/meminfo, ~2 ms); the load from os.loadavg(),
 * not si.currentLoad(), which samples CPU times for half a second.
 */
export function systemFacts(): FactsReader {
  let cpus: Promise<number> | undefined;
  return async () => {
    cpus ??= si.cpu().then((c) => c.cores);
    const [n, mem] = await Promise.all([cpus, si.mem()]);
    return { cpus: n, memTotal: mem.total, memFree: mem.available, load: round2(loadavg()[0] ?? 0) };
  };
}

/** Whether `next` differs from what was announced enough to announce it again. */
export function factsChanged(announced: MachineFacts, next: MachineFacts): boolean {
  return (
    announced.cpus !== next.cpus ||
    announced.memTotal !== next.memTotal ||
    Math.abs(announced.memFree - next.memFree) > MEM_CHANGE_FRACTION * next.memTotal ||
    Math.abs(announced.load - next.load) > LOAD_CHANGE
  );
}

export class MetadataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetadataError';
  }
}

const METADATA_KEY = /^[A-Za-z0-9_.-]+$/;

/**
 * `--metadata region=us-east,disk=ssd` as fleet reads it, but strict: a pair without `=`, an empty
 * key or value, a key with characters other than letters, digits, `_`, `.`, `-`, and a key given
 * twice are errors (fleet logged and skipped them, which hid typos in unit placement).
 */
export function parseMetadata(text: string, source = '--metadata'): Record<string, string> {
  const out: Record<string, string> = {};
  if (text.trim() === '') return out;
  for (const raw of text.split(',')) {
    const pair = raw.trim();
    const eq = pair.indexOf('=');
    if (pair === '') throw new MetadataError(`${source}: empty pair in ${JSON.stringify(text)} (pairs are key=value, separated by commas)`);
    if (eq < 0) throw new MetadataError(`${source}: ${JSON.stringify(pair)} is not key=value`);
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (key === '') throw new MetadataError(`${source}: ${JSON.stringify(pair)} has an empty key`);
    if (!METADATA_KEY.test(key)) throw new MetadataError(`${source}: key ${JSON.stringify(key)} may only have letters, digits, "_", "." and "-"`);
    if (value === '') throw new MetadataError(`${source}: ${JSON.stringify(pair)} has an empty value`);
    if (Object.hasOwn(out, key)) throw new MetadataError(`${source}: key ${JSON.stringify(key)} is given twice`);
    out[key] = value;
  }
  return out;
}

export interface MachineInfoOptions {
  id: string;
  publicIp: string;
  metadata: Record<string, string>;
  /** The agent's HTTP API, `http://host:port`, or '' when it has none. */
  agentUrl: string;
  version: string;
  readFacts?: FactsReader;
  clock?: Clock;
  refreshMs?: number;
}

export interface MachineInfoEvents {
  /** The facts changed enough to be announced again. */
  change: [record: MachineRecord];
  /** A refresh failed (the last facts stay). */
  warning: [err: Error];
}

export class MachineInfo extends EventEmitter<MachineInfoEvents> {
  private facts: MachineFacts = { cpus: 0, memTotal: 0, memFree: 0, load: 0 };
  private readonly startedAt: number;
  private readonly readFacts: FactsReader;
  private readonly clock: Clock;
  private readonly refreshMs: number;
  private timer: TimerHandle | undefined;
  private running = false;

  constructor(private readonly opts: MachineInfoOptions) {
    super();
    this.readFacts = opts.readFacts ?? systemFacts();
    this.clock = opts.clock ?? systemClock;
    this.refreshMs = opts.refreshMs ?? FACTS_REFRESH_MS;
    this.startedAt = this.clock.now();
  }

  get id(): string {
    return this.opts.id;
  }

  get metadata(): Record<string, string> {
    return this.opts.metadata;
  }

  /** The record to announce, with the facts last announced. */
  get record(): MachineRecord {
    return {
      id: this.opts.id,
      publicIp: this.opts.publicIp,
      metadata: { ...this.opts.metadata },
      agentUrl: this.opts.agentUrl,
      ...this.facts,
      version: this.opts.version,
      startedAt: this.startedAt,
    };
  }

  /** Reads the facts once (before the first announcement), then every `refreshMs`. */
  async start(): Promise<void> {
    this.facts = await this.readFacts();
    this.running = true;
    this.arm();
  }

  stop(): void {
    this.running = false;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Reads the facts; returns (and emits 'change') when they changed enough to announce. */
  async refresh(): Promise<boolean> {
    let next: MachineFacts;
    try {
      next = await this.readFacts();
    } catch (e) {
      this.emit('warning', e as Error);
      return false;
    }
    if (!factsChanged(this.facts, next)) return false;
    this.facts = next;
    this.emit('change', this.record);
    return true;
  }

  private arm(): void {
    if (!this.running) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.refresh().finally(() => this.arm());
    }, this.refreshMs);
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
