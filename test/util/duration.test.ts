// The one duration grammar (Go's time.ParseDuration) and the forms read with it: the Consul/Go
// form (not negative), fleet's (a bare number is seconds), and kvctl's Go error texts.
import t from 'tap';
import { formatDuration, parseDuration, parseSecondsOrDuration, scanDuration } from '../../src/util/duration.js';
import { parseGoDuration } from '../../src/kvctl/format.js';

t.test("Go's grammar", async (t) => {
  t.same(scanDuration('300ms'), { ms: 300 });
  t.same(scanDuration('2h45m'), { ms: 9_900_000 });
  t.same(scanDuration('1m30.5s'), { ms: 90_500 });
  t.same(scanDuration('.5s'), { ms: 500 });
  t.same(scanDuration('1.s'), { ms: 1000 });
  t.same(scanDuration('-1.5h'), { ms: -5_400_000 });
  t.same(scanDuration('+10us'), { ms: 0.01 });
  t.same(scanDuration('250µs'), { ms: 0.25 });
  t.same(scanDuration('0'), { ms: 0 }, 'zero needs no unit');
  t.same(scanDuration(''), { error: 'invalid' });
  t.same(scanDuration('s'), { error: 'invalid' });
  t.same(scanDuration('5'), { error: 'missing unit' });
  t.same(scanDuration('5d'), { error: 'unknown unit', unit: 'd' });
  t.same(scanDuration('1s2'), { error: 'missing unit' });
});

t.test('the forms read with it', async (t) => {
  t.equal(parseDuration('1m30s'), 90_000);
  t.equal(parseDuration('0'), 0);
  t.throws(() => parseDuration('-1s'), { message: '"-1s" is not a duration (write it like 10s, 500ms or 1m30s)' }, 'not negative');
  t.throws(() => parseDuration('10'), { message: /"10" is not a duration/ });
  t.equal(parseSecondsOrDuration('2'), 2000, 'fleet: a bare number is seconds');
  t.equal(parseSecondsOrDuration(' 0.5 '), 500);
  t.equal(parseSecondsOrDuration('250ms'), 250);
  t.equal(parseSecondsOrDuration('1m'), 60_000);
  t.equal(parseSecondsOrDuration('-2'), undefined);
  t.equal(parseSecondsOrDuration('soon'), undefined);
  t.equal(parseGoDuration('2s'), 2000);
  t.throws(() => parseGoDuration('5'), { message: 'time: missing unit in duration "5"' });
  t.throws(() => parseGoDuration('5d'), { message: 'time: unknown unit "d" in duration "5d"' });
  t.throws(() => parseGoDuration('x'), { message: 'time: invalid duration "x"' });
  t.equal(formatDuration(90_000), '1m30s');
});
