import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { crc32 } from 'node:zlib';
import { Level } from 'level';
import { pack, unpack } from 'msgpackr';
import { pino } from 'pino';
import {
  DataDirLockedError,
  LogCompactedError,
  RaftStorage,
  SnapshotOutOfDateError,
  StorageClosedError,
  StorageCorruptError,
  StorageOpenError,
  StorageUsageError,
} from '../../src/raft/storage/index.js';
import { BATCH_WINDOW } from '../../src/raft/storage/metrics.js';
import { EntryType, type Entry, type Snapshot } from '../../src/raft/types.js';

const silent = pino({ level: 'silent' });
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Deterministic entry payload, also used (as source text) by child processes. */
function payload(index: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let j = 0; j < size; j++) out[j] = (index * 31 + j * 7) & 0xff;
  return out;
}

function ent(index: number, term: number, size = 16, type = EntryType.Normal): Entry {
  return { index, term, type, data: payload(index, size) };
}

function ents(lo: number, hi: number, term: number, size = 16): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push(ent(i, term, size));
  return out;
}

function snap(index: number, term: number, data: Uint8Array | string = `state@${index}`): Snapshot {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return { meta: { index, term, confState: { voters: [1, 2, 3], learners: [4] } }, data: bytes };
}

function open(dir: string, opts: Parameters<typeof RaftStorage.open>[1] = {}): Promise<RaftStorage> {
  return RaftStorage.open(dir, { logger: silent, ...opts });
}

function indexes(entries: Entry[]): number[] {
  return entries.map((e) => e.index);
}

function terms(entries: Entry[]): number[] {
  return entries.map((e) => e.term);
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

async function snapFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'snap'))).sort();
}

