// writeOps: one atomic LevelDB batch through classic-level's implementation methods (the public
// chained-batch methods are never called on it), or through the public ones for a batch without
// them.

import t from 'tap';
import { join } from 'node:path';
import { writeOps, type LevelOp } from '../../src/raft/storage/level-batch.js';
import { openDb, type Db } from '../../src/raft/storage/lock.js';

const b = (s: string) => new Uint8Array(Buffer.from(s));
const str = (u: Uint8Array | undefined) => (u === undefined ? undefined : Buffer.from(u).toString());

async function contents(db: Db): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of db.iterator()) out.push(`${str(k)}=${str(v)}`);
  return out;
}

t.test("classic-level's batches are written through _put/_del/_write, synced or not", async (t) => {
  const db = await openDb('test', join(t.testdir(), 'db'));
  t.teardown(() => db.close());
  await db.put(b('gone'), b('0'));
  const batch = db.batch.bind(db);
  const syncs: boolean[] = [];
  db.batch = (() => {
    const chained = batch();
    const impl = chained as unknown as { _write(o: { sync: boolean }): Promise<void> };
    const write = impl._write.bind(chained);
    impl._write = (o) => {
      syncs.push(o.sync);
      return write(o);
    };
    // The public methods must not be used (they cost the per-operation checks writeOps avoids).
    chained.put = () => {
      throw new Error('public put used');
    };
    chained.del = () => {
      throw new Error('public del used');
    };
    chained.write = () => Promise.reject(new Error('public write used'));
    return chained;
  }) as unknown as typeof db.batch;

  const ops: LevelOp[] = [0, 1, 2].map((i) => ({ type: 'put', key: b(`k${i}`), value: b(`v${i}`) }));
  ops.push({ type: 'del', key: b('gone') });
  await writeOps(db, ops, true);
  await writeOps(db, [{ type: 'put', key: b('k1'), value: b('again') }], false);
  await writeOps(db, [], true);
  t.same(await contents(db), ['k0=v0', 'k1=again', 'k2=v2'], 'puts and the delete, in order');
  t.same(syncs, [true, false], 'one write per call with operations, synced as asked');
});

t.test('a batch without the implementation methods is written through the public ones', async (t) => {
  const calls: string[] = [];
  const db = {
    batch: () => ({
      put: (k: Uint8Array, v: Uint8Array) => calls.push(`put ${str(k)}=${str(v)}`),
      del: (k: Uint8Array) => calls.push(`del ${str(k)}`),
      write: async (o: { sync: boolean }) => {
        calls.push(`write sync=${o.sync}`);
      },
    }),
  } as unknown as Db;
  await writeOps(
    db,
    [
      { type: 'put', key: b('a'), value: b('1') },
      { type: 'del', key: b('b') },
    ],
    true,
  );
  t.same(calls, ['put a=1', 'del b', 'write sync=true']);
});

t.test('a failed write rejects and the batch is closed', async (t) => {
  const db = await openDb('test', join(t.testdir(), 'db'));
  t.teardown(() => db.close());
  let closed = 0;
  const batch = db.batch.bind(db);
  db.batch = (() => {
    const chained = batch();
    const impl = chained as unknown as { _write(o: { sync: boolean }): Promise<void>; close(): Promise<void> };
    impl._write = () => Promise.reject(new Error('disk full'));
    const close = impl.close.bind(chained);
    impl.close = () => {
      closed++;
      return close();
    };
    return chained;
  }) as unknown as typeof db.batch;
  await t.rejects(writeOps(db, [{ type: 'put', key: b('a'), value: b('1') }], true), /disk full/);
  t.equal(closed, 1);
});
