// What the agent needs of the runner (src/fleet/runner): the Runner class satisfies it, and tests
// may drive the reconciler with a fake behind the same shape.
import type { ActiveState, ServiceSpec } from '../types.js';
import type { JournalEntry } from '../runner/journal.js';
import type { UnitProcesses } from '../runner/process-list.js';

export interface UnitStatus {
  active: ActiveState;
  sub: string;
  mainPid?: number;
  exitCode?: number;
  exitSignal?: string;
  result: string;
  /** ms since the epoch of the last change of `active`. */
  since: number;
  restarts: number;
}

export interface UnitJournal {
  tail(n?: number): JournalEntry[];
  follow(signal?: AbortSignal): AsyncIterableIterator<JournalEntry>;
}

export interface AgentRunner {
  load(name: string, spec: ServiceSpec): unknown;
  start(name: string): Promise<unknown>;
  stop(name: string): Promise<unknown>;
  unload(name: string): unknown;
  /** Fencing: SIGKILL of every unit at once; resolves when all are gone. */
  killAll(): Promise<unknown>;
  stopAll(): Promise<unknown>;
  status(name: string): UnitStatus | undefined;
  journal(name: string): UnitJournal | undefined;
  /** A loaded unit's running processes, for `fleetctl status`. */
  processes(name: string): UnitProcesses | undefined;
  on(event: 'status', fn: (name: string, status: UnitStatus) => void): unknown;
  off(event: 'status', fn: (name: string, status: UnitStatus) => void): unknown;
}

export type { JournalEntry, UnitProcesses };
