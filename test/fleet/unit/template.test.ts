// Templates, instances and the % specifiers.
import t from 'tap';
import {
  UnitNameError,
  expandSpecifiers,
  fleetOptions,
  instantiate,
  parseUnitFile,
  sectionEntries,
  serviceSpec,
  unescapeUnitName,
  unitDescription,
} from '../../../src/fleet/unit/index.js';
import { findServiceSection, serviceFromUnit } from '../../../src/discovery/unit.js';
import { lines, throwsUnitError } from './helpers.js';

t.test('specifiers: %n %N %p %P %i %I %%', async (t) => {
  const all = '%n|%N|%p|%P|%i|%I|%%|%%i';
  t.equal(expandSpecifiers(all, 'web@8080.service'), 'web@8080.service|web@8080|web|web|8080|8080|%|%i');
  t.equal(expandSpecifiers(all, 'web@.service'), 'web@.service|web@|web|web|||%|%i');
  t.equal(expandSpecifiers(all, 'hello.service'), 'hello.service|hello|hello|hello|||%|%i');
  t.equal(expandSpecifiers('%i %I', 'mnt@var-lib-x\\x2dy.service'), 'var-lib-x\\x2dy var/lib/x-y');
  t.equal(expandSpecifiers('%P', 'a-b@.socket'), 'a/b');
  t.equal(expandSpecifiers('no specifiers', 'x.service'), 'no specifiers');
  t.equal(unescapeUnitName('a-b\\x41\\x2d'), 'a/bA-');
  t.throws(() => expandSpecifiers('%u', 'x.service'), {
    message: 'unsupported specifier "%u" (supported: %n %N %p %P %i %I %m %b %H %l %%; write "%%" for a literal %)',
  });
  t.throws(() => expandSpecifiers('100%', 'x.service'), { message: 'a lone "%" ends the value (write "%%" for a literal %)' });
  t.throws(() => expandSpecifiers('100% sure', 'x.service'), { message: /unsupported specifier "% "/ });
});

const FACTS = { machineId: 'a'.repeat(32), bootId: 'b'.repeat(32), hostname: 'node7.example.com' };

t.test("specifiers of the machine: filled in on it, kept before, refused where no machine is chosen", async (t) => {
  const value = '%m|%b|%H|%l|%%H|%n';
  t.equal(expandSpecifiers(value, 'x.service', FACTS), `${'a'.repeat(32)}|${'b'.repeat(32)}|node7.example.com|node7|%H|x.service`);
  t.equal(expandSpecifiers('%l', 'x.service', { ...FACTS, hostname: 'plain' }), 'plain', '%l of a name without a dot');
  t.equal(expandSpecifiers(value, 'x.service', 'keep'), '%m|%b|%H|%l|%H|x.service', 'keep: as written, %% resolved');
  t.equal(expandSpecifiers(value, 'x.service', 'defer'), '%m|%b|%H|%l|%%H|x.service', 'defer: %% kept for the next pass');
  t.equal(expandSpecifiers(expandSpecifiers(value, 'x.service', 'defer'), 'x.service', FACTS), expandSpecifiers(value, 'x.service', FACTS), 'defer then fill in = fill in');
  t.throws(() => expandSpecifiers('%H', 'x.service'), {
    message: '"%H" stands for something of the machine that runs the unit, which is not chosen yet where this is read (it works in [Unit], [Service] and [X-Service])',
  });
});

const TEMPLATE = lines(
  '[Unit]',
  'Description=Web server %i (%n)',
  '',
  '[Service]',
  'Environment=PORT=%i NAME=%N',
  'ExecStart=/usr/bin/python3 -m http.server %i',
  'ExecStartPost=/bin/echo 100%% of %p',
  '',
  '[X-Fleet]',
  'Conflicts=%p@*.service',
  'MachineOf=db@%i.service',
  '',
  '[X-Service]',
  'Name=%p',
  '',
  '[X-Other]',
  'Kept=%i verbatim',
);

t.test('instantiate: the template text under the instance name, values resolved', async (t) => {
  const template = parseUnitFile('web@.service', TEMPLATE);
  const unit = instantiate(template, '8080');
  t.equal(unit.name, 'web@8080.service');
  t.equal(unit.text, TEMPLATE, 'the text is the template text');
  t.equal(unit.specifiersResolved, true);
  t.same(
    unit.sections.map((s) => [s.name, s.entries.map((e) => `${e.key}=${e.value}`)]),
    [
      ['Unit', ['Description=Web server 8080 (web@8080.service)']],
      ['Service', ['Environment=PORT=8080 NAME=web@8080', 'ExecStart=/usr/bin/python3 -m http.server 8080', 'ExecStartPost=/bin/echo 100%% of web']],
      ['X-Fleet', ['Conflicts=web@*.service', 'MachineOf=db@8080.service']],
      ['X-Service', ['Name=web']],
      ['X-Other', ['Kept=%i verbatim']],
    ],
  );
  t.same(unit.sections[1]!.entries[1], { key: 'ExecStart', value: '/usr/bin/python3 -m http.server 8080', line: 6 }, 'lines kept');
  t.equal(template.sections[1]!.entries[1]!.value, '/usr/bin/python3 -m http.server %i', 'the template is not changed');

  t.same(instantiate(template, 'web@8080.service'), unit, 'the full instance name works too');

  // [Service] keeps "%%" (and the machine's specifiers) until it is read: "100%%" reads as "100%".
  const { spec } = serviceSpec(unit);
  t.equal(spec.execStartPost[0]!.text, '/bin/echo 100% of web');
  t.same(spec.environment, { PORT: '8080', NAME: 'web@8080' });
  t.same(fleetOptions(unit).machineOf, ['db@8080.service']);
  t.equal(unitDescription(unit), 'Web server 8080 (web@8080.service)');
  t.same(sectionEntries(unit, 'X-Other'), [{ key: 'Kept', value: '%i verbatim', line: 17 }]);
});

