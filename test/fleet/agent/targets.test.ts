// Which units a machine must hold, from a registry snapshot: its placements, and the Global units it
// matches (metadata, conflicts both ways, the ones already here first).
import t from 'tap';
import { conflicting, fitsMachine, machineTargets, metadataMatches, type OptionsOf } from '../../../src/fleet/agent/targets.js';
import { emptySnapshot, type RegistrySnapshot } from '../../../src/fleet/registry/index.js';
import type { DesiredState, FleetOptions } from '../../../src/fleet/types.js';
import { fleetOptions, parseUnitFile, unitHash } from '../../../src/fleet/unit/index.js';

const ME = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);

function snapshot(units: { name: string; text: string; desired: DesiredState; placedOn?: string }[]): { snap: RegistrySnapshot; optionsOf: OptionsOf } {
  const snap = emptySnapshot(1);
  for (const u of units) {
    const hash = unitHash(u.text);
    snap.units.set(u.name, { name: u.name, hash, desired: u.desired });
    snap.contents.set(hash, u.text);
    if (u.placedOn) snap.placements.set(u.name, { machine: u.placedOn, hash, at: 0, engine: OTHER });
  }
  const optionsOf: OptionsOf = (name, hash) => {
    const text = snap.contents.get(hash);
    if (text === undefined) return undefined;
    try {
      return fleetOptions(parseUnitFile(name, text));
    } catch {
      return undefined;
    }
  };
  return { snap, optionsOf };
}

const svc = (fleet = ''): string => `[Service]\nExecStart=/bin/true\n${fleet ? `\n[X-Fleet]\n${fleet}\n` : ''}`;

t.test('metadata: same key OR, different keys AND', async (t) => {
  t.ok(metadataMatches({}, {}));
  t.ok(metadataMatches({ region: ['east', 'west'] }, { region: 'west' }));
  t.notOk(metadataMatches({ region: ['east'] }, { region: 'west' }));
  t.notOk(metadataMatches({ region: ['east'] }, {}));
  t.ok(metadataMatches({ region: ['east'], disk: ['ssd'] }, { region: 'east', disk: 'ssd', x: 'y' }));
  t.notOk(metadataMatches({ region: ['east'], disk: ['ssd'] }, { region: 'east' }));
});

t.test('conflicts apply both ways', async (t) => {
  const opts = (conflicts: string[]): FleetOptions => ({ machineOf: [], machineMetadata: {}, conflicts, global: false, replaces: [] });
  t.ok(conflicting('a.service', opts(['b*']), 'b1.service', undefined));
  t.ok(conflicting('a.service', undefined, 'b1.service', opts(['a.*'])));
  t.notOk(conflicting('a.service', opts(['c*']), 'b1.service', opts([])));
  t.notOk(conflicting('a.service', undefined, 'b.service', undefined));
});

t.test('placements to this machine, as desired', async (t) => {
  const { snap, optionsOf } = snapshot([
    { name: 'mine.service', text: svc(), desired: 'launched', placedOn: ME },
    { name: 'loaded.service', text: svc(), desired: 'loaded', placedOn: ME },
    { name: 'theirs.service', text: svc(), desired: 'launched', placedOn: OTHER },
    { name: 'inactive.service', text: svc(), desired: 'inactive', placedOn: ME },
    { name: 'unplaced.service', text: svc(), desired: 'launched' },
    { name: 'web@.service', text: svc(), desired: 'launched', placedOn: ME },
    { name: 'broken.service', text: '[Service\n', desired: 'launched', placedOn: ME },
  ]);
  const got = machineTargets(snap, { id: ME, metadata: {} }, optionsOf, new Set());
  t.same([...got.keys()].sort(), ['broken.service', 'loaded.service', 'mine.service'], 'a broken placed unit is a target (it reports its load error)');
  t.same(got.get('mine.service'), { name: 'mine.service', hash: snap.units.get('mine.service')!.hash, desired: 'launched', global: false });
  t.equal(got.get('loaded.service')!.desired, 'loaded');
});

t.test('a placed unit runs the current content (a --replace changed the unit record)', async (t) => {
  const { snap, optionsOf } = snapshot([{ name: 'a.service', text: svc(), desired: 'launched', placedOn: ME }]);
  snap.units.set('a.service', { name: 'a.service', hash: 'new', desired: 'launched' });
  t.equal(machineTargets(snap, { id: ME, metadata: {} }, optionsOf, new Set()).get('a.service')!.hash, 'new');
});

