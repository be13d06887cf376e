// [X-Fleet] as fleet reads it: every option, the legacy names, several values per line, the resets,
// and every refusal (unknown keys, bad values, options that exclude each other).
import t from 'tap';
import { FLEET_OPTION_KEYS, fleetOptions, parseUnitFile, splitValues } from '../../../src/fleet/unit/index.js';
import type { FleetOptions } from '../../../src/fleet/types.js';
import { throwsUnitError } from './helpers.js';

const xfleet = (name: string, ...body: string[]) => parseUnitFile(name, ['[Unit]', 'Description=x', '[X-Fleet]', ...body].join('\n') + '\n');
const opts = (...body: string[]) => fleetOptions(xfleet('app.service', ...body));
const NONE: FleetOptions = { machineOf: [], machineMetadata: {}, conflicts: [], global: false, replaces: [] };
/** Lines of the [X-Fleet] body start at 4. */
const L = (i: number) => i + 4;

t.test('no [X-Fleet]: no constraints', async (t) => {
  t.same(fleetOptions(parseUnitFile('a.service', '[Service]\nExecStart=/bin/x\n')), NONE);
  t.same(opts(), NONE);
});

t.test('each option', async (t) => {
  t.same(opts('MachineID=0123456789abcdef0123456789abcdef'), { ...NONE, machineId: '0123456789abcdef0123456789abcdef' });
  t.same(opts('MachineOf=db.service', 'MachineOf=cache@1.service'), { ...NONE, machineOf: ['db.service', 'cache@1.service'] });
  t.same(opts('Conflicts=app*', 'Conflicts=web@?.service', 'Conflicts=x[0-9].service', 'Conflicts=y[^a].service'), {
    ...NONE,
    conflicts: ['app*', 'web@?.service', 'x[0-9].service', 'y[^a].service'],
  });
  t.same(opts('Global=true'), { ...NONE, global: true });
  t.same(opts('Replaces=old.service', 'Replaces=older.service'), { ...NONE, replaces: ['old.service', 'older.service'] });
  t.same(opts('MachineMetadata=region=us-east-1'), { ...NONE, machineMetadata: { region: ['us-east-1'] } });
});

t.test('MachineMetadata: the same key is OR, different keys AND; quoted pairs on one line', async (t) => {
  t.same(opts('MachineMetadata="region=us-east-1" "diskType=SSD"', 'MachineMetadata=region=us-west-1').machineMetadata, {
    region: ['us-east-1', 'us-west-1'],
    diskType: ['SSD'],
  });
  t.same(opts('MachineMetadata="region=us-east-1" "job=foo"', 'MachineMetadata="region=us-west-1" "job=bar"').machineMetadata, {
    region: ['us-east-1', 'us-west-1'],
    job: ['foo', 'bar'],
  });
  t.same(opts('MachineMetadata=a=1', 'MachineMetadata=a=1').machineMetadata, { a: ['1'] }, 'no duplicates');
  t.same(opts('MachineMetadata="zone=a b"').machineMetadata, { zone: ['a b'] }, 'a blank inside quotes is part of the value');
});

t.test('several values per line as fleet splits them: only a value in quotes is split', async (t) => {
  t.same(splitValues('"a" "b"  "c"'), ['a', 'b', 'c']);
  t.same(splitValues('"a b" c"'), ['a b', 'c']);
  t.same(splitValues('a b'), ['a b'], 'unquoted: one value');
  t.same(splitValues('"a'), ['"a']);
  t.same(splitValues('a"'), ['a"']);
  t.same(splitValues('"'), ['"']);
  t.same(splitValues('""'), []);
  t.same(opts('Conflicts="a*" "b*"', 'MachineOf="x.service" "y.service"'), {
    ...NONE,
    conflicts: ['a*', 'b*'],
    machineOf: ['x.service', 'y.service'],
  });
  t.same(opts('Replaces="r.service" "s.service"'), { ...NONE, replaces: ['r.service', 's.service'] });
  t.same(opts('Global="true"'), { ...NONE, global: true });
});

t.test("fleet's legacy names", async (t) => {
  t.same(opts('X-ConditionMachineID=m1'), { ...NONE, machineId: 'm1' });
  t.same(opts('X-ConditionMachineBootID=b1'), { ...NONE, machineId: 'b1' });
  t.same(opts('X-ConditionMachineOf=db.service', 'MachineOf=cache.service'), { ...NONE, machineOf: ['db.service', 'cache.service'] });
  t.same(opts('X-ConditionMachineMetadata=a=1', 'MachineMetadata=a=2'), { ...NONE, machineMetadata: { a: ['1', '2'] } });
  t.same(opts('X-Conflicts=a*', 'Conflicts=b*'), { ...NONE, conflicts: ['a*', 'b*'] });
  t.same(opts('MachineID=m1', 'X-ConditionMachineID=m1'), { ...NONE, machineId: 'm1' }, 'the same machine twice is fine');
  t.equal(Object.keys(FLEET_OPTION_KEYS).length, 11);
});

