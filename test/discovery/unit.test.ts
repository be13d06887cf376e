// The [X-Service] section of a unit file: keys, defaults, specifiers, check forms, and errors
// that name the line.
import t from 'tap';
import { ValidationError, findServiceSection, serviceFromUnit, validateDefinition } from '../../src/discovery/index.js';
import { checkFromSpec } from '../../src/discovery/unit.js';
import { expandSpecifiers } from '../../src/fleet/unit/index.js';

const MACHINE = '0123456789abcdef0123456789abcdef';
/** Specifiers as fleet resolves them on the machine that runs the unit (host7.example.com). */
const fleetExpand = (unitName: string, hostname = 'host7.example.com') => (v: string) => expandSpecifiers(v, unitName, { machineId: MACHINE, bootId: 'b'.repeat(32), hostname });
const ctx = { unitName: 'web@2.service', machineId: MACHINE, address: '10.0.0.7', expand: fleetExpand('web@2.service') };

function section(lines: string[], start = 10) {
  return {
    name: 'X-Service',
    line: start,
    entries: lines.map((l, i) => {
      const eq = l.indexOf('=');
      return { key: l.slice(0, eq), value: l.slice(eq + 1), line: start + 1 + i };
    }),
  };
}

function errorOf(lines: string[], c = ctx): string {
  try {
    serviceFromUnit(section(lines), c);
  } catch (e) {
    if (e instanceof ValidationError) return e.message;
    throw e;
  }
  throw new Error('no error');
}

t.test('defaults: name from the unit, ID from machine and unit, the machine address', async (t) => {
  const def = serviceFromUnit(section(['Port=8080']), ctx);
  t.same(def, { Name: 'web', ID: '01234567-web@2.service', Address: '10.0.0.7', Port: 8080, Tags: [], Meta: {}, Node: ctx.machineId, Checks: [] });
  t.doesNotThrow(() => validateDefinition(def, { node: 'x' }));
});

t.test('every key, specifiers, check forms', async (t) => {
  const def = serviceFromUnit(
    section([
      'Name=api',
      'ID=api-%i',
      'Port=80%i',
      'Tags=primary, v2',
      'Tags=%p',
      'Meta=unit=%n',
      'Meta=base=%N',
      'Check=http://%H:80%i/health',
      'Check=tcp:6379',
      'Check=tcp://[::1]:22',
      'Check=exec:/usr/bin/check --quick',
      'Check=ttl:30s',
      'CheckInterval=2s',
      'Address=10.0.0.9',
      'Meta=pct=100%%',
    ]),
    { ...ctx, expand: fleetExpand('web@2.service', 'host7') },
  );
  t.same(def.Tags, ['primary', 'v2', 'web']);
  t.same(def.Meta, { unit: 'web@2.service', base: 'web@2', pct: '100%' });
  t.equal(def.Address, '10.0.0.9');
  t.equal(def.Port, 802);
  t.equal(def.ID, 'api-2');
  t.same(def.Checks, [
    { Type: 'http', Target: 'http://host7:802/health', Interval: '2s' },
    { Type: 'tcp', Target: '10.0.0.9:6379', Interval: '2s' },
    { Type: 'tcp', Target: '[::1]:22', Interval: '2s' },
    { Type: 'exec', Target: '/usr/bin/check --quick', Interval: '2s' },
    { Type: 'ttl', Interval: '30s' },
  ], 'tcp:PORT dials the Address even when it comes later; the timeout defaults to at most the interval');
  const i = validateDefinition(def, { node: 'x' });
  t.same(i.Checks.map((c) => c.Timeout), ['2s', '2s', '2s', '2s', '']);
  const reset = serviceFromUnit(section(['Port=1', 'Tags=a', 'Tags=', 'Check=ttl:5s', 'Check=', 'CheckTimeout=1s', 'Check=tcp:1']), ctx);
  t.same(reset.Tags, []);
  t.same(reset.Checks, [{ Type: 'tcp', Target: '10.0.0.7:1', Interval: '10s', Timeout: '1s' }]);
  const v6 = serviceFromUnit(section(['Port=1', 'Check=tcp:1']), { ...ctx, address: 'fd00::1' });
  t.equal(v6.Checks![0]!.Target, '[fd00::1]:1');
  const plain = serviceFromUnit(section(['Port=1', 'Check=http://x/']), { ...ctx, unitName: 'cache.service' });
  t.same([plain.Name, plain.ID, plain.Checks], ['cache', '01234567-cache.service', [{ Type: 'http', Target: 'http://x/', Interval: '10s', Timeout: '5s' }]]);
  t.equal(serviceFromUnit(section(['Port=1']), { ...ctx, unitName: 'noext' }).Name, 'noext');
});

t.test("the machine's specifiers and escapes, as in the unit's other sections (fleet resolves them)", async (t) => {
  const def = serviceFromUnit(
    section(['Port=1', 'Meta=host=%H', 'Meta=short=%l', 'Meta=boot=%b', 'Meta=machine=%m', 'Meta=path=%I', 'Meta=prefix=%P', 'Meta=literal=%%i', 'Meta=pct=5%%']),
    { ...ctx, unitName: 'srv-data@var-lib-x.service', expand: fleetExpand('srv-data@var-lib-x.service') },
  );
  t.same(def.Meta, {
    host: 'host7.example.com',
    short: 'host7',
    boot: 'b'.repeat(32),
    machine: MACHINE,
    path: 'var/lib/x',
    prefix: 'srv/data',
    literal: '%i',
    pct: '5%',
  });
  t.equal(def.Name, 'srv-data', 'the default name is the prefix as written');
  const plain = serviceFromUnit(section(['Port=1', 'Meta=x=%i%%']), { unitName: 'web@2.service', machineId: MACHINE, address: '10.0.0.7' });
  t.same(plain.Meta, { x: '%i%%' }, 'without an expand function values are taken as written');
  t.equal(errorOf(['Port=1', 'Meta=x=5%']), 'web@2.service: invalid [X-Service]: line 12: Meta=x=5%: a lone "%" ends the value (write "%%" for a literal %)');
});

