// Waiting for the deletion of keys, as etcd's concurrency package does it.
import type { Client } from '../client.js';
import { ClientError, GrpcCode } from '../errors.js';
import type { ResponseHeader } from '../types.js';
import { EventType } from '../types.js';

/** Waits until `key` is deleted, watching from revision `rev`. */
export async function waitDelete(client: Client, key: Uint8Array, rev: number, signal?: AbortSignal): Promise<void> {
  const w = client.watch(key, { startRevision: rev, signal });
  try {
    for await (const resp of w) {
      if (resp.events.some((e) => e.type === EventType.DELETE)) return;
    }
  } finally {
    w.cancel();
  }
  throw abortReason(signal) ?? new ClientError('Closed', GrpcCode.Canceled, 'lost watcher waiting for delete');
}

/**
 * Waits until no key under `prefix` has a create revision at or below `maxCreateRev`: each time,
 * for the deletion of the newest such key (only the predecessor, not every older waiter).
 */
export async function waitDeletes(client: Client, prefix: string, maxCreateRev: number, signal?: AbortSignal): Promise<ResponseHeader> {
  for (;;) {
    const r = await client.get(prefix, { prefix: true, sortTarget: 'CREATE', sortOrder: 'DESCEND', limit: 1, maxCreateRevision: maxCreateRev, signal });
    if (r.kvs.length === 0) return r.header;
    await waitDelete(client, r.kvs[0]!.key, r.header.revision ?? 0, signal);
  }
}

export function abortReason(signal: AbortSignal | undefined): Error | undefined {
  if (!signal?.aborted) return undefined;
  return signal.reason instanceof Error ? signal.reason : new ClientError('Canceled', GrpcCode.Canceled, 'context canceled');
}

/** One signal that fires when any of the given ones does; dispose() detaches it. */
export function anySignal(...signals: (AbortSignal | undefined)[]): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const list = signals.filter((s): s is AbortSignal => s !== undefined);
  const handlers = list.map((s) => {
    const h = (): void => ac.abort(s.reason);
    if (s.aborted) ac.abort(s.reason);
    else s.addEventListener('abort', h, { once: true });
    return h;
  });
  return { signal: ac.signal, dispose: () => list.forEach((s, i) => s.removeEventListener('abort', handlers[i]!)) };
}

/** When a call failed because the session ended (not the caller's signal): the session's error. */
export function sessionError(session: { signal: AbortSignal }, user: AbortSignal | undefined): Error | undefined {
  if (!session.signal.aborted || user?.aborted) return undefined;
  return session.signal.reason instanceof Error ? session.signal.reason : undefined;
}
