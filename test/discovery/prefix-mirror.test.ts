// The prefix mirror with a stand-in client (to drive the rare paths exactly): updates per
// revision when a response carries several, a fresh read after a compaction, retried reads while
// no member answers, errors that end it, and cancellation.
import t from 'tap';
import { ClientError, CompactedError, EventType, GrpcCode, type Client, type KeyValue, type WatchResponse } from '../../src/client/index.js';
import { mirrorPrefix, type MirrorUpdate } from '../../src/discovery/index.js';

const enc = (s: string) => new TextEncoder().encode(s);
const kv = (key: string, value: string, rev: number): KeyValue => ({ key: enc(key), value: enc(value), create_revision: rev, mod_revision: rev, version: 1, lease: 0n });

interface Script {
  gets: (() => { revision: number; kvs: KeyValue[] } | Error)[];
  watches: { responses: WatchResponse[]; end?: Error }[];
}

function stubClient(script: Script, seen: { watchStarts: number[] }): Client {
  return {
    async get() {
      const step = script.gets.shift();
      if (!step) throw new Error('no more gets');
      const r = step();
      if (r instanceof Error) throw r;
      return { header: { revision: r.revision }, kvs: r.kvs, more: false, count: r.kvs.length };
    },
    watch(_key: unknown, opts: { startRevision?: number; signal?: AbortSignal }) {
      seen.watchStarts.push(opts.startRevision ?? 0);
      const w = script.watches.shift() ?? { responses: [] };
      let canceled = false;
      return {
        cancel: () => {
          canceled = true;
        },
        async *[Symbol.asyncIterator]() {
          for (const r of w.responses) {
            if (canceled) return;
            yield r;
          }
          if (w.end) throw w.end;
          // Without an end the watch stays open until canceled.
          await new Promise<void>((resolve) => {
            if (opts.signal?.aborted) return resolve();
            opts.signal?.addEventListener('abort', () => resolve(), { once: true });
          });
        },
      };
    },
  } as unknown as Client;
}

const summary = (u: MirrorUpdate) => ({ revision: u.revision, reset: u.reset, events: u.events.map((e) => `${e.type} ${e.key}`), keys: [...u.entries.keys()].sort() });

t.test('one update per revision, a fresh read after a compaction', async (t) => {
  const seen = { watchStarts: [] as number[] };
  const ac = new AbortController();
  const client = stubClient(
    {
      gets: [() => ({ revision: 10, kvs: [kv('/p/a', '1', 5)] }), () => ({ revision: 30, kvs: [kv('/p/c', '3', 25)] })],
      watches: [
        {
          responses: [
            {
              header: { revision: 12 },
              progressNotify: false,
              events: [
                { type: EventType.PUT, kv: kv('/p/b', '2', 11) },
                { type: EventType.DELETE, kv: kv('/p/a', '', 12) },
                { type: EventType.PUT, kv: kv('/p/b', '22', 12) },
              ],
            },
          ],
          end: new CompactedError(20),
        },
        { responses: [] },
      ],
    },
    seen,
  );
  const out: ReturnType<typeof summary>[] = [];
  for await (const u of mirrorPrefix(client, '/p/', { signal: ac.signal })) {
    out.push(summary(u));
    if (out.length === 4) ac.abort();
  }
  t.same(out, [
    { revision: 10, reset: true, events: [], keys: ['/p/a'] },
    { revision: 11, reset: false, events: ['put /p/b'], keys: ['/p/a', '/p/b'] },
    { revision: 12, reset: false, events: ['delete /p/a', 'put /p/b'], keys: ['/p/b'] },
    { revision: 30, reset: true, events: [], keys: ['/p/c'] },
  ]);
  t.same(seen.watchStarts, [11, 31], 'each watch starts right after its read');
});

t.test('reads are retried while no member answers; other errors end it', async (t) => {
  const seen = { watchStarts: [] as number[] };
  const unavailable = new ClientError('Unavailable', GrpcCode.Unavailable, 'no endpoint');
  const ac = new AbortController();
  const client = stubClient({ gets: [() => unavailable, () => unavailable, () => ({ revision: 3, kvs: [] })], watches: [] }, seen);
  const it = mirrorPrefix(client, '/p/', { signal: ac.signal, retryMs: 5 });
  const first = await it.next();
  t.same(first.value && summary(first.value), { revision: 3, reset: true, events: [], keys: [] });
  ac.abort();
  t.same(await it.next(), { done: true, value: undefined });

  const bad = stubClient({ gets: [() => new ClientError('Server', GrpcCode.InvalidArgument, 'etcdserver: bad')], watches: [] }, seen);
  await t.rejects(mirrorPrefix(bad, '/p/').next(), { message: 'etcdserver: bad' });
  const broken = stubClient({ gets: [() => ({ revision: 1, kvs: [] })], watches: [{ responses: [], end: new Error('socket gone') }] }, seen);
  const it2 = mirrorPrefix(broken, '/p/');
  await it2.next();
  await t.rejects(it2.next(), { message: 'socket gone' });
});

t.test('an aborted signal ends a pending read or retry quietly', async (t) => {
  const seen = { watchStarts: [] as number[] };
  const ac = new AbortController();
  ac.abort();
  t.same(await mirrorPrefix(stubClient({ gets: [], watches: [] }, seen), '/p/', { signal: ac.signal }).next(), { done: true, value: undefined });
  const ac2 = new AbortController();
  const canceled = new ClientError('Canceled', GrpcCode.Canceled, 'canceled');
  t.same(await mirrorPrefix(stubClient({ gets: [() => canceled], watches: [] }, seen), '/p/', { signal: ac2.signal }).next(), { done: true, value: undefined });
  const ac3 = new AbortController();
  const unavailable = new ClientError('Unavailable', GrpcCode.Unavailable, 'no endpoint');
  const it = mirrorPrefix(stubClient({ gets: [() => unavailable], watches: [] }, seen), '/p/', { signal: ac3.signal, retryMs: 60000 });
  const pending = it.next();
  setTimeout(() => ac3.abort(), 20);
  t.same(await pending, { done: true, value: undefined }, 'the pause between retries ends with the signal');
});