t.test('errors name the line', async (t) => {
  t.equal(errorOf(['Port=http']), 'web@2.service: invalid [X-Service]: line 11: Port=http: not a port (an integer 1-65535)');
  t.equal(errorOf(['Name=web']), 'web@2.service: invalid [X-Service]: line 10: Port= is required');
  t.equal(errorOf(['Port=1'], { ...ctx, unitName: 'My_App.service' }), 'web@2.service: invalid [X-Service]: line 10: Name= is required (the unit\'s name "My_App" is not a valid service name)'.replace('web@2.service', 'My_App.service'));
  t.equal(errorOf(['Port=1', 'Colour=red']), 'web@2.service: invalid [X-Service]: line 12: Colour=red: unknown key in [X-Service] (use Name, ID, Port, Address, Tags, Check, CheckInterval, CheckTimeout, Meta)');
  t.equal(errorOf(['Port=1', 'Check=grpc://x']), 'web@2.service: invalid [X-Service]: line 12: Check=grpc://x: unknown check (use http://…, https://…, tcp://host:port, tcp:PORT, exec:/path args or ttl:30s)');
  t.equal(errorOf(['Port=1', 'Check=tcp:x']), 'web@2.service: invalid [X-Service]: line 12: Check=tcp:x: write tcp:PORT or tcp://host:port');
  t.equal(errorOf(['Port=1', 'Meta=novalue']), 'web@2.service: invalid [X-Service]: line 12: Meta=novalue: write Meta=key=value');
  t.equal(
    errorOf(['Port=%x']),
    'web@2.service: invalid [X-Service]: line 11: Port=%x: unsupported specifier "%x" (supported: %n %N %p %P %i %I %m %b %H %l %%; write "%%" for a literal %); line 11: Port=%x: not a port (an integer 1-65535)',
  );
  // Problems found by the schema are mapped back to their lines.
  t.equal(errorOf(['Name=Web', 'Port=1']), 'web@2.service: invalid [X-Service]: line 11: Name: "Web" is not a valid service name: use 1-63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit (a DNS label)');
  t.equal(errorOf(['Port=70000']), 'web@2.service: invalid [X-Service]: line 11: Port: 70000 is not a port (an integer 1-65535)');
  t.equal(errorOf(['Port=1', 'Address=bad address']), 'web@2.service: invalid [X-Service]: line 12: Address: "bad address" is not an IP address or a host name');
});

t.test('schema problems of checks point at the Check, CheckInterval or CheckTimeout line', async (t) => {
  t.equal(
    errorOf(['Port=1', 'Check=http://x/', 'CheckInterval=1s', 'CheckTimeout=5s']),
    'web@2.service: invalid [X-Service]: line 14: Checks[0].Timeout: "5s" is longer than the interval (1s): a check must end before its next run',
  );
  t.equal(errorOf(['Port=1', 'Check=http://x/', 'CheckInterval=soon']), 'web@2.service: invalid [X-Service]: line 13: Checks[0].Interval: "soon" is not a duration (write it like 10s, 500ms or 1m30s)');
  t.equal(errorOf(['Port=1', 'Check=ttl:never']), 'web@2.service: invalid [X-Service]: line 12: Checks[0].Interval: "never" is not a duration (write it like 10s, 500ms or 1m30s)');
  t.equal(errorOf(['Port=1', 'Check=tcp://nohost']), 'web@2.service: invalid [X-Service]: line 12: Checks[0].Target: "nohost" is not host:port (a tcp check needs e.g. 10.0.0.5:6379)');
  t.equal(errorOf(['Port=1', 'Meta=a b=c']), 'web@2.service: invalid [X-Service]: line 12: Meta.a b: a meta key is 1-128 characters of A-Z, a-z, 0-9, "_" and "-"');
  t.same(serviceFromUnit(section(['Port=1', 'Tags=ok', 'Tags=x\ty']), ctx).Tags, ['ok', 'x', 'y'], 'tabs separate tags too');
  t.equal(errorOf(['Port=1', 'ID=a/b']), 'web@2.service: invalid [X-Service]: line 12: ID: "a/b" is not a valid instance ID: use 1-128 characters of A-Z, a-z, 0-9, "_", ".", ":", "@" and "-", starting with a letter or digit');
});

t.test('finding the section; check specs', async (t) => {
  const s = [section(['Port=1'], 1), { name: 'Service', line: 5, entries: [] }, section(['Port=2'], 9)];
  t.equal(findServiceSection(s)?.line, 9, 'the last one');
  t.equal(findServiceSection([{ name: 'Unit', line: 1, entries: [] }]), undefined);
  t.same(checkFromSpec('tcp:80'), { Type: 'tcp', Target: ':80' });
  t.same(checkFromSpec('tcp:80', 'fd00::2'), { Type: 'tcp', Target: '[fd00::2]:80' });
  t.same(checkFromSpec('https://x/'), { Type: 'http', Target: 'https://x/' });
});