t.test('Global: the last value wins; systemd booleans', async (t) => {
  for (const v of ['1', 'yes', 'Y', 'TRUE', 't', 'on']) t.equal(opts(`Global=${v}`).global, true, v);
  for (const v of ['0', 'no', 'n', 'False', 'f', 'off']) t.equal(opts(`Global=${v}`).global, false, v);
  t.equal(opts('Global=true', 'Global=false').global, false);
  t.equal(opts('Global=false', 'Global=true').global, true);
  t.same(opts('Global=true', 'Global=false', 'MachineOf=db.service'), { ...NONE, machineOf: ['db.service'] }, 'a global unit no more');
  throwsUnitError(t, () => opts('Global=maybe'), 'app.service', L(0), 'Global=maybe: Global takes a boolean: true or false (also yes/no, on/off, 1/0)');
});

t.test('the empty assignment resets an option', async (t) => {
  t.same(opts('MachineOf=a.service', 'MachineOf=', 'MachineOf=b.service'), { ...NONE, machineOf: ['b.service'] });
  t.same(opts('Conflicts=a*', 'X-Conflicts='), NONE);
  t.same(opts('MachineMetadata=a=1', 'MachineMetadata=', 'MachineMetadata=b=2'), { ...NONE, machineMetadata: { b: ['2'] } });
  t.same(opts('MachineID=m1', 'MachineID=', 'MachineID=m2'), { ...NONE, machineId: 'm2' });
  t.same(opts('Replaces=a.service', 'Replaces='), NONE);
  t.same(opts('Global=true', 'Global='), NONE);
  t.same(opts('Global=true', 'Global=', 'MachineID=m'), { ...NONE, machineId: 'm' }, 'a reset option clashes with nothing');
});

t.test('unknown keys and bad values: file:line and the option', async (t) => {
  const f = 'app.service';
  throwsUnitError(t, () => opts('Conflicts=a*', 'MachineId=abc'), f, L(1), 'unknown [X-Fleet] option "MachineId": did you mean MachineID?');
  throwsUnitError(t, () => opts('Machine=abc'), f, L(0), 'unknown [X-Fleet] option "Machine": fleet\'s options are MachineID, MachineOf, MachineMetadata, Conflicts, Global and Replaces');
  throwsUnitError(t, () => opts('x-conflicts=a'), f, L(0), 'unknown [X-Fleet] option "x-conflicts": did you mean X-Conflicts?');
  throwsUnitError(t, () => opts('MachineID=a b'), f, L(0), 'MachineID=a b: a machine ID has no blanks');
  throwsUnitError(t, () => opts('MachineID=m1', 'MachineID=m2'), f, L(1), 'MachineID=m2: the unit already requires machine m1; it can run on one machine only');
  throwsUnitError(t, () => opts('MachineID="m1" "m2"'), f, L(0), 'MachineID="m1" "m2": the unit already requires machine m1; it can run on one machine only');
  throwsUnitError(t, () => opts('MachineOf=db'), f, L(0), 'MachineOf=db: "db" is not a unit name: a unit name ends in its type, as in hello.service');
  throwsUnitError(t, () => opts('MachineOf=a.service b.service'), f, L(0), /^MachineOf=a.service b.service: "a.service b.service" is not a unit name: the character " "/);
  throwsUnitError(t, () => opts('Replaces=web@*.service'), f, L(0), /^Replaces=web@\*.service: "web@\*.service" is not a unit name: the character "\*"/);
  throwsUnitError(t, () => opts('MachineMetadata=region'), f, L(0), 'MachineMetadata=region: "region" is not key=value (several pairs on one line are quoted: "a=b" "c=d")');
  throwsUnitError(t, () => opts('MachineMetadata=a=b c=d'), f, L(0), /"a=b c=d" is not key=value/);
  throwsUnitError(t, () => opts('MachineMetadata==b'), f, L(0), /"=b" is not key=value/);
  throwsUnitError(t, () => opts('MachineMetadata=a='), f, L(0), /"a=" is not key=value/);
  throwsUnitError(t, () => opts('Conflicts=a[b'), f, L(0), 'Conflicts=a[b: not a glob pattern: a "[" class is not closed with "]"');
  throwsUnitError(t, () => opts('Conflicts=a* b*'), f, L(0), 'Conflicts=a* b*: a pattern has no blanks; to give several, quote each ("a*" "b*") or repeat Conflicts=');
  throwsUnitError(t, () => opts('Conflicts=a,b'), f, L(0), 'Conflicts=a,b: the character "," cannot appear in a unit name, so the pattern matches nothing');
  throwsUnitError(t, () => opts('Conflicts=""'), f, L(0), 'Conflicts="": no value between the quotes');
});

