// Unit names as systemd and fleet accept them, and the template/instance helpers.
import t from 'tap';
import {
  UnitNameError,
  instanceName,
  instanceOf,
  isInstance,
  isTemplate,
  isValidUnitName,
  prefixOf,
  splitUnitName,
  templateOf,
  unitNameProblem,
  unitTypeOf,
  validateUnitName,
} from '../../../src/fleet/unit/index.js';

t.test('valid names', async (t) => {
  for (const name of [
    'hello.service',
    'hello.socket',
    'data.mount',
    'a.b.c.timer',
    'x:y_z-1\\x2d.path',
    'web@.service',
    'web@1.service',
    'web@a.b.service',
    'web@a@b.service',
    'web@-.service',
    'multi-user.target',
    'user.slice',
    'session-1.scope',
    'dev-sda.device',
    'home.automount',
    'swapfile.swap',
    'old.busname',
    'old.snapshot',
    'x'.repeat(247) + '.service',
  ]) {
    t.equal(unitNameProblem(name), undefined, name);
    t.ok(isValidUnitName(name), name);
    t.doesNotThrow(() => validateUnitName(name));
  }
});

t.test('invalid names, each with its reason', async (t) => {
  const cases: [string, string][] = [
    ['', 'a unit name cannot be empty'],
    ['x'.repeat(248) + '.service', 'longer than 255 characters (256)'],
    ['hello', 'a unit name ends in its type, as in hello.service'],
    ['.service', 'a unit name ends in its type, as in hello.service'],
    ['hello.', 'a unit name ends in its type, as in hello.service'],
    [
      'hello.conf',
      'unknown unit type ".conf" (known: .service .socket .busname .target .snapshot .device .mount .automount .swap .timer .path .slice .scope)',
    ],
    ['hello.Service', 'unknown unit type ".Service" (known: .service .socket .busname .target .snapshot .device .mount .automount .swap .timer .path .slice .scope)'],
    ['hel lo.service', 'the character " " is not allowed (letters, digits and :_.\\@- are)'],
    ['hello/x.service', 'the character "/" is not allowed (letters, digits and :_.\\@- are)'],
    ['héllo.service', 'the character "é" is not allowed (letters, digits and :_.\\@- are)'],
    ['web@*.service', 'the character "*" is not allowed (letters, digits and :_.\\@- are)'],
    ['@.service', 'nothing before "@"'],
    ['@x.service', 'nothing before "@"'],
    ['data@.mount', '.mount units cannot be templates or instances (only .service .socket .target .timer .path)'],
    ['data@1.slice', '.slice units cannot be templates or instances (only .service .socket .target .timer .path)'],
  ];
  for (const [name, reason] of cases) {
    t.equal(unitNameProblem(name), reason, JSON.stringify(name));
    t.notOk(isValidUnitName(name));
    t.throws(() => validateUnitName(name), { name: 'UnitNameError', unitName: name, reason, message: `invalid unit name ${JSON.stringify(name)}: ${reason}` });
  }
});

t.test('templates and instances', async (t) => {
  t.same(splitUnitName('hello.service'), { prefix: 'hello', instance: undefined, type: 'service' });
  t.same(splitUnitName('web@.service'), { prefix: 'web', instance: '', type: 'service' });
  t.same(splitUnitName('web@8080.service'), { prefix: 'web', instance: '8080', type: 'service' });
  t.same(splitUnitName('a.b@c.d@e.socket'), { prefix: 'a.b', instance: 'c.d@e', type: 'socket' });

  t.ok(isTemplate('web@.service'));
  t.notOk(isTemplate('web@1.service'));
  t.notOk(isTemplate('web.service'));
  t.notOk(isTemplate('@.service'), 'not a valid name');
  t.ok(isInstance('web@1.service'));
  t.notOk(isInstance('web@.service'));
  t.notOk(isInstance('web.service'));
  t.notOk(isInstance('web@1.conf'));

  t.equal(templateOf('web@1.service'), 'web@.service');
  t.equal(templateOf('web@a.b.service'), 'web@.service');
  t.equal(templateOf('web@.service'), 'web@.service', 'a template is its own');
  t.equal(templateOf('web.service'), undefined);
  t.equal(instanceOf('web@1.service'), '1');
  t.equal(instanceOf('web@.service'), '');
  t.equal(instanceOf('web.service'), undefined);
  t.equal(prefixOf('web@1.service'), 'web');
  t.equal(prefixOf('hello.world.service'), 'hello.world');
  t.equal(unitTypeOf('web@1.socket'), 'socket');
  t.throws(() => templateOf('nope'), UnitNameError);
  t.throws(() => prefixOf(''), UnitNameError);

  t.equal(instanceName('web@.service', '8080'), 'web@8080.service');
  t.throws(() => instanceName('web.service', '1'), { name: 'UnitNameError', reason: 'not a template (name@.type)' });
  t.throws(() => instanceName('web@2.service', '1'), { name: 'UnitNameError', reason: 'not a template (name@.type)' });
  t.throws(() => instanceName('web@.service', ''), { name: 'UnitNameError', reason: 'the instance name is empty' });
  t.throws(() => instanceName('web@.service', 'a b'), { name: 'UnitNameError', unitName: 'web@a b.service' });
});
