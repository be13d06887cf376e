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
  t.throws(() => expandSpecifiers('%H', 'x.service'), {
    message: 'unsupported specifier "%H" (supported: %n %N %p %P %i %I %%; write "%%" for a literal %)',
  });
  t.throws(() => expandSpecifiers('100%', 'x.service'), { message: 'a lone "%" ends the value (write "%%" for a literal %)' });
  t.throws(() => expandSpecifiers('100% sure', 'x.service'), { message: /unsupported specifier "% "/ });
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
      ['Service', ['Environment=PORT=8080 NAME=web@8080', 'ExecStart=/usr/bin/python3 -m http.server 8080', 'ExecStartPost=/bin/echo 100% of web']],
      ['X-Fleet', ['Conflicts=web@*.service', 'MachineOf=db@8080.service']],
      ['X-Service', ['Name=web']],
      ['X-Other', ['Kept=%i verbatim']],
    ],
  );
  t.same(unit.sections[1]!.entries[1], { key: 'ExecStart', value: '/usr/bin/python3 -m http.server 8080', line: 6 }, 'lines kept');
  t.equal(template.sections[1]!.entries[1]!.value, '/usr/bin/python3 -m http.server %i', 'the template is not changed');

  t.same(instantiate(template, 'web@8080.service'), unit, 'the full instance name works too');

  // The readers take an instantiated unit's values as they are: "100%" must not be resolved again.
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
  const bad = parseUnitFile('web@.service', lines('[Unit]', 'Description=ok', '[Service]', 'ExecStart=/bin/echo %H'));
  throwsUnitError(t, () => instantiate(bad, '1'), 'web@.service', 4, 'ExecStart=/bin/echo %H: unsupported specifier "%H" (supported: %n %N %p %P %i %I %%; write "%%" for a literal %)');
  const plain = parseUnitFile('a.service', lines('[X-Fleet]', 'Conflicts=50%'));
  throwsUnitError(t, () => fleetOptions(plain), 'a.service', 2, 'Conflicts=50%: a lone "%" ends the value (write "%%" for a literal %)');
  // Sections systemd does not read are not resolved, so a % there is no error.
  t.doesNotThrow(() => instantiate(parseUnitFile('w@.service', '[X-Mine]\nA=%H\n'), '1'));
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