// Child processes load the compiled storage when dist/ is up to date with src/ (fast), otherwise the
// TypeScript source through the same loader tap gave this process.
function childModule(): { url: string; execArgv: string[] } {
  const sources = [
    ...readdirSync(join(ROOT, 'src/raft/storage'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `src/raft/storage/${f}`),
    'src/raft/types.ts',
    'src/util/log.ts',
  ];
  const pairs = sources.map((f) => [join(ROOT, f), join(ROOT, 'dist', f.replace(/\.ts$/, '.js'))]);
  const fresh = pairs.every(([ts, js]) => existsSync(js) && statSync(js).mtimeMs >= statSync(ts).mtimeMs);
  return fresh
    ? { url: pathToFileURL(join(ROOT, 'dist/src/raft/storage/index.js')).href, execArgv: [] }
    : { url: pathToFileURL(join(ROOT, 'src/raft/storage/index.ts')).href, execArgv: process.execArgv };
}
const child = childModule();

/** Run `code` (an ES module body; process.argv[1] is the storage module URL, then `args`) in a child node. */
function spawnChild(code: string, args: string[]): ChildProcess {
  return spawn(process.execPath, [...child.execArgv, '--input-type=module', '-e', code, child.url, ...args], {
    cwd: ROOT,
    env: { ...process.env, FLOTILLA_LOG_LEVEL: 'silent' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Calls onLine for every complete stdout line; resolves with the exit code/signal and stderr. */
function watchChild(
  proc: ChildProcess,
  onLine: (line: string) => void = () => {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let buf = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine(line);
    }
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => (stderr += chunk));
  return once(proc, 'close').then(([code, signal]) => ({ code, signal, stderr }));
}

t.test('a missing directory is created and starts empty', async (t) => {
  const dir = join(t.testdir(), 'a', 'b', 'member-1');
  const s = await open(dir);
  t.same(await s.load(), { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: undefined, entries: [] });
  t.equal(s.firstIndex, 0);
  t.equal(s.lastIndex, 0);
  await s.close();
  t.ok(statSync(join(dir, 'leveldb', 'CURRENT')).isFile(), 'LevelDB (the format version and the lock) lives in <dir>/leveldb');
  t.same(readdirSync(join(dir, 'wal')), ['0000000000000001.wal'], 'the write-ahead log in <dir>/wal');
  t.ok(statSync(join(dir, 'snap')).isDirectory(), 'snapshots live in <dir>/snap');
});

t.test('hard state, entries and snapshot round-trip across close/open', async (t) => {
  const dir = t.testdir();
  const s = await open(dir);
  const entries: Entry[] = [
    { index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array(0) }, // leader no-op
    { index: 2, term: 1, type: EntryType.ConfChange, data: payload(2, 40) },
    { index: 3, term: 2, type: EntryType.Normal, data: randomBytes(256) },
    { index: 4, term: 2, type: EntryType.Normal, data: Buffer.from('a Buffer is a Uint8Array too') },
  ];
  await s.append({ hardState: { term: 2, vote: 3, commit: 2 }, entries });
  await s.append({ hardState: { term: 2, vote: 3, commit: 4 }, entries: [] });
  await s.close();

  const s2 = await open(dir);
  const loaded = await s2.load();
  t.same(loaded.hardState, { term: 2, vote: 3, commit: 4 });
  t.equal(loaded.snapshot, undefined);
  t.same(indexes(loaded.entries), [1, 2, 3, 4]);
  t.same(terms(loaded.entries), [1, 1, 2, 2]);
  t.same(loaded.entries.map((e) => e.type), [EntryType.Normal, EntryType.ConfChange, EntryType.Normal, EntryType.Normal]);
  for (let i = 0; i < entries.length; i++) {
    const got = loaded.entries[i].data;
    t.equal(Object.getPrototypeOf(got), Uint8Array.prototype, `entry ${i + 1} data is a plain Uint8Array`);
    t.ok(Buffer.from(got).equals(Buffer.from(entries[i].data)), `entry ${i + 1} data is byte-for-byte equal`);
    t.equal(got.byteOffset, 0, 'data does not view a larger buffer');
    t.equal(got.buffer.byteLength, got.byteLength);
  }

  await s2.saveSnapshot(snap(3, 2, 'state machine at 3'), 1);
  await s2.close();
  const s3 = await open(dir);
  const again = await s3.load();
  t.same(again.snapshot?.meta, { index: 3, term: 2, confState: { voters: [1, 2, 3], learners: [4] } });
  t.equal(new TextDecoder().decode(again.snapshot?.data), 'state machine at 3');
  t.same(indexes(again.entries), [4], 'load returns the entries after the snapshot');
  t.same(again.hardState, { term: 2, vote: 3, commit: 4 });
  t.same(indexes(await s3.entries(1, 5)), [1, 2, 3, 4], 'entries not compacted stay readable');
  await s3.close();
});

t.test('indexes and terms above 2^32 keep numeric order and decode as numbers', async (t) => {
  const dir = t.testdir();
  const s = await open(dir);
  const base = 2 ** 40 + 250; // crosses a byte boundary in the low word while appending
  const term = 2 ** 33 + 1;
  await s.append({ snapshot: snap(base, term), entries: ents(base + 1, base + 300, term, 8), hardState: { term, vote: 2 ** 50, commit: base + 300 } });
  await s.close();
  const s2 = await open(dir);
  const { hardState, snapshot, entries } = await s2.load();
  t.same(hardState, { term, vote: 2 ** 50, commit: base + 300 });
  t.equal(snapshot?.meta.index, base);
  t.equal(typeof entries[0].index, 'number');
  t.same(indexes(entries), ents(base + 1, base + 300, term).map((e) => e.index));
  t.ok(entries.every((e) => e.term === term && typeof e.term === 'number'));
  t.equal(s2.firstIndex, base + 1);
  t.equal(s2.lastIndex, base + 300);
  await s2.close();
});

t.test('conflicting entries replace the log from their index on', async (t) => {
  const dir = t.testdir();
  const s = await open(dir);
  await s.append({ entries: ents(1, 10, 1) });
  // A new leader overwrites 6..7: 8..10 must go too.
  await s.append({ hardState: { term: 2, vote: 0, commit: 5 }, entries: ents(6, 7, 2, 32) });
  t.equal(s.lastIndex, 7);
  let loaded = await s.load();
  t.same(indexes(loaded.entries), [1, 2, 3, 4, 5, 6, 7]);
  t.same(terms(loaded.entries), [1, 1, 1, 1, 1, 2, 2]);
  t.equal(loaded.entries[6].data.byteLength, 32, 'the replacement data is stored');

  // Replacing only the last entry, and extending.
  await s.append({ entries: [ent(7, 3), ent(8, 3)] });
  await s.close();
  const s2 = await open(dir);
  loaded = await s2.load();
  t.same(indexes(loaded.entries), [1, 2, 3, 4, 5, 6, 7, 8]);
  t.same(terms(loaded.entries), [1, 1, 1, 1, 1, 2, 3, 3]);
  t.equal(s2.lastIndex, 8, 'the bounds are recovered from disk');

  const gap = await rejection(s2.append({ entries: [ent(10, 3)] }));
  t.type(gap, StorageUsageError);
  t.match(gap.message, /gap after the last index 8/);
  const holes = await rejection(s2.append({ entries: [ent(9, 3), ent(11, 3)] }));
  t.type(holes, StorageUsageError);
  t.match(holes.message, /not contiguous/);
  t.type(await rejection(s2.append({ entries: [{ index: 0, term: 1, type: 0, data: new Uint8Array() }] })), StorageUsageError);
  t.type(await rejection(s2.append({ hardState: { term: -1, vote: 0, commit: 0 }, entries: [] })), StorageUsageError);
  t.same(indexes((await s2.load()).entries), [1, 2, 3, 4, 5, 6, 7, 8], 'rejected appends wrote nothing');
  await s2.close();
});

t.test('installing a snapshot discards the entries it covers', async (t) => {
  t.test('log matches the snapshot: keep the entries after it', async (t) => {
    const s = await open(t.testdir());
    await s.append({ entries: [...ents(1, 5, 1), ...ents(6, 10, 2)] });
    const before = s.metrics.fsyncs;
    await s.append({ snapshot: snap(7, 2), entries: [], hardState: { term: 2, vote: 1, commit: 7 } });
    t.equal(s.metrics.fsyncs - before, 3, 'snapshot file, directory, batch');
    const { snapshot, entries } = await s.load();
    t.equal(snapshot?.meta.index, 7);
    t.same(indexes(entries), [8, 9, 10]);
    t.equal(s.firstIndex, 8);
    t.type(await rejection(s.entries(7, 9)), LogCompactedError);
    t.same(indexes(await s.entries(8, 11)), [8, 9, 10]);
    await s.close();
  });

  t.test('log does not match the snapshot term: discard everything', async (t) => {
    const dir = t.testdir();
    const s = await open(dir);
    await s.append({ entries: ents(1, 10, 1) });
    await s.append({ snapshot: snap(7, 3), entries: [] });
    t.same((await s.load()).entries, []);
    t.equal(s.firstIndex, 0);
    t.equal(s.lastIndex, 7);
    await s.close();
    const s2 = await open(dir);
    t.same((await s2.load()).entries, [], 'nothing comes back after a reopen');
    t.equal(s2.lastIndex, 7);
    t.type(await rejection(s2.entries(5, 6)), LogCompactedError);
    t.type(await rejection(s2.entries(8, 9)), StorageUsageError);
    // The log continues after the snapshot.
    await s2.append({ entries: ents(8, 9, 3) });
    t.same(indexes((await s2.load()).entries), [8, 9]);
    await s2.close();
  });

  t.test('snapshot beyond the log, with entries in the same batch', async (t) => {
    const dir = t.testdir();
    const s = await open(dir);
    await s.append({ entries: ents(1, 3, 1) });
    // Entries at or below the snapshot index in the same batch are ignored.
    await s.append({ snapshot: snap(20, 4), entries: ents(19, 22, 4), hardState: { term: 4, vote: 0, commit: 20 } });
    await s.close();
    const s2 = await open(dir);
    const loaded = await s2.load();
    t.equal(loaded.snapshot?.meta.index, 20);
    t.same(indexes(loaded.entries), [21, 22]);
    t.same(await snapFiles(dir).then((f) => f.length), 1);

    const stale = await rejection(s2.append({ snapshot: snap(20, 4), entries: [] }));
    t.type(stale, SnapshotOutOfDateError);
    t.match(stale.message, /index 20 is not newer than the stored snapshot at index 20/);
    // Installing a matching snapshot replaces the older file.
    await s2.append({ snapshot: snap(21, 4, 'newer'), entries: [] });
    const files = await snapFiles(dir);
    t.equal(files.length, 1, 'the older snapshot file was removed');
    t.match(files[0], /^0000000000000015-0000000000000004-[0-9a-f]{8}\.snap$/);
    t.same(indexes((await s2.load()).entries), [22]);
    await s2.close();
  });
});

t.test('a snapshot file is written before its turn: appends go on, and a newer snapshot still being written keeps its file', async (t) => {
  const dir = t.testdir();
  // A fixed order, whatever the disk does: the first snapshot's file is synced; then the second's
  // write starts and stops with its temp file synced; only then does the first commit (and remove
  // older files), and the second goes on once the first has committed.
  let synced = 0;
  let renamed = false;
  let firstSynced!: () => void;
  let secondHeld!: () => void;
  let release!: () => void;
  const firstSyncedP = new Promise<void>((r) => (firstSynced = r));
  const secondHeldP = new Promise<void>((r) => (secondHeld = r));
  const held = new Promise<void>((r) => (release = r));
  const s = await open(dir, {
    failpoint: async (point) => {
      if (point === 'snapshot:temp-synced') {
        synced++;
        if (synced === 1) firstSynced();
        if (synced === 2) {
          secondHeld();
          await held;
        }
      } else if (point === 'snapshot:renamed' && !renamed) {
        renamed = true;
        await secondHeldP;
      }
    },
  });
  await s.append({ entries: ents(1, 20, 1) });
  const first = s.saveSnapshot(snap(10, 1, 'ten'), 8);
  await firstSyncedP;
  const second = s.saveSnapshot(snap(15, 1, new Uint8Array(1 << 20).fill(7)), 13);
  await first;
  t.equal(s.snapshotIndex, 10);
  await s.append({ entries: ents(21, 30, 1) });
  t.equal(s.lastIndex, 30, 'appends go on while a snapshot file is being written');
  release();
  await second;
  t.equal(s.snapshotIndex, 15, "the first commit left the second's temp file alone");
  t.equal((await snapFiles(dir)).length, 1, 'only the newest snapshot file is left');
  // Refused at its turn: its file goes too.
  t.type(await rejection(s.saveSnapshot(snap(12, 1), 10)), SnapshotOutOfDateError);
  t.equal((await snapFiles(dir)).length, 1, 'the refused snapshot left no file');
  await s.close();
  const loaded = await (await open(dir)).load();
  t.equal(loaded.snapshot?.data.length, 1 << 20);
  t.same(indexes(loaded.entries), Array.from({ length: 15 }, (_, i) => 16 + i));
});

t.test('saveSnapshot persists the snapshot and compacts below', async (t) => {
  const dir = t.testdir();
  const s = await open(dir);
  await s.append({ entries: ents(1, 20, 1) });
  await s.saveSnapshot(snap(10, 1, 'ten'), 8);
  t.equal(s.firstIndex, 8);
  await s.saveSnapshot(snap(15, 1, 'fifteen'), 13);
  t.equal(s.firstIndex, 13);
  t.equal(s.snapshotIndex, 15);
  t.equal((await snapFiles(dir)).length, 1, 'only the newest snapshot file is kept');

  const compacted = await rejection(s.entries(12, 14));
  t.type(compacted, LogCompactedError);
  t.match(compacted.message, /log entry 12 was compacted \(first stored index is 13\)/);
  t.same(indexes(await s.entries(13, 21)), [13, 14, 15, 16, 17, 18, 19, 20]);
  await s.close();

  const s2 = await open(dir);
  const loaded = await s2.load();
  t.equal(new TextDecoder().decode(loaded.snapshot?.data), 'fifteen');
  t.same(indexes(loaded.entries), [16, 17, 18, 19, 20]);
  t.equal(s2.firstIndex, 13, 'compaction is durable');

  t.type(await rejection(s2.saveSnapshot(snap(15, 1), 10)), SnapshotOutOfDateError);
  t.match((await rejection(s2.saveSnapshot(snap(21, 1), 10))).message, /snapshot index 21 is beyond the last log index 20/);
  t.match((await rejection(s2.saveSnapshot(snap(18, 2), 10))).message, /has term 2 but the log has term 1/);
  t.match((await rejection(s2.saveSnapshot(snap(18, 1), 20))).message, /cannot compact below 20/);

  // Compacting the whole log: it is then empty and continues after the snapshot.
  await s2.saveSnapshot(snap(20, 1), 21);
  t.equal(s2.firstIndex, 0);
  t.equal(s2.lastIndex, 20);
  await s2.append({ entries: ents(21, 21, 2) });
  t.same(indexes((await s2.load()).entries), [21]);
  await s2.close();
});

t.test("a log record's fsync runs in place or in the pool, and either way the record is there after a reopen", async (t) => {
  for (const [name, placement, inPlace] of [
    ['in place', { inlineMaxMs: Infinity }, 3],
    ['in the pool', { inlineMaxMs: 0 }, 0],
  ] as const) {
    const dir = t.testdir();
    const s = await RaftStorage.open(dir, { logger: silent, syncPlacement: placement });
    await s.append({ hardState: { term: 1, vote: 1, commit: 0 }, entries: ents(1, 10, 1) });
    await s.append({ entries: ents(11, 20, 1) });
    await s.append({ entries: ents(21, 30, 1), hardState: { term: 1, vote: 1, commit: 20 } });
    t.equal(s.metrics.fsyncs, 3, name);
    t.equal(s.metrics.fsyncsInPlace, inPlace, `${name}: fsyncs in place`);
    await s.close();
    const again = await RaftStorage.open(dir, { logger: silent });
    const st = await again.load();
    t.same(st.hardState, { term: 1, vote: 1, commit: 20 }, name);
    t.same(st.entries, ents(1, 30, 1), name);
    await again.close();
  }
});

t.test('one fsync per append, however many entries', async (t) => {
  const s = await open(t.testdir());
  const m = s.metrics;
  await s.append({ hardState: { term: 1, vote: 1, commit: 0 }, entries: ents(1, 1000, 1, 256) });
  t.equal(m.fsyncs, 1);
  t.equal(m.entriesWritten, 1000);
  t.ok(m.bytesWritten > 1000 * 256, `bytesWritten ${m.bytesWritten} covers the payloads`);
  t.same(m.batchSizes, [1000]);
  t.ok(m.lastSyncMs > 0 && m.syncMsTotal >= m.lastSyncMs);

  await s.append({ entries: ents(1001, 1500, 1, 256), hardState: { term: 1, vote: 1, commit: 1000 } });
  t.equal(m.fsyncs, 2);
  t.equal(m.entriesWritten, 1500);
  // Truncating 1401..1500 while rewriting 1201..1400 is still one batch.
  await s.append({ entries: ents(1201, 1400, 2, 256) });
  t.equal(m.fsyncs, 3);
  t.equal(s.lastIndex, 1400);
  t.same(m.batchSizes, [1000, 500, 200]);
  await s.append({ entries: [] });
  t.equal(m.fsyncs, 3, 'an empty append writes nothing');

  // The window of batch sizes is bounded; appends called without awaiting run in call order.
  const pending: Promise<void>[] = [];
  for (let i = 0; i < BATCH_WINDOW + 4; i++) pending.push(s.append({ entries: [ent(1401 + i, 2)] }));
  await Promise.all(pending);
  t.equal(m.batchSizes.length, BATCH_WINDOW);
  t.equal(m.fsyncs, 3 + BATCH_WINDOW + 4);
  t.equal(s.lastIndex, 1400 + BATCH_WINDOW + 4);
  await s.close();
});

for (const segmentBytes of [undefined, 2048]) {
  t.test(`every acknowledged append survives kill -9 mid-stream${segmentBytes ? ' (a new segment every 2 KiB)' : ''}`, async (t) => {
    const dir = t.testdir();
    const code = `
      ${payload.toString()}
      const [url, dir, segmentBytes] = process.argv.slice(1);
      const { RaftStorage } = await import(url);
      const s = await RaftStorage.open(dir, { segmentBytes: segmentBytes ? Number(segmentBytes) : undefined });
      let next = 1;
      for (let k = 0; ; k++) {
        const n = 1 + (k % 23);
        const entries = [];
        for (let i = 0; i < n; i++) entries.push({ index: next + i, term: 1, type: 0, data: payload(next + i, 100) });
        await s.append({ hardState: { term: 1, vote: 1, commit: next + n - 1 }, entries });
        next += n;
        process.stdout.write((next - 1) + '\\n');
      }
    `;
    const proc = spawnChild(code, segmentBytes ? [dir, String(segmentBytes)] : [dir]);
    const acked: number[] = [];
    const done = watchChild(proc, (line) => {
      acked.push(Number(line));
      if (acked.length === 60) proc.kill('SIGKILL');
    });
    const exit = await done;
    t.equal(exit.signal, 'SIGKILL', `child was killed (stderr: ${exit.stderr.trim()})`);
    t.ok(acked.length >= 60, `${acked.length} appends acknowledged before the kill`);
    const maxAcked = Math.max(...acked);

    const s = await open(dir);
    const { hardState, entries } = await s.load();
    t.ok(entries.length >= maxAcked, `all ${maxAcked} acknowledged entries are there (${entries.length} stored)`);
    t.same(indexes(entries), Array.from({ length: entries.length }, (_, i) => i + 1), 'the log is contiguous from 1');
    const bad = entries.find((e) => !Buffer.from(e.data).equals(Buffer.from(payload(e.index, 100))));
    t.equal(bad, undefined, 'every entry has its data');
    t.ok(hardState.commit >= maxAcked && hardState.commit === entries.length, 'hard state was written atomically with the entries');
    if (segmentBytes) t.ok(readdirSync(join(dir, 'wal')).length > 3, 'the log went through several segments');
    await s.close();
  });
}

t.test('a crash at any step of a snapshot write leaves a loadable store', async (t) => {
  const steps = [
    { point: 'snapshot:temp-synced', debris: /\.snap\.tmp$/, committed: false },
    { point: 'snapshot:renamed', debris: null, committed: false },
    { point: 'snapshot:committed', debris: null, committed: true },
  ] as const;
  const code = `
    const [url, dir, point] = process.argv.slice(1);
    const { RaftStorage } = await import(url);
    const failpoint = (p) => {
      if (p !== point) return;
      process.kill(process.pid, 'SIGKILL');
      return new Promise(() => {});
    };
    const s = await RaftStorage.open(dir, { failpoint });
    await s.saveSnapshot({ meta: { index: 15, term: 1, confState: { voters: [1, 2, 3], learners: [] } }, data: new TextEncoder().encode('B'.repeat(4096)) }, 13);
    console.log('not killed');
  `;
  for (const step of steps) {
    t.test(step.point, async (t) => {
      const dir = t.testdir();
      const s = await open(dir);
      await s.append({ hardState: { term: 1, vote: 1, commit: 20 }, entries: ents(1, 20, 1) });
      await s.saveSnapshot(snap(10, 1, 'A'), 8);
      await s.close();
      const [fileA] = await snapFiles(dir);

      const exit = await watchChild(spawnChild(code, [dir, step.point]));
      t.equal(exit.signal, 'SIGKILL', `the child died at ${step.point} (stderr: ${exit.stderr.trim()})`);
      const after = await snapFiles(dir);
      t.ok(after.includes(fileA), 'the old snapshot file is still there');
      t.equal(after.length, 2, `the crash left debris: ${after.join(', ')}`);
      if (step.debris) t.ok(after.some((f) => step.debris.test(f)), 'a temp file was left');
      else t.ok(after.every((f) => f.endsWith('.snap')), 'a complete second snapshot file was left');

      const s2 = await open(dir);
      const loaded = await s2.load();
      t.same(loaded.hardState, { term: 1, vote: 1, commit: 20 });
      if (step.committed) {
        t.equal(new TextDecoder().decode(loaded.snapshot?.data), 'B'.repeat(4096));
        t.same(indexes(loaded.entries), [16, 17, 18, 19, 20]);
        t.equal(s2.firstIndex, 13);
      } else {
        t.equal(new TextDecoder().decode(loaded.snapshot?.data), 'A', 'the old snapshot is still the current one');
        t.same(indexes(loaded.entries), [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
        t.equal(s2.firstIndex, 8);
      }
      const cleaned = await snapFiles(dir);
      t.equal(cleaned.length, 1, 'open removed the files no metadata points to');
      t.equal(cleaned[0] === fileA, !step.committed);
      await s2.close();
    });
  }
});

t.test('a data directory held by another process gives DataDirLockedError', async (t) => {
  const dir = t.testdir();
  const holder = spawnChild(
    `
    const [url, dir] = process.argv.slice(1);
    const { RaftStorage } = await import(url);
    const s = await RaftStorage.open(dir);
    console.log('ready');
    process.stdin.resume();
    process.stdin.on('end', async () => { await s.close(); console.log('closed'); });
  `,
    [dir],
  );
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const done = watchChild(holder, (line) => line === 'ready' && ready());
  await isReady;

  const err = await rejection(open(dir));
  t.type(err, DataDirLockedError);
  t.equal((err as DataDirLockedError).code, 'DATA_DIR_LOCKED');
  t.equal(err.message, `data directory ${dir} is in use by another process (LOCK held)`);

  holder.stdin!.end();
  const exit = await done;
  t.equal(exit.code, 0, exit.stderr);
  const s = await open(dir);
  t.pass('the directory opens once the other process closed it');

  // The other way round: this process holds it, a second process gets a one-line typed error.
  const probe = await (async () => {
    let out = '';
    const proc = spawnChild(
      `
      const [url, dir] = process.argv.slice(1);
      const { RaftStorage } = await import(url);
      try { await RaftStorage.open(dir); console.log('opened'); }
      catch (err) { console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message })); }
    `,
      [dir],
    );
    const exit = await watchChild(proc, (line) => (out += line));
    t.equal(exit.code, 0, exit.stderr);
    return JSON.parse(out);
  })();
  t.same(probe, {
    name: 'DataDirLockedError',
    code: 'DATA_DIR_LOCKED',
    message: `data directory ${dir} is in use by another process (LOCK held)`,
  });

  // A second open in the same process is refused the same way.
  t.type(await rejection(open(dir)), DataDirLockedError);
  await s.close();
});

t.test('a 20 MiB snapshot round-trips', async (t) => {
  const dir = t.testdir();
  const data = randomBytes(20 * 1024 * 1024);
  const s = await open(dir);
  await s.append({ entries: ents(1, 3, 1) });
  await s.append({ snapshot: snap(100, 2, data), entries: ents(101, 102, 2), hardState: { term: 2, vote: 0, commit: 100 } });
  t.ok(s.metrics.bytesWritten >= data.byteLength);
  await s.close();
  const [file] = await snapFiles(dir);
  t.equal((await stat(join(dir, 'snap', file))).size, data.byteLength, 'the data is in a file, not in LevelDB');

  const s2 = await open(dir);
  const loaded = await s2.load();
  t.equal(loaded.snapshot?.data.byteLength, data.byteLength);
  t.ok(Buffer.from(loaded.snapshot!.data.buffer, loaded.snapshot!.data.byteOffset, loaded.snapshot!.data.byteLength).equals(data), 'byte-for-byte equal');
  t.same(indexes(loaded.entries), [101, 102]);
  await s2.close();
});

t.test('corruption is reported with the file and offset, or the key, involved', async (t) => {
  async function prepared(): Promise<string> {
    const dir = t.testdir();
    const s = await open(dir);
    await s.append({ hardState: { term: 1, vote: 1, commit: 3 }, entries: ents(1, 5, 1) });
    await s.close();
    // A second open starts a second segment.
    const s2 = await open(dir);
    await s2.saveSnapshot(snap(2, 1, 'two'), 1);
    await s2.close();
    return dir;
  }
  async function poke(dir: string, key: Uint8Array, value: Uint8Array | null): Promise<void> {
    const db = new Level<Uint8Array, Uint8Array>(join(dir, 'leveldb'), { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    if (value === null) await db.del(key);
    else await db.put(key, value);
    await db.close();
  }
  /** The segments, oldest first, and where the first frame after the state record of `file` starts. */
  async function segments(dir: string): Promise<string[]> {
    return (await readdir(join(dir, 'wal'))).sort().map((f) => join(dir, 'wal', f));
  }
  /** Offsets of the frames of a segment. */
  async function frames(file: string): Promise<number[]> {
    const buf = await readFile(file);
    const out: number[] = [];
    for (let at = 0; at < buf.length; at += 8 + buf.readUInt32BE(at)) out.push(at);
    return out;
  }
  async function flipByte(file: string, offset: number): Promise<void> {
    const buf = await readFile(file);
    buf[offset] = buf[offset]! ^ 0xff;
    await writeFile(file, buf);
  }
  /** Appends a well-framed record with `payload` (msgpack of the record's fields) to `file`. */
  async function appendFrame(file: string, fields: unknown[]): Promise<void> {
    const payload = pack(fields);
    const header = Buffer.alloc(8);
    header.writeUInt32BE(payload.length, 0);
    header.writeUInt32BE(crc32(payload), 4);
    await appendFile(file, Buffer.concat([header, payload]));
  }

  t.test('a damaged record before the newest segment', async (t) => {
    const dir = await prepared();
    const [oldest] = await segments(dir);
    const [, second] = await frames(oldest!);
    await flipByte(oldest!, second! + 20);
    const err = await rejection(open(dir));
    t.type(err, StorageCorruptError);
    t.ok(err.message.includes(`write-ahead log ${oldest} at offset ${second}`), err.message);
    t.match(err.message, /checksum \d+ does not match the frame's \d+/);
  });

  t.test('a record that is whole but undecodable', async (t) => {
    const dir = await prepared();
    const newest = (await segments(dir)).at(-1)!;
    await appendFrame(newest, [1, 1, 5, ['a', 'b', 'c'], null, 0, []]);
    const err = await rejection(open(dir));
    t.type(err, StorageCorruptError);
    t.match(err.message, /write-ahead log .*\.wal at offset \d+.*expected \[term, vote, commit\]/);
  });

  t.test('an entry of the wrong shape', async (t) => {
    const dir = await prepared();
    const newest = (await segments(dir)).at(-1)!;
    await appendFrame(newest, [1, 1, 6, null, null, 6, [[1, 2]]]);
    t.match((await rejection(open(dir))).message, /log entry 6.*expected \[term, type, data\]/);
  });

  t.test('a missing segment', async (t) => {
    const dir = await prepared();
    const s = await open(dir, { segmentBytes: 1 });
    await s.append({ entries: ents(6, 8, 1) });
    await s.append({ entries: ents(9, 9, 1) });
    await s.close();
    const all = await segments(dir);
    t.ok(all.length >= 4, `every record started a segment (${all.length})`);
    await rm(all[all.length - 3]!);
    const err = await rejection(open(dir));
    t.type(err, StorageCorruptError);
    t.match(err.message, /log entry \d is missing \(the log is 1\.\.9\)/);
  });

  t.test('a format version from another build', async (t) => {
    const dir = await prepared();
    await poke(dir, Uint8Array.of(0x76), Uint8Array.of(0x03));
    const err = await rejection(open(dir));
    t.type(err, StorageOpenError);
    t.equal(err.message, `cannot open data directory ${dir}: unsupported storage format version 3 (this build reads 2, and converts 1)`);
  });

  t.test('data without a format version', async (t) => {
    const dir = await prepared();
    await poke(dir, Uint8Array.of(0x76), null);
    await poke(dir, Uint8Array.of(0x68), Uint8Array.of(0x90));
    const err = await rejection(open(dir));
    t.type(err, StorageCorruptError);
    t.match(err.message, /key "v" \(format version\): missing, but the database holds key "h" \(hard state\)/);
  });

  t.test('a truncated snapshot file', async (t) => {
    const dir = await prepared();
    const [file] = await snapFiles(dir);
    await truncate(join(dir, 'snap', file), 1);
    const err = await rejection(open(dir));
    t.type(err, StorageCorruptError);
    t.match(err.message, new RegExp(`${file}.*snapshot file has 1 bytes, metadata says 3`));
  });

  t.test('a snapshot file with other content', async (t) => {
    const dir = await prepared();
    const [file] = await snapFiles(dir);
    await writeFile(join(dir, 'snap', file), 'TWO');
    const s = await open(dir);
    t.match((await rejection(s.load())).message, /checksum \d+ does not match/);
    await s.close();
  });

  t.test('a missing snapshot file', async (t) => {
    const dir = await prepared();
    const [file] = await snapFiles(dir);
    await rm(join(dir, 'snap', file));
    t.match((await rejection(open(dir))).message, /the data file of the snapshot at index 2 is missing \(ENOENT\)/);
  });
});

t.test('the newest segment cut short or damaged by a crash is truncated to its last whole record', async (t) => {
  for (const damage of ['cut', 'zeros', 'garbage'] as const) {
    t.test(damage, async (t) => {
      const dir = t.testdir();
      const s = await open(dir);
      await s.append({ hardState: { term: 1, vote: 1, commit: 4 }, entries: ents(1, 4, 1) });
      await s.append({ hardState: { term: 1, vote: 1, commit: 6 }, entries: ents(5, 6, 1) });
      await s.close();
      const wal = join(dir, 'wal');
      const [file] = (await readdir(wal)).sort().map((f) => join(wal, f));
      const whole = (await stat(file!)).size;
      // What a crash before the next fdatasync can leave: part of a record, a length extended
      // with zeros, or bytes that are not a record.
      if (damage === 'cut') await truncate(file!, whole - 5);
      else if (damage === 'zeros') await appendFile(file!, Buffer.alloc(100));
      else await appendFile(file!, randomBytes(100));
      const warnings: string[] = [];
      const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
      const s2 = await RaftStorage.open(dir, { logger });
      const { hardState, entries } = await s2.load();
      if (damage === 'cut') {
        t.same(indexes(entries), [1, 2, 3, 4], 'the record cut short is gone, the one before it stays');
        t.same(hardState, { term: 1, vote: 1, commit: 4 });
      } else {
        t.same(indexes(entries), [1, 2, 3, 4, 5, 6], 'every whole record stays');
        t.same(hardState, { term: 1, vote: 1, commit: 6 });
      }
      t.match(warnings.join(''), /incomplete record \(a crash before it was synced\): truncated/);
      await s2.append({ entries: ents(entries.length + 1, entries.length + 1, 1) });
      await s2.close();
      const s3 = await open(dir);
      t.equal(s3.lastIndex, entries.length + 1, 'the log goes on after the truncation, and opens again');
      await s3.close();
    });
  }
});

t.test('a segment whose start was cut short by a crash is removed at open', async (t) => {
  for (const left of ['empty', 'part of its state record'] as const) {
    t.test(left, async (t) => {
      const dir = t.testdir();
      const s = await open(dir);
      await s.append({ hardState: { term: 2, vote: 1, commit: 3 }, entries: ents(1, 3, 2) });
      await s.close();
      const wal = join(dir, 'wal');
      const [first] = (await readdir(wal)).sort();
      const stateRecord = (await readFile(join(wal, first!))).subarray(0, 20);
      await writeFile(join(wal, '0000000000000002.wal'), left === 'empty' ? Buffer.alloc(0) : stateRecord.subarray(0, 12));
      const s2 = await open(dir);
      const loaded = await s2.load();
      t.same(indexes(loaded.entries), [1, 2, 3]);
      t.same(loaded.hardState, { term: 2, vote: 1, commit: 3 });
      t.same((await readdir(wal)).sort(), ['0000000000000001.wal', '0000000000000002.wal'], 'the cut-short segment was replaced by the new one');
      t.ok((await stat(join(wal, '0000000000000002.wal'))).size > 12, 'which starts with a whole state record');
      await s2.close();
    });
  }
});

t.test('segments: a new one per open and per segment size, old ones deleted once compacted', async (t) => {
  const dir = t.testdir();
  const wal = join(dir, 'wal');
  const s = await open(dir, { segmentBytes: 2048 });
  t.same(await readdir(wal), ['0000000000000001.wal']);
  for (let i = 1; i <= 60; i += 5) await s.append({ hardState: { term: 1, vote: 1, commit: i + 4 }, entries: ents(i, i + 4, 1, 100) });
  const before = (await readdir(wal)).sort();
  t.ok(before.length >= 3, `60 entries of 100 bytes fill several 2 KiB segments (${before.join(', ')})`);
  await s.saveSnapshot(snap(50, 1), 45);
  const after = (await readdir(wal)).sort();
  t.ok(after.length < before.length, `compaction removed segments (${after.length} of ${before.length} left)`);
  t.equal(after[0]!, before[before.length - after.length]!, 'the oldest ones');
  await s.close();

  const s2 = await open(dir, { segmentBytes: 2048 });
  const loaded = await s2.load();
  t.same(indexes(loaded.entries), ents(51, 60, 1).map((e) => e.index), 'the entries after the snapshot');
  t.equal(s2.firstIndex, 45);
  t.same(indexes(await s2.entries(45, 61)), Array.from({ length: 16 }, (_, i) => 45 + i), 'entries kept below the snapshot index are still read back');
  t.same(loaded.hardState, { term: 1, vote: 1, commit: 60 });
  t.equal(new TextDecoder().decode(loaded.snapshot?.data), 'state@50');
  const reopened = (await readdir(wal)).sort();
  t.equal(reopened.length, after.length + 1, 'the open started a new segment');
  t.ok(parseInt(reopened.at(-1)!, 16) > parseInt(after.at(-1)!, 16), 'numbered after the others');
  await s2.close();
});

t.test('a format 1 directory (the log in LevelDB) is converted when opened', async (t) => {
  const base = t.testdir();
  const dir = join(base, 'member');
  await mkdir(join(dir, 'snap'), { recursive: true });
  const db = new Level<Uint8Array, Uint8Array>(join(dir, 'leveldb'), { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const entryKey = (i: number) => Uint8Array.of(0x65, 0, 0, 0, 0, 0, 0, 0, i);
  await db.put(Uint8Array.of(0x76), pack(1));
  await db.put(Uint8Array.of(0x68), pack([3, 2, 7]));
  for (let i = 3; i <= 9; i++) await db.put(entryKey(i), pack([i < 6 ? 2 : 3, 0, payload(i, 16)]));
  await db.close();
  // A snapshot at 2 whose file the format 1 metadata names.
  const pre = await open(join(base, 'pre'));
  await pre.append({ entries: ents(1, 2, 2) });
  await pre.saveSnapshot(snap(2, 2, 'two'), 1);
  const preDir = pre.dir;
  await pre.close();
  const [file] = await snapFiles(preDir);
  await writeFile(join(dir, 'snap', file!), 'two');
  const db2 = new Level<Uint8Array, Uint8Array>(join(dir, 'leveldb'), { keyEncoding: 'view', valueEncoding: 'view' });
  await db2.open();
  await db2.put(Uint8Array.of(0x73), pack({ index: 2, term: 2, voters: [1, 2, 3], learners: [], file, size: 3, crc32: crc32(Buffer.from('two')) }));
  await db2.close();

  const s = await open(dir);
  const loaded = await s.load();
  t.same(loaded.hardState, { term: 3, vote: 2, commit: 7 });
  t.same(indexes(loaded.entries), [3, 4, 5, 6, 7, 8, 9]);
  t.same(terms(loaded.entries), [2, 2, 2, 3, 3, 3, 3]);
  t.ok(loaded.entries.every((e) => Buffer.from(e.data).equals(Buffer.from(payload(e.index, 16)))), 'entry data converted');
  t.equal(new TextDecoder().decode(loaded.snapshot?.data), 'two');
  t.equal(s.firstIndex, 3);
  await s.close();

  const db3 = new Level<Uint8Array, Uint8Array>(join(dir, 'leveldb'), { keyEncoding: 'view', valueEncoding: 'view' });
  await db3.open();
  const keys = await db3.keys().all();
  t.same(keys.map((k) => Buffer.from(k).toString('latin1')), ['v'], 'LevelDB keeps only the format version');
  t.same(unpack(await db3.get(Uint8Array.of(0x76)) as Uint8Array), 2);
  await db3.close();
  const s2 = await open(dir);
  t.same(indexes((await s2.load()).entries), [3, 4, 5, 6, 7, 8, 9], 'and opens as format 2 after');
  await s2.close();
});

t.test('a data directory that cannot be created gives StorageOpenError', async (t) => {
  const dir = t.testdir({ 'a-file': 'not a directory' });
  const err = await rejection(open(join(dir, 'a-file', 'member')));
  t.type(err, StorageOpenError);
  t.match(err.message, new RegExp(`^cannot open data directory ${dir}/a-file/member: .*ENOTDIR`));
});

t.test('stray snapshot files are removed at open', async (t) => {
  const dir = t.testdir();
  const s = await open(dir);
  await s.append({ entries: ents(1, 3, 1) });
  await s.saveSnapshot(snap(3, 1), 1);
  await s.close();
  const [current] = await snapFiles(dir);
  await writeFile(join(dir, 'snap', '0000000000000009-0000000000000001-deadbeef.snap.tmp'), 'partial');
  await writeFile(join(dir, 'snap', '0000000000000009-0000000000000001-deadbeef.snap'), 'orphan');
  await writeFile(join(dir, 'snap', 'README'), 'not ours');
  const s2 = await open(dir);
  t.same(await snapFiles(dir), [current, 'README'].sort());
  t.equal(new TextDecoder().decode((await s2.load()).snapshot?.data), 'state@3');
  await s2.close();
});

t.test('close waits for pending work and refuses new work', async (t) => {
  const dir = t.testdir();
  const s = await open(dir);
  const pending = s.append({ entries: ents(1, 50, 1) });
  const closed = s.close();
  await pending;
  await closed;
  t.equal(await s.close(), undefined, 'close is idempotent');
  const err = await rejection(s.append({ entries: [ent(51, 1)] }));
  t.type(err, StorageClosedError);
  t.match(err.message, /is not usable: it was closed/);
  t.type(await rejection(s.load()), StorageClosedError);
  const s2 = await open(dir);
  t.equal(s2.lastIndex, 50);
  await s2.close();
});