t.test('the readers resolve specifiers themselves for a unit that was not instantiated', async (t) => {
  const unit = parseUnitFile('foo.service', lines('[Unit]', 'Description=%n', '[Service]', 'ExecStart=/bin/echo %p %%', '[X-Fleet]', 'MachineOf=%p.socket'));
  t.equal(serviceSpec(unit).spec.execStart[0]!.text, '/bin/echo foo %');
  t.same(fleetOptions(unit).machineOf, ['foo.socket'], "fleet's own example");
  t.equal(unitDescription(unit), 'foo.service');
  t.equal(unitDescription(parseUnitFile('foo.service', '[Unit]\nDescription=a\nDescription=\n')), undefined, 'reset');
  t.equal(unitDescription(parseUnitFile('foo.service', '[Service]\nExecStart=/bin/x\n')), undefined);
});

t.test('specifier errors carry the file and line', async (t) => {
  const bad = parseUnitFile('web@.service', lines('[Unit]', 'Description=ok', '[Service]', 'ExecStart=/bin/echo %u'));
  throwsUnitError(t, () => instantiate(bad, '1'), 'web@.service', 4, 'ExecStart=/bin/echo %u: unsupported specifier "%u" (supported: %n %N %p %P %i %I %m %b %H %l %%; write "%%" for a literal %)');
  const fleetH = parseUnitFile('web@.service', lines('[X-Fleet]', 'MachineMetadata=host=%H'));
  throwsUnitError(t, () => instantiate(fleetH, '1'), 'web@.service', 2, 'MachineMetadata=host=%H: "%H" stands for something of the machine that runs the unit, which is not chosen yet where this is read (it works in [Unit], [Service] and [X-Service])');
  throwsUnitError(t, () => fleetOptions(parseUnitFile('a.service', lines('[X-Fleet]', 'MachineOf=%m.service'))), 'a.service', 2, /MachineOf=%m.service: "%m" stands for/);
  const plain = parseUnitFile('a.service', lines('[X-Fleet]', 'Conflicts=50%'));
  throwsUnitError(t, () => fleetOptions(plain), 'a.service', 2, 'Conflicts=50%: a lone "%" ends the value (write "%%" for a literal %)');
  // Sections systemd does not read are not resolved, so a % there is no error.
  t.doesNotThrow(() => instantiate(parseUnitFile('w@.service', '[X-Mine]\nA=%u\n'), '1'));
});

t.test("[Service] with the machine's specifiers: kept when checked, filled in by the machine that runs it", async (t) => {
  const text = lines('[Unit]', 'Description=web on %H', '[Service]', "ExecStart=/bin/sh -c 'echo %H %l %m %b 100%% %i'", 'Environment=WHO=%H/%i');
  const template = parseUnitFile('web@.service', text);
  const unit = instantiate(template, '8080');
  t.equal(serviceSpec(unit).spec.execStart[0]!.text, "/bin/sh -c 'echo %H %l %m %b 100% 8080'", 'checked before scheduling: kept as written');
  const { spec } = serviceSpec(unit, FACTS);
  t.equal(spec.execStart[0]!.text, `/bin/sh -c 'echo node7.example.com node7 ${'a'.repeat(32)} ${'b'.repeat(32)} 100% 8080'`);
  t.same(spec.environment, { WHO: 'node7.example.com/8080' });
  const plainUnit = parseUnitFile('web.service', text.replace('%i', 'x'));
  t.equal(serviceSpec(plainUnit, FACTS).spec.execStart[0]!.text, `/bin/sh -c 'echo node7.example.com node7 ${'a'.repeat(32)} ${'b'.repeat(32)} 100% x'`, 'a plain unit too');
  t.equal(unitDescription(unit), 'web on %H', 'the description is shown as written');

  // [X-Service] is read on the machine with the same specifiers: an instance keeps %H, %l, %b and %% for it.
  const svc = instantiate(parseUnitFile('api@.service', lines('[X-Service]', 'Port=80%i', 'Meta=host=%H', 'Meta=short=%l', 'Meta=boot=%b', 'Meta=load=100%%', 'Meta=literal=%%i')), '8');
  const expand = (v: string) => expandSpecifiers(v, svc.name, FACTS);
  const def = serviceFromUnit(findServiceSection(svc.sections)!, { unitName: svc.name, machineId: FACTS.machineId, address: '10.0.0.7', expand });
  t.same([def.Port, def.Meta], [808, { host: 'node7.example.com', short: 'node7', boot: 'b'.repeat(32), load: '100%', literal: '%i' }]);
});

t.test('instantiate refuses what is not a template or not an instance name', async (t) => {
  const plain = parseUnitFile('web.service', '[Service]\nExecStart=/bin/x\n');
  throwsUnitError(t, () => instantiate(plain, '1'), 'web.service', 0, 'not a template unit (a template is named like name@.service)');
  const inst = parseUnitFile('web@1.service', '[Service]\nExecStart=/bin/x\n');
  throwsUnitError(t, () => instantiate(inst, '2'), 'web@1.service', 0, 'not a template unit (a template is named like name@.service)');
  const template = parseUnitFile('web@.service', '[Service]\nExecStart=/bin/x\n');
  t.throws(() => instantiate(template, ''), UnitNameError);
  t.throws(() => instantiate(template, 'a b'), { name: 'UnitNameError', unitName: 'web@a b.service' });
  t.equal(instantiate(template, 'other@1.service').name, 'web@other@1.service.service', 'an instance name of another template is an instance string');
});
