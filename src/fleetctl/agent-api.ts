// The agent's HTTP API, where fleetctl reads a unit's journal instead of fleet's SSH to the machine:
// GET <agentUrl>/fleet/v1/units/<name>/journal?lines=N[&follow=true] (text/plain, journalctl lines).
import type { MachineRecord } from '../fleet/registry/index.js';
import { FleetctlError } from './errors.js';
import { linkedAbort } from '../util/abort.js';

export function journalUrl(machine: MachineRecord, unit: string, lines: number, follow: boolean): string {
  const base = machine.agentUrl.replace(/\/+$/, '');
  return `${base}/fleet/v1/units/${encodeURIComponent(unit)}/journal?lines=${lines}${follow ? '&follow=true' : ''}`;
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
  const request = linkedAbort(opts.signal);
  const ac = request.controller;
  const timer = setTimeout(() => ac.abort(new Error(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
  const failed = (reason: string) => new FleetctlError(`Error reading the journal of ${unit} from ${url}: ${reason}`);
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: ac.signal });
    } catch (e) {
      if (opts.signal.aborted) return true;
      const cause = (e as Error).cause;
      throw failed(ac.signal.reason instanceof Error ? ac.signal.reason.message : cause instanceof Error ? cause.message : (e as Error).message);
    } finally {
      clearTimeout(timer);
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
