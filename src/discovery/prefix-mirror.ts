// A local copy of every key under a prefix, kept current: the keys as of one read, then one update
// per store revision that touched the prefix, from a watch that starts right after that read. The
// client's Watcher resumes after a reconnect from the revision after the last one delivered, so no
// revision is missed or repeated. If the watch falls below a compaction, the prefix is read again
// and the update says `reset`. Lookup watches, the service catalog and config watches sit on it.
import { ClientError, CompactedError, EventType, toText, type Client, type KeyValue } from '../client/index.js';

export interface MirrorEvent {
  type: 'put' | 'delete';
  key: string;
  /** For a delete, the key with its deletion revision and an empty value. */
  kv: KeyValue;
}

export interface MirrorUpdate {
  /** The store revision this view is at. */
  revision: number;
  /** A fresh read (the first update, and after a compaction): `events` is empty, compare `entries`. */
  reset: boolean;
  /** What this revision changed under the prefix, in order. */
  events: MirrorEvent[];
  /** Every key under the prefix at `revision`. The same Map is updated in place: copy what you keep. */
  entries: ReadonlyMap<string, KeyValue>;
}

export interface MirrorOptions {
  signal?: AbortSignal;
  /** Pause between failed reads of the prefix (ms, doubling up to 2 s); default 250. */
  retryMs?: number;
}

/** Failures worth another try: no member answered (the watch itself retries on its own). */
function retryable(e: unknown): boolean {
  return e instanceof ClientError && (e.kind === 'Unavailable' || e.kind === 'OutcomeUnknown');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

async function readPrefix(client: Client, prefix: string, opts: MirrorOptions): Promise<{ revision: number; kvs: KeyValue[] } | undefined> {
  let pause = opts.retryMs ?? 250;
  for (;;) {
    if (opts.signal?.aborted) return undefined;
    try {
      const r = await client.get(prefix, { prefix: true, signal: opts.signal });
      return { revision: r.header.revision ?? 0, kvs: r.kvs };
    } catch (e) {
      if (opts.signal?.aborted || (e instanceof ClientError && e.kind === 'Canceled')) return undefined;
      if (!retryable(e)) throw e;
      await sleep(pause, opts.signal);
      pause = Math.min(2000, pause * 2);
    }
  }
}

/** Yields the prefix's keys, then one update per revision, until the signal aborts or the loop is left. */
export async function* mirrorPrefix(client: Client, prefix: string, opts: MirrorOptions = {}): AsyncGenerator<MirrorUpdate, void, undefined> {
  const entries = new Map<string, KeyValue>();
  for (;;) {
    const snap = await readPrefix(client, prefix, opts);
    if (!snap) return;
    entries.clear();
    for (const kv of snap.kvs) entries.set(toText(kv.key), kv);
    yield { revision: snap.revision, reset: true, events: [], entries };
    const w = client.watch(prefix, { prefix: true, startRevision: snap.revision + 1, signal: opts.signal });
    try {
      for await (const resp of w) {
        // A response may carry several revisions; each gets its own update.
        let batch: MirrorEvent[] = [];
        let rev = 0;
        const flush = function* (): Generator<MirrorUpdate> {
          if (batch.length === 0) return;
          const events = batch;
          batch = [];
          yield { revision: rev, reset: false, events, entries };
        };
        for (const ev of resp.events) {
          if (ev.kv.mod_revision !== rev) {
            yield* flush();
            rev = ev.kv.mod_revision;
          }
          const key = toText(ev.kv.key);
          if (ev.type === EventType.DELETE) {
            entries.delete(key);
            batch.push({ type: 'delete', key, kv: ev.kv });
          } else {
            entries.set(key, ev.kv);
            batch.push({ type: 'put', key, kv: ev.kv });
          }
        }
        yield* flush();
      }
      return;
    } catch (e) {
      if (!(e instanceof CompactedError)) throw e;
      // Too far behind to resume: read the prefix again.
    } finally {
      w.cancel();
    }
  }
}
