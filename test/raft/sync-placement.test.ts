import t from 'tap';
import { DEFAULT_INLINE_SYNC_MAX_MS, DEFAULT_SYNC_PROBE_EVERY, SyncPlacement } from '../../src/raft/storage/sync-placement.js';

/** Runs one fsync through the placement, asleep `ms` if it runs in place; returns where it ran. */
function step(p: SyncPlacement, ms: number): 'in place' | 'pool' {
  if (p.inline()) {
    p.inlineTook(ms);
    return 'in place';
  }
  p.pooled();
  return 'pool';
}

t.test('fsyncs run in place while they are fast', async (t) => {
  const p = new SyncPlacement();
  for (let i = 0; i < 1000; i++) t.equal(step(p, DEFAULT_INLINE_SYNC_MAX_MS), 'in place');
  t.equal(p.inlineCount, 1000);
  t.equal(p.pooledCount, 0);
});

t.test('one slow flush among fast ones changes nothing; a disk turned slow moves them to the pool within a few writes', async (t) => {
  const p = new SyncPlacement({ inlineMaxMs: 1, probeEvery: 4 });
  for (let i = 0; i < 20; i++) step(p, 0.2);
  t.equal(step(p, 5), 'in place', 'a 5 ms flush');
  t.equal(step(p, 0.2), 'in place', 'the average (about 0.8 ms, then 0.7) is under the limit: still in place');
  const ran: string[] = [];
  for (let i = 0; i < 4; i++) ran.push(step(p, 2));
  t.same(ran, ['in place', 'in place', 'pool', 'pool'], 'two 2 ms flushes take the average over 1 ms (0.88, then 1.02)');
});

t.test('in the pool, every probeEvery-th fsync runs in place; once the average is back under the limit, fsyncs stay in place', async (t) => {
  const p = new SyncPlacement({ inlineMaxMs: 1, probeEvery: 4 });
  t.equal(step(p, 10), 'in place', 'the average jumps to 1.25 ms');
  t.same([step(p, 0), step(p, 0), step(p, 0), step(p, 0)], ['pool', 'pool', 'pool', 'pool']);
  t.equal(step(p, 1), 'in place', 'the probe: the average is now 1.22 ms, still over');
  t.same([step(p, 0), step(p, 0), step(p, 0), step(p, 0)], ['pool', 'pool', 'pool', 'pool'], 'a slow average starts the count again');
  t.equal(step(p, 0), 'in place', 'the next probe brings the average to 1.07 ms');
  t.same([step(p, 0), step(p, 0), step(p, 0), step(p, 0)], ['pool', 'pool', 'pool', 'pool']);
  t.equal(step(p, 0), 'in place', 'and this one to 0.93 ms');
  t.same([step(p, 0.5), step(p, 0.5)], ['in place', 'in place'], 'back under the limit: in place from now on');
  t.equal(p.inlineCount, 6);
  t.equal(p.pooledCount, 12);
});

t.test('a persistently slow disk stalls the event loop once per probeEvery + 1 fsyncs', async (t) => {
  const p = new SyncPlacement();
  let inPlace = 0;
  for (let i = 0; i < 10 * (DEFAULT_SYNC_PROBE_EVERY + 1); i++) if (step(p, 20) === 'in place') inPlace++;
  t.equal(inPlace, 10, 'the first one and one probe per round');
});

t.test('inlineMaxMs 0 keeps every fsync in the pool; probeEvery below 1 is taken as 1', async (t) => {
  const never = new SyncPlacement({ inlineMaxMs: 0 });
  for (let i = 0; i < 100; i++) t.equal(step(never, 0), 'pool');
  const eager = new SyncPlacement({ inlineMaxMs: 1, probeEvery: 0 });
  t.same([step(eager, 80), step(eager, 0), step(eager, 80), step(eager, 0)], ['in place', 'pool', 'in place', 'pool']);
});
