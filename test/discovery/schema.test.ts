// Validation of registrations (every problem at once, precise texts), the stored record, keys,
// durations and the small parsers of check targets.
import t from 'tap';
import {
  ValidationError,
  decodeInstance,
  encodeInstance,
  formatDuration,
  instanceKey,
  matchesFilter,
  parseDuration,
  validateDefinition,
  worstStatus,
  type ServiceInstance,
} from '../../src/discovery/index.js';
import { isAddress, normalizePrefix, parseHostPort, parseInstanceKey } from '../../src/discovery/schema.js';
import { splitWords } from '../../src/util/words.js';

const node = { node: 'm1' };

function problems(def: unknown): string[] {
  try {
    validateDefinition(def, node);
  } catch (e) {
    if (e instanceof ValidationError) return e.problems.map((p) => p.message);
    throw e;
  }
  throw new Error('no validation error');
}

t.test('a minimal registration gets its defaults', async (t) => {
  const i = validateDefinition({ Name: 'web', Address: '10.0.0.5', Port: 8080 }, node);
  t.same(i, { ID: 'm1-8080', Service: 'web', Address: '10.0.0.5', Port: 8080, Tags: [], Meta: {}, Node: 'm1', Status: 'passing', Checks: [] });
});

t.test('checks get IDs, names, interval and timeout', async (t) => {
  const one = validateDefinition({ Name: 'web', ID: 'web-1', Address: 'web1.example.com', Port: 80, Checks: [{ Type: 'http', Target: 'http://127.0.0.1/health' }] }, node);
  t.same(one.Checks, [
    { CheckID: 'service:web-1', Name: "Service 'web' check", Type: 'http', Target: 'http://127.0.0.1/health', Interval: '10s', Timeout: '5s', Status: 'critical', Output: '' },
  ]);
  t.equal(one.Status, 'critical', 'an unchecked instance starts critical, as Consul');
  const two = validateDefinition(
    {
      Name: 'db',
      ID: 'db-1',
      Address: '::1',
      Port: 5432,
      Tags: ['primary', 'primary', 'v2'],
      Meta: { version: '15' },
      Checks: [
        { Type: 'tcp', Target: '[::1]:5432', Interval: '1s' },
        { Type: 'exec', Target: '/bin/check "a b"', Interval: '1m30s', Timeout: '30s', Status: 'passing' },
        { Type: 'ttl', Interval: '30s', CheckID: 'heartbeat', Name: 'Heartbeat' },
      ],
    },
    node,
  );
  t.same(two.Tags, ['primary', 'v2'], 'duplicate tags once');
  t.same(
    two.Checks.map((c) => [c.CheckID, c.Type, c.Interval, c.Timeout, c.Status]),
    [
      ['service:db-1:1', 'tcp', '1s', '1s', 'critical'],
      ['service:db-1:2', 'exec', '1m30s', '30s', 'passing'],
      ['heartbeat', 'ttl', '30s', '', 'critical'],
    ],
    'a default timeout longer than the interval becomes the interval',
  );
});

t.test('every problem is reported at once, precisely', async (t) => {
  t.same(problems({}), ['Name: required (the service name)', 'Address: required (an IP address or a host name)', 'Port: required (an integer 1-65535)']);
  t.same(problems({ Name: 'Web_1', Address: '10.0.0.5', Port: 80 }), [
    'Name: "Web_1" is not a valid service name: use 1-63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit (a DNS label)',
  ]);
  t.match(problems({ Name: 'a'.repeat(64), Address: '10.0.0.5', Port: 80 })[0], /is not a valid service name/);
  t.match(problems({ Name: '-web', Address: '10.0.0.5', Port: 80 })[0], /is not a valid service name/);
  t.same(problems({ Name: 'web', Address: '10.0.0.5', Port: 0 }), ['Port: 0 is not a port (an integer 1-65535)']);
  t.same(problems({ Name: 'web', Address: '10.0.0.5', Port: 65536 }), ['Port: 65536 is not a port (an integer 1-65535)']);
  t.same(problems({ Name: 'web', Address: '10.0.0.5', Port: 80.5 }), ['Port: 80.5 is not a port (an integer 1-65535)']);
  t.same(problems({ Name: 'web', Address: '10.0.0.5', Port: '80' }), ['Port: "80" is not a port (an integer 1-65535)']);
  t.same(problems({ Name: 'web', Address: 'not an address!', Port: 80 }), ['Address: "not an address!" is not an IP address or a host name']);
  t.same(problems({ Name: 'web', Address: '10.0.0.5', Port: 80, ID: 'a/b' }), [
    'ID: "a/b" is not a valid instance ID: use 1-128 characters of A-Z, a-z, 0-9, "_", ".", ":", "@" and "-", starting with a letter or digit',
  ]);
  t.same(problems({ Name: 'web', Address: '10.0.0.5', Port: 80, Node: 'bad node' }), ['Node: "bad node" is not a valid node name (1-128 characters of A-Z, a-z, 0-9, "_", "." and "-")']);
  t.same(problems({ Name: 'web', Address: '10.0.0.5', Port: 80, port: 81 }), ['port: unknown field (a registration has Name, ID, Address, Port, Tags, Meta, Node, Checks)']);
  t.same(problems({ Name: 'web', Address: '10.0.0.5', Port: 80, Tags: 'a' }), ['Tags: must be a list of strings']);
  t.same(problems({ Name: 'web', Address: '10.0.0.5', Port: 80, Tags: ['ok', 'has space', ''] }), [
    'Tags[1]: "has space" is not a valid tag (1-255 characters, no spaces or commas)',
    'Tags[2]: "" is not a valid tag (1-255 characters, no spaces or commas)',
  ]);
  t.same(problems({ Name: 'web', Address: '10.0.0.5', Port: 80, Meta: [] }), ['Meta: must be an object of strings']);
  t.same(problems({ Name: 'web', Address: '10.0.0.5', Port: 80, Meta: { 'a b': 'x', n: 1 } }), [
    'Meta.a b: a meta key is 1-128 characters of A-Z, a-z, 0-9, "_" and "-"',
    'Meta.n: 1: a meta value is a string of at most 512 characters',
  ]);
  t.same(problems({ Name: 'web', Address: '10.0.0.5', Port: 80, Checks: {} }), ['Checks: must be a list of checks']);
  t.throws(() => validateDefinition(null, node), { message: 'invalid service registration: a registration must be an object' });
});

