// systemd time spans and booleans.
import t from 'tap';
import { parseBoolean, parseTimeSpan } from '../../../src/fleet/unit/index.js';

t.test('time spans in milliseconds', async (t) => {
  const cases: [string, number][] = [
    ['5', 5000],
    ['5s', 5000],
    ['5 s', 5000],
    ['  5sec ', 5000],
    ['2 seconds', 2000],
    ['1second', 1000],
    ['1min 30s', 90_000],
    ['1min30s', 90_000],
    ['1m', 60_000],
    ['3minutes', 180_000],
    ['1minute', 60_000],
    ['500ms', 500],
    ['500msec', 500],
    ['1.5s', 1500],
    ['1.1s', 1100],
    ['.5s', 500],
    ['5.s', 5000],
    ['2h', 7_200_000],
    ['2hr', 7_200_000],
    ['1hour', 3_600_000],
    ['2 hours', 7_200_000],
    ['1d', 86_400_000],
    ['1day', 86_400_000],
    ['2days', 172_800_000],
    ['1w', 604_800_000],
    ['1week', 604_800_000],
    ['2weeks', 1_209_600_000],
    ['1M', 2_629_800_000],
    ['1month', 2_629_800_000],
    ['2months', 5_259_600_000],
    ['1y', 31_557_600_000],
    ['1year', 31_557_600_000],
    ['1years', 31_557_600_000],
    ['1500us', 1.5],
    ['1usec', 0.001],
    ['1µs', 0.001],
    ['1μs', 0.001],
    ['1 2', 3000],
    ['1h 2min 3s 4ms', 3_723_004],
    ['0', 0],
    ['infinity', Infinity],
    [' infinity ', Infinity],
  ];
  for (const [text, ms] of cases) t.equal(parseTimeSpan(text), ms, text);
});

t.test('bad time spans say what is wrong', async (t) => {
  const examples = '(examples: 90, 5s, 1min 30s, 500ms, infinity)';
  t.throws(() => parseTimeSpan(''), { message: 'an empty time span' });
  t.throws(() => parseTimeSpan('  '), { message: 'an empty time span' });
  t.throws(() => parseTimeSpan('-5s'), { message: `a time span cannot be negative ${examples}` });
  t.throws(() => parseTimeSpan('s'), { message: `expected a number at "s" ${examples}` });
  t.throws(() => parseTimeSpan('.s'), { message: `expected a number at ".s" ${examples}` });
  t.throws(() => parseTimeSpan('5 x'), { message: 'unknown time unit at "x" (units: us, ms, s, min, h, d, w, M, y)' });
  t.throws(() => parseTimeSpan('5secs'), { message: `expected a number at "s" ${examples}` });
  t.throws(() => parseTimeSpan('Infinity'), { message: /expected a number at "Infinity"/ });
});

t.test('booleans', async (t) => {
  for (const v of ['1', 'yes', 'y', 'true', 't', 'on', 'YES', 'On']) t.equal(parseBoolean(v), true, v);
  for (const v of ['0', 'no', 'n', 'false', 'f', 'off', 'NO', 'Off']) t.equal(parseBoolean(v), false, v);
  for (const v of ['', '2', 'yep', 'enabled']) t.equal(parseBoolean(v), undefined, v);
});
