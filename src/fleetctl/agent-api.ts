// The agent's HTTP API, where fleetctl reads what fleet read over SSH on the unit's machine:
// GET <agentUrl>/fleet/v1/units/<name>/journal?lines=N[&follow=true] (text/plain, journalctl lines)
// and GET <agentUrl>/fleet/v1/units/<name>/processes (JSON: the unit's cgroup and processes).
import type { MachineRecord } from '../fleet/registry/index.js';
import { FleetctlError } from './errors.js';
import { linkedAbort } from '../util/abort.js';

function unitUrl(machine: MachineRecord, unit: string, what: string): string {
  return `${machine.agentUrl.replace(/\/+$/, '')}/fleet/v1/units/${encodeURIComponent(unit)}/${what}`;
}

export function journalUrl(machine: MachineRecord, unit: string, lines: number, follow: boolean): string {
  return unitUrl(machine, unit, `journal?lines=${lines}${follow ? '&follow=true' : ''}`);
}

export function processesUrl(machine: MachineRecord, unit: string): string {
  return unitUrl(machine, unit, 'processes');
}

/** A unit's running processes as its agent lists them. */
export interface AgentProcesses {
  /** The cgroup of the unit's main command; null where the agent makes none. */
  cgroup: string | null;
  /** threads and rssBytes: from agents of session 26's version on, cpuMs of session 27's (older ones send none). */
  processes: { pid: number; command: string; threads?: number; rssBytes?: number; cpuMs?: number }[];
}

/** The agent's error text: its JSON `{"error": ...}` (or `message`), else the body as it is. */
function errorBody(text: string): string {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    const msg = v.error ?? v.message;
    if (typeof msg === 'string') return msg;
  } catch {
    /* not JSON: the text itself */
  }
  return text.trim();
}

/** An abort signal linked to `signal` that also fires after `timeoutMs` (until clearDeadline()). */
function deadlineAbort(signal: AbortSignal, timeoutMs: number): { signal: AbortSignal; clearDeadline(): void; dispose(): void } {
  const request = linkedAbort(signal);
  const ac = request.controller;
  const timer = setTimeout(() => ac.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  return {
    signal: ac.signal,
    clearDeadline: () => clearTimeout(timer),
    dispose: () => {
      clearTimeout(timer);
      request.dispose();
    },
  };
}

/** Why a fetch failed, in words: the deadline, the connection's own error, or the fetch's. */
function fetchFailure(e: unknown, signal: AbortSignal): string {
  const cause = (e as Error).cause;
  return signal.reason instanceof Error ? signal.reason.message : cause instanceof Error ? cause.message : (e as Error).message;
}

/**
 * Fetches a journal and hands its text to `write` as it arrives (all of it, or with `follow` until
 * `signal` aborts or the agent ends the stream). `timeoutMs` bounds the wait for the answer's headers.
 * Resolves true when `signal` ended it.
 */
export async function readJournal(
  url: string,
  unit: string,
  opts: { timeoutMs: number; signal: AbortSignal; write: (text: string) => void },
): Promise<boolean> {
  const request = deadlineAbort(opts.signal, opts.timeoutMs);
  const failed = (reason: string) => new FleetctlError(`Error reading the journal of ${unit} from ${url}: ${reason}`);
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: request.signal });
    } catch (e) {
      if (opts.signal.aborted) return true;
      throw failed(fetchFailure(e, request.signal));
    } finally {
      request.clearDeadline();
    }
    if (!res.ok) throw failed(`${res.status} ${errorBody(await res.text())}`);
    const decoder = new TextDecoder();
    const reader = res.body?.getReader();
    try {
      for (;;) {
        const r = await reader?.read();
        if (!r || r.done) break;
        const text = decoder.decode(r.value, { stream: true });
        if (text) opts.write(text);
      }
    } catch (e) {
      if (opts.signal.aborted) return true;
      throw failed((e as Error).message);
    }
    const rest = decoder.decode();
    if (rest) opts.write(rest);
    return false;
  } finally {
    request.dispose();
  }
}

function isProcesses(v: unknown): v is AgentProcesses {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    (o.cgroup === null || typeof o.cgroup === 'string') &&
    Array.isArray(o.processes) &&
    o.processes.every((p: unknown) => {
      const q = p as Record<string, unknown> | null;
      return typeof q === 'object' && q !== null && Number.isSafeInteger(q.pid) && (q.pid as number) > 0 && typeof q.command === 'string';
    })
  );
}

/** Reads a unit's processes from its agent; `timeoutMs` bounds the whole request. */
export async function readProcesses(url: string, unit: string, opts: { timeoutMs: number; signal: AbortSignal }): Promise<AgentProcesses> {
  const request = deadlineAbort(opts.signal, opts.timeoutMs);
  const failed = (reason: string) => new FleetctlError(`Error reading the processes of ${unit} from ${url}: ${reason}`);
  try {
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { signal: request.signal });
      text = await res.text();
    } catch (e) {
      throw failed(fetchFailure(e, request.signal));
    }
    if (!res.ok) throw failed(`${res.status} ${errorBody(text)}`);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw failed('the answer is not JSON');
    }
    if (!isProcesses(v)) throw failed('the answer is not a process list');
    return v;
  } finally {
    request.dispose();
  }
}