t.test('check problems', async (t) => {
  const base = { Name: 'web', Address: '10.0.0.5', Port: 80 };
  const check = (c: unknown) => problems({ ...base, Checks: [c] });
  t.same(check({ Type: 'grpc', Target: 'x' }), ['Checks[0].Type: "grpc" is not a check type (use http, tcp, exec or ttl)']);
  t.same(check({ Target: 'x' }), ['Checks[0].Type: required (http, tcp, exec or ttl)']);
  t.same(check('http://x'), ['Checks[0]: a check must be an object']);
  t.same(check({ Type: 'http' }), ['Checks[0].Target: required for a http check']);
  t.same(check({ Type: 'http', Target: 'nope' }), ['Checks[0].Target: "nope" is not a URL (an http check needs http://host:port/path)']);
  t.same(check({ Type: 'http', Target: 'ftp://x/' }), ['Checks[0].Target: "ftp://x/": an http check needs an http:// or https:// URL']);
  t.same(check({ Type: 'tcp', Target: 'host' }), ['Checks[0].Target: "host" is not host:port (a tcp check needs e.g. 10.0.0.5:6379)']);
  t.same(check({ Type: 'tcp', Target: 'host:70000' }), ['Checks[0].Target: "host:70000" is not host:port (a tcp check needs e.g. 10.0.0.5:6379)']);
  t.same(check({ Type: 'exec', Target: '   ' }), ['Checks[0].Target: an exec check needs a command line']);
  t.same(check({ Type: 'exec', Target: '/bin/x "open' }), ['Checks[0].Target: "/bin/x \\"open": a " quote is not closed']);
  t.same(check({ Type: 'exec', Target: 3 }), ['Checks[0].Target: 3 is not a string']);
  t.same(check({ Type: 'ttl', Target: 'x', Interval: '10s' }), ['Checks[0].Target: a ttl check has no target']);
  t.same(check({ Type: 'ttl' }), ['Checks[0].Interval: a ttl check needs its TTL here (e.g. 30s)']);
  t.same(check({ Type: 'ttl', Interval: '10s', Timeout: '1s' }), ['Checks[0].Timeout: a ttl check has no timeout (its Interval is the TTL)']);
  t.same(check({ Type: 'http', Target: 'http://x/', Interval: '10' }), ['Checks[0].Interval: "10" is not a duration (write it like 10s, 500ms or 1m30s)']);
  t.same(check({ Type: 'http', Target: 'http://x/', Interval: 10 }), ['Checks[0].Interval: 10 is not a duration (write it like 10s or 500ms)']);
  t.same(check({ Type: 'http', Target: 'http://x/', Interval: '1ms' }), ['Checks[0].Interval: "1ms" is too short or not a whole number of milliseconds (at least 10ms)']);
  t.same(check({ Type: 'http', Target: 'http://x/', Interval: '10s', Timeout: '20s' }), [
    'Checks[0].Timeout: "20s" is longer than the interval (10s): a check must end before its next run',
  ]);
  t.same(check({ Type: 'http', Target: 'http://x/', CheckID: 'a b' }), [
    'Checks[0].CheckID: "a b" is not a valid check ID: use 1-128 characters of A-Z, a-z, 0-9, "_", ".", ":", "@" and "-", starting with a letter or digit',
  ]);
  t.same(check({ Type: 'http', Target: 'http://x/', Name: '' }), ['Checks[0].Name: "": a check name is 1-256 characters']);
  t.same(check({ Type: 'http', Target: 'http://x/', Status: 'ok' }), ['Checks[0].Status: "ok" is not a status (passing, warning or critical)']);
  t.same(check({ Type: 'http', Target: 'http://x/', Script: 'x' }), ['Checks[0].Script: unknown field (a check has Type, Target, CheckID, Name, Interval, Timeout, Status)']);
  t.same(
    problems({ ...base, Checks: [{ Type: 'ttl', Interval: '1s', CheckID: 'x' }, { Type: 'ttl', Interval: '1s', CheckID: 'x' }] }),
    ['Checks[1].CheckID: "x" is used by another check of this instance'],
  );
});

