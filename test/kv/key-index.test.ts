// The compact KeyIndex against the plain layout it replaced (key-index-model.ts): random histories of
// puts, deletes and compactions, and after every step the same answer to every read a store makes.
import t, { type Test } from 'tap';
import { KeyIndex } from '../../src/kv/key-index.js';
import { ValueCache } from '../../src/kv/value-cache.js';
import { ModelKeyIndex } from './key-index-model.js';
import { rng } from './watch-fixtures.js';

function sameAnswers(t: Test, ki: KeyIndex, model: ModelKeyIndex, from: number, to: number, where: string): boolean {
  for (let rev = from; rev <= to; rev++) {
    const got = ki.get(rev);
    const want = model.get(rev);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      t.same(got, want, `${where}: get(${rev})`);
      return false;
    }
    if (ki.existsAt(rev) !== model.existsAt(rev)) {
      t.equal(ki.existsAt(rev), model.existsAt(rev), `${where}: existsAt(${rev})`);
      return false;
    }
  }
  const last = model.generations[model.generations.length - 1];
  const live = last !== undefined && !last.isEmpty();
  if (ki.isLive() !== live || ki.isEmpty() !== (model.generations.length === 0 || model.isEmpty())) {
    t.fail(`${where}: live ${ki.isLive()} / ${live}, empty ${ki.isEmpty()} / ${model.isEmpty()}`);
    return false;
  }
  if (ki.modified !== model.modified) {
    t.equal(ki.modified, model.modified, `${where}: modified`);
    return false;
  }
  if (live && (ki.created !== last.created || ki.ver !== last.ver)) {
    t.same([ki.created, ki.ver], [last.created, last.ver], `${where}: the live generation`);
    return false;
  }
  return true;
}

t.test('random histories answer as the plain layout does', async (t) => {
  const histories = 400;
  let steps = 0;
  let compactions = 0;
  let multiRevisionReads = 0;
  for (let seed = 1; seed <= histories; seed++) {
    const rand = rng(seed);
    let ki = new KeyIndex('k');
    let model = new ModelKeyIndex();
    let main = 1;
    let compacted = 0;
    let ok = true;
    for (let step = 0; step < 60 && ok; step++) {
      steps++;
      const r = rand();
      const where = `seed ${seed} step ${step}`;
      if (r < 0.55) {
        // One or more changes of the key at the same main revision (a txn), subs in order.
        main++;
        const changes = rand() < 0.8 ? 1 : 2 + Math.floor(rand() * 2);
        for (let sub = 0; sub < changes; sub++) {
          const live = ki.isLive();
          if (live && rand() < 0.3) {
            if (ki.tombstone(main, sub) !== model.tombstone(main, sub)) ok = t.fail(`${where}: tombstone`);
          } else {
            ki.put(main, sub, BigInt(sub));
            model.put(main, sub);
          }
        }
      } else if (r < 0.75) {
        main++;
        const done = ki.tombstone(main, 0);
        if (done !== model.tombstone(main, 0)) ok = t.fail(`${where}: tombstone`);
        if (!done) main--; // nothing was written: the revision was not used
      } else if (r < 0.9 && model.generations.length > 0) {
        const at = compacted + Math.floor(rand() * (main - compacted + 1));
        const kept: number[][] = [];
        const want: number[][] = [];
        ki.compact(at, (m, s) => kept.push([m, s]));
        model.compact(at, (m, s) => want.push([m, s]));
        compactions++;
        if (JSON.stringify(kept) !== JSON.stringify(want)) {
          t.same(kept, want, `${where}: compact(${at}) keeps`);
          ok = false;
          break;
        }
        compacted = at;
        if (model.isEmpty()) {
          // The tree drops a key with no history; a later put starts a new index.
          if (!ki.isEmpty()) ok = t.fail(`${where}: not empty after compact(${at})`);
          ki = new KeyIndex('k');
          model = new ModelKeyIndex();
        }
      }
      ok = ok && sameAnswers(t, ki, model, compacted, main + 1, where);
      const g = model.generations[model.generations.length - 1];
      if (g && g.length > 1) multiRevisionReads++;
    }
    if (!ok) break;
  }
  // The histories must reach the cases the layout treats apart (several revisions, compactions).
  t.ok(compactions > 1000, `compactions: ${compactions}`);
  t.ok(multiRevisionReads > 1000, `reads with several live revisions: ${multiRevisionReads}`);
  t.ok(steps > 20_000, `steps: ${steps}`);
});

t.test('the live value: a copy per read, empty values, keys only, and through the value cache', async (t) => {
  const values = new ValueCache(Infinity);
  const ki = new KeyIndex('a\u00ff');
  t.equal(ki.live(), undefined, 'nothing before the first put');
  ki.put(5, 0, 7n);
  t.notOk(ki.hasValue(), 'live, and its value not in memory yet');
  t.throws(() => ki.live(), /value of a key at revision 5 is not in memory/, 'reading a value that is not there is a bug, and says so');
  t.equal(ki.live(false)!.mod_revision, 5, 'keys only needs no value');
  values.set(ki, 'x\u0080y');
  const kv = ki.live()!;
  t.same([...kv.key], [0x61, 0xff], 'key bytes from the one-char-per-byte string');
  t.same([...kv.value], [0x78, 0x80, 0x79], 'value bytes, 0x80 kept as is');
  t.same([kv.create_revision, kv.mod_revision, kv.version, kv.lease], [5, 5, 1, 7n]);
  kv.value[0] = 0;
  t.equal(ki.live()!.value[0], 0x78, 'changing a returned value does not change the store');
  t.equal(ki.live(false)!.value.length, 0, 'keys only: no value');
  ki.put(6, 1, 0n);
  values.set(ki, '');
  t.same([ki.live()!.value.length, ki.live()!.version, ki.live()!.create_revision, ki.live()!.mod_revision], [0, 2, 5, 6]);
  t.ok(ki.tombstone(7, 0));
  values.drop(ki);
  t.equal(ki.live(), undefined, 'deleted');
  t.same([ki.value, ki.lease, values.bytes], [undefined, 0n, 0], 'a tombstone drops the value and the lease');
  t.ok(ki.hasValue(), 'a deleted key has nothing to load');
  t.notOk(ki.tombstone(8, 0), 'a second tombstone is refused');
  t.same(ki.get(6), { main: 6, sub: 1, create: 5, version: 2 }, 'history stays');
  ki.restore(9, 12, 0, 4, 0n);
  t.same([ki.get(6), ki.get(12)], [undefined, { main: 12, sub: 0, create: 9, version: 4 }], 'restore starts from one record');
});