t.test("a unit cannot be MachineOf, Replaces or Conflicts of itself; a glob matching itself is fleet's idiom", async (t) => {
  const f = 'web@1.service';
  throwsUnitError(t, () => fleetOptions(xfleet(f, 'MachineOf=db.service', 'MachineOf=%n')), f, L(1), 'MachineOf=web@1.service names the unit itself: a unit is always on its own machine');
  throwsUnitError(t, () => fleetOptions(xfleet(f, 'Replaces=web@1.service')), f, L(0), 'Replaces=web@1.service names the unit itself: a unit cannot displace itself');
  throwsUnitError(t, () => fleetOptions(xfleet(f, 'Conflicts=%n')), f, L(0), 'Conflicts=web@1.service names the unit itself: a unit cannot conflict with itself');
  t.same(fleetOptions(xfleet(f, 'Conflicts=web@*.service')).conflicts, ['web@*.service']);
  t.same(fleetOptions(xfleet(f, 'Conflicts=%p@*.service')).conflicts, ['web@*.service']);
});

t.test("fleet's rules on options that exclude each other", async (t) => {
  const f = 'app.service';
  const cases: [string[], number, string][] = [
    [['MachineID=m', 'Global=true'], 1, 'Global=true cannot be used with MachineID= (line 4): a global unit runs on every machine'],
    [['Global=yes', 'X-ConditionMachineID=m'], 1, 'X-ConditionMachineID= cannot be used with Global=true (line 4): a global unit runs on every machine'],
    [['MachineOf=db.service', 'MachineID=m'], 1, 'MachineID= cannot be used with MachineOf= (line 4): the machine is fixed already; the other unit decides nothing'],
    [['MachineID=m', 'Conflicts=x*'], 1, 'Conflicts= cannot be used with MachineID= (line 4): a unit pinned to one machine cannot move away from a conflict'],
    [['Global=true', 'MachineOf=db.service'], 1, 'MachineOf= cannot be used with Global=true (line 4): a global unit runs on every machine'],
    [['Global=true', 'Replaces=old.service'], 1, 'Replaces= cannot be used with Global=true (line 4): a global unit runs on every machine'],
    [['Replaces=old.service', 'X-Conflicts=x*'], 1, 'X-Conflicts= cannot be used with Replaces= (line 4): fleet does not combine them; use one or the other'],
    [['MachineOf=db.service', 'Conflicts=d*'], 1, 'unresolvable requirements: MachineOf=db.service (line 4) matches Conflicts=d*'],
    [['Conflicts="x*" "db.*"', 'MachineOf=db.service'], 0, 'unresolvable requirements: MachineOf=db.service (line 5) matches Conflicts=db.*'],
    [['MachineOf=db.service', 'Replaces=db.service'], 1, 'unresolvable requirements: MachineOf=db.service (line 4) is also replaced by this unit'],
  ];
  for (const [body, at, reason] of cases) throwsUnitError(t, () => opts(...body), f, L(at), reason);
});

t.test('combinations fleet allows', async (t) => {
  t.same(opts('Global=true', 'MachineMetadata=role=edge'), { ...NONE, global: true, machineMetadata: { role: ['edge'] } });
  t.same(opts('Global=true', 'Conflicts=other*'), { ...NONE, global: true, conflicts: ['other*'] }, 'fleet >= 0.12 allows Global with Conflicts');
  t.same(opts('MachineID=m', 'MachineMetadata=a=1', 'Replaces=old.service'), {
    ...NONE,
    machineId: 'm',
    machineMetadata: { a: ['1'] },
    replaces: ['old.service'],
  });
  t.same(opts('MachineOf=db.service', 'Replaces=old.service', 'MachineMetadata=a=1'), {
    ...NONE,
    machineOf: ['db.service'],
    replaces: ['old.service'],
    machineMetadata: { a: ['1'] },
  });
  t.same(opts('MachineOf=db.service', 'Conflicts=web*'), { ...NONE, machineOf: ['db.service'], conflicts: ['web*'] });
  t.same(opts('Global=false', 'MachineID=m', 'MachineOf='), { ...NONE, machineId: 'm' });
});

t.test('several [X-Fleet] sections are read in order', async (t) => {
  const unit = parseUnitFile('a.service', '[X-Fleet]\nConflicts=a*\n[Service]\nExecStart=/bin/x\n[X-Fleet]\nConflicts=\nConflicts=b*\n');
  t.same(fleetOptions(unit).conflicts, ['b*']);
});