t.test('the stored record: pretty JSON in a fixed order, read back', async (t) => {
  const i = validateDefinition({ Port: 80, Name: 'web', Address: '10.0.0.5', ID: 'w1', Checks: [{ Type: 'ttl', Interval: '5s' }] }, node);
  const text = encodeInstance(i);
  t.match(text, /^\{\n {2}"ID": "w1",\n {2}"Service": "web",\n {2}"Address": "10\.0\.0\.5",\n {2}"Port": 80,/);
  t.ok(text.endsWith('}\n'));
  t.same(decodeInstance(text), i);
  const bad = (s: string) => t.throws(() => decodeInstance(s), { code: 'BadRecord' });
  bad('not json');
  bad('[]');
  for (const field of ['ID', 'Service', 'Address', 'Port', 'Tags', 'Meta', 'Node', 'Status', 'Checks']) {
    bad(JSON.stringify({ ...i, [field]: field === 'Address' || field === 'Node' ? 1 : 'bad value!' }));
  }
  bad(JSON.stringify({ ...i, Checks: [null] }));
  bad(JSON.stringify({ ...i, Checks: [{ ...i.Checks[0], Type: 'grpc' }] }));
  bad(JSON.stringify({ ...i, Checks: [{ ...i.Checks[0], Output: 1 }] }));
});

t.test('status, filters, keys', async (t) => {
  t.equal(worstStatus([]), 'passing');
  t.equal(worstStatus(['passing', 'warning']), 'warning');
  t.equal(worstStatus(['warning', 'critical', 'passing']), 'critical');
  const i = { Tags: ['a'], Status: 'warning' } as ServiceInstance;
  t.ok(matchesFilter(i, {}));
  t.ok(matchesFilter(i, { tag: 'a', healthyOnly: true }));
  t.notOk(matchesFilter(i, { tag: 'b' }));
  t.notOk(matchesFilter(i, { passingOnly: true }));
  t.notOk(matchesFilter({ ...i, Status: 'critical' }, { healthyOnly: true }));
  t.equal(instanceKey('/flotilla/services', 'web', 'w1'), '/flotilla/services/web/w1');
  t.equal(normalizePrefix('/x/'), '/x/');
  t.same(parseInstanceKey('/flotilla/services/', '/flotilla/services/web/w1'), { service: 'web', id: 'w1' });
  t.equal(parseInstanceKey('/flotilla/services/', '/other/web/w1'), undefined);
  t.equal(parseInstanceKey('/flotilla/services/', '/flotilla/services/web'), undefined);
  t.equal(parseInstanceKey('/flotilla/services/', '/flotilla/services/Web/w1'), undefined);
});

t.test('durations, host:port, command lines, addresses', async (t) => {
  t.equal(parseDuration('10s'), 10000);
  t.equal(parseDuration('500ms'), 500);
  t.equal(parseDuration('1m30s'), 90000);
  t.equal(parseDuration('1.5h'), 5400000);
  t.equal(parseDuration('1000us'), 1);
  t.throws(() => parseDuration(''), /is not a duration/);
  t.throws(() => parseDuration('10'), /is not a duration/);
  t.throws(() => parseDuration('10x'), /is not a duration/);
  t.equal(formatDuration(0), '0s');
  t.equal(formatDuration(250), '250ms');
  t.equal(formatDuration(1500), '1500ms');
  t.equal(formatDuration(90000), '1m30s');
  t.equal(formatDuration(3600000), '1h');
  t.same(parseHostPort('10.0.0.1:80'), { host: '10.0.0.1', port: 80 });
  t.same(parseHostPort('[::1]:80'), { host: '::1', port: 80 });
  t.same(parseHostPort('db.local:5432'), { host: 'db.local', port: 5432 });
  t.equal(parseHostPort('[10.0.0.1]:80'), undefined);
  t.equal(parseHostPort('::1:80'), undefined);
  t.equal(parseHostPort('x:0'), undefined);
  // Exec checks split as systemd splits a command line, with a backslash taking the next character.
  const split = (s: string) => splitWords(s, { cunescape: false });
  t.same(split(`/bin/sh -c 'exit 1'`), ['/bin/sh', '-c', 'exit 1']);
  t.same(split(`a "b \\"c\\"" d\\ e ''`), ['a', 'b "c"', 'd e', '']);
  t.throws(() => split(`a 'b`), /a ' quote is not closed/);
  t.ok(isAddress('example.com'));
  t.ok(isAddress('example.com.'));
  t.notOk(isAddress('1.2.3'), 'a dotted number that is not an IP is not a host name');
  t.notOk(isAddress('a..b'));
  t.notOk(isAddress(''));
});
