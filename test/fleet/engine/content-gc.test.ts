// The unit-text collector alone: which texts are due for deletion, pass by pass, on a driven clock.
import t from 'tap';
import { ContentCollector, DEFAULT_CONTENT_GRACE_MS } from '../../../src/fleet/engine/index.js';
import { emptySnapshot, type RegistrySnapshot, type UnitStateRecord } from '../../../src/fleet/registry/index.js';

function snapshot(parts: { contents?: string[]; units?: string[]; placements?: string[]; states?: string[] }): RegistrySnapshot {
  const snap = emptySnapshot(1);
  for (const h of parts.contents ?? []) snap.contents.set(h, `text of ${h}`);
  (parts.units ?? []).forEach((h, i) => snap.units.set(`u${i}.service`, { name: `u${i}.service`, hash: h, desired: 'launched' }));
  (parts.placements ?? []).forEach((h, i) => snap.placements.set(`p${i}.service`, { machine: 'm1', hash: h, at: 0, engine: 'm1' }));
  (parts.states ?? []).forEach((h, i) => {
    const st: UnitStateRecord = { name: `s${i}.service`, machine: 'm1', hash: h, load: 'loaded', active: 'active', sub: 'running', since: 0 };
    snap.states.set(st.name, new Map([['m1', st]]));
  });
  return snap;
}

t.test('a text named by a unit, a placement or a unit state is never due', async (t) => {
  const c = new ContentCollector(1000);
  const snap = snapshot({ contents: ['a', 'b', 'c'], units: ['a'], placements: ['b'], states: ['c'] });
  t.same(c.due(snap, 0), []);
  t.same(c.due(snap, 10_000), []);
});

t.test('an unnamed text is due once passes have seen it unnamed for the grace period', async (t) => {
  const c = new ContentCollector(1000);
  const snap = snapshot({ contents: ['a', 'gone'], units: ['a'] });
  t.same(c.due(snap, 5000), [], 'first seen unnamed: not yet');
  t.same(c.due(snap, 5999), [], 'within the grace period');
  t.same(c.due(snap, 6000), ['gone']);
});

t.test('a text named again starts over; a deleted one is forgotten', async (t) => {
  const c = new ContentCollector(1000);
  t.same(c.due(snapshot({ contents: ['x'] }), 0), []);
  t.same(c.due(snapshot({ contents: ['x'], units: ['x'] }), 500), [], 'a submit names it again');
  t.same(c.due(snapshot({ contents: ['x'] }), 1200), [], 'unnamed again: the clock starts again');
  t.same(c.due(snapshot({ contents: ['x'] }), 2199), []);
  t.same(c.due(snapshot({ contents: ['x'] }), 2200), ['x']);
  t.same(c.due(snapshot({ contents: [] }), 2300), [], 'deleted');
  t.same(c.due(snapshot({ contents: ['x'] }), 5000), [], 'written again later: a new grace period');
});

t.test('reset (a new term) starts every count again; the default grace is a minute', async (t) => {
  const c = new ContentCollector();
  t.equal(DEFAULT_CONTENT_GRACE_MS, 60_000);
  const snap = snapshot({ contents: ['y'] });
  t.same(c.due(snap, 0), []);
  c.reset();
  t.same(c.due(snap, 60_000), [], 'seen unnamed first at 60 s after the reset');
  t.same(c.due(snap, 120_000), ['y']);
});