t.test('replaced content that no longer fits this machine is not run here (the engine moves it)', async (t) => {
  const { snap, optionsOf } = snapshot([
    { name: 'a.service', text: svc('MachineMetadata=disk=ssd'), desired: 'launched', placedOn: ME },
    { name: 'b.service', text: svc(), desired: 'launched', placedOn: ME },
    { name: 'c.service', text: svc(), desired: 'launched', placedOn: ME },
  ]);
  const replace = (name: string, text: string) => {
    const hash = unitHash(text);
    snap.contents.set(hash, text);
    snap.units.set(name, { name, hash, desired: 'launched' });
  };
  replace('a.service', svc('MachineMetadata=disk=hdd'));
  replace('b.service', svc(`MachineID=${OTHER}`));
  replace('c.service', svc('MachineMetadata=disk=ssd'));
  const got = machineTargets(snap, { id: ME, metadata: { disk: 'ssd' } }, optionsOf, new Set(['a.service', 'b.service', 'c.service']));
  t.same([...got.keys()], ['c.service'], 'only the replaced unit that still fits runs its new content here');
  t.ok(fitsMachine(undefined, { id: ME, metadata: {} }), 'unparseable content: the placement decides');
  const pinned: FleetOptions = { machineId: ME, machineOf: [], machineMetadata: {}, conflicts: [], global: false, replaces: [] };
  t.ok(fitsMachine(pinned, { id: ME, metadata: {} }));
  t.notOk(fitsMachine(pinned, { id: OTHER, metadata: {} }));
});

t.test('Global units: on machines whose metadata matches', async (t) => {
  const { snap, optionsOf } = snapshot([
    { name: 'everywhere.service', text: svc('Global=true'), desired: 'launched' },
    { name: 'east.service', text: svc('Global=true\nMachineMetadata=region=east'), desired: 'launched' },
    { name: 'west.service', text: svc('Global=true\nMachineMetadata=region=west'), desired: 'loaded' },
    { name: 'off.service', text: svc('Global=true'), desired: 'inactive' },
    { name: 'notglobal.service', text: svc('MachineMetadata=region=east'), desired: 'launched' },
    { name: 'broken.service', text: '[Service\n', desired: 'launched' },
  ]);
  const east = machineTargets(snap, { id: ME, metadata: { region: 'east' } }, optionsOf, new Set());
  t.same([...east.keys()].sort(), ['east.service', 'everywhere.service']);
  t.equal(east.get('east.service')!.global, true);
  const west = machineTargets(snap, { id: OTHER, metadata: { region: 'west' } }, optionsOf, new Set());
  t.same([...west.keys()].sort(), ['everywhere.service', 'west.service']);
  t.equal(west.get('west.service')!.desired, 'loaded');
});

t.test('Global units and Conflicts', async (t) => {
  const { snap, optionsOf } = snapshot([
    { name: 'db.service', text: svc(), desired: 'launched', placedOn: ME },
    { name: 'g-hates-db.service', text: svc('Global=true\nConflicts=db*'), desired: 'launched' },
    { name: 'g-ok.service', text: svc('Global=true'), desired: 'launched' },
    { name: 'g1.service', text: svc('Global=true\nConflicts=g2.service'), desired: 'launched' },
    { name: 'g2.service', text: svc('Global=true'), desired: 'launched' },
  ]);
  const fresh = machineTargets(snap, { id: ME, metadata: {} }, optionsOf, new Set());
  t.same([...fresh.keys()].sort(), ['db.service', 'g-ok.service', 'g1.service'], 'a placed unit wins; between Globals, by name');
  const g2Here = machineTargets(snap, { id: ME, metadata: {} }, optionsOf, new Set(['g2.service']));
  t.same([...g2Here.keys()].sort(), ['db.service', 'g-ok.service', 'g2.service'], 'a Global already here is not displaced by a new one');

  const placedHatesGlobal = snapshot([
    { name: 'web.service', text: svc('Conflicts=mon*'), desired: 'launched', placedOn: ME },
    { name: 'monitor.service', text: svc('Global=true'), desired: 'launched' },
  ]);
  t.same([...machineTargets(placedHatesGlobal.snap, { id: ME, metadata: {} }, placedHatesGlobal.optionsOf, new Set()).keys()], ['web.service'], "the placed unit's Conflicts count too");
});
