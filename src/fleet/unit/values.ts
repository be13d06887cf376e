// systemd's scalar value syntaxes: booleans (parse_boolean) and time spans (parse_sec).

/** systemd's parse_boolean; undefined for anything else. */
export function parseBoolean(value: string): boolean | undefined {
  switch (value.toLowerCase()) {
    case '1':
    case 'yes':
    case 'y':
    case 'true':
    case 't':
    case 'on':
      return true;
    case '0':
    case 'no':
    case 'n':
    case 'false':
    case 'f':
    case 'off':
      return false;
    default:
      return undefined;
  }
}

const MS_PER_SEC = 1000;
const MS_PER_MIN = 60 * MS_PER_SEC;
const MS_PER_HOUR = 60 * MS_PER_MIN;
const MS_PER_DAY = 24 * MS_PER_HOUR;
const MS_PER_YEAR = 31_557_600 * MS_PER_SEC; // 365.25 days, as systemd counts
const MS_PER_MONTH = 2_629_800 * MS_PER_SEC; // a twelfth of that year

/** systemd's time units, longest first so that `ms` is not read as `m` followed by `s`. */
const UNITS: [string, number][] = (
  [
    ['seconds', MS_PER_SEC],
    ['second', MS_PER_SEC],
    ['sec', MS_PER_SEC],
    ['s', MS_PER_SEC],
    ['minutes', MS_PER_MIN],
    ['minute', MS_PER_MIN],
    ['min', MS_PER_MIN],
    ['m', MS_PER_MIN],
    ['months', MS_PER_MONTH],
    ['month', MS_PER_MONTH],
    ['M', MS_PER_MONTH],
    ['msec', 1],
    ['ms', 1],
    ['hours', MS_PER_HOUR],
    ['hour', MS_PER_HOUR],
    ['hr', MS_PER_HOUR],
    ['h', MS_PER_HOUR],
    ['days', MS_PER_DAY],
    ['day', MS_PER_DAY],
    ['d', MS_PER_DAY],
    ['weeks', 7 * MS_PER_DAY],
    ['week', 7 * MS_PER_DAY],
    ['w', 7 * MS_PER_DAY],
    ['years', MS_PER_YEAR],
    ['year', MS_PER_YEAR],
    ['y', MS_PER_YEAR],
    ['usec', 0.001],
    ['us', 0.001],
    ['µs', 0.001],
    ['μs', 0.001],
  ] as [string, number][]
).sort((a, b) => b[0].length - a[0].length);

/**
 * A systemd time span in milliseconds: `5` (seconds when no unit is given), `5s`, `1min 30s`,
 * `1.5h`, `500ms`, `infinity` (Infinity). Throws an Error saying what is wrong.
 */
export function parseTimeSpan(value: string): number {
  const text = value.trim();
  if (text === 'infinity') return Infinity;
  if (text === '') throw new Error('an empty time span');
  let total = 0;
  let i = 0;
  while (i < text.length) {
    const number = /^(\d*)(?:\.(\d*))?/.exec(text.slice(i))!;
    if (number[0] === '' || number[0] === '.') {
      const what = text[i] === '-' ? 'a time span cannot be negative' : `expected a number at ${JSON.stringify(text.slice(i))}`;
      throw new Error(`${what} (examples: 90, 5s, 1min 30s, 500ms, infinity)`);
    }
    i += number[0].length;
    while (text[i] === ' ' || text[i] === '\t') i++;
    const unit = UNITS.find(([u]) => text.startsWith(u, i));
    let multiplier = MS_PER_SEC;
    if (unit !== undefined) {
      multiplier = unit[1];
      i += unit[0].length;
    } else if (i < text.length && !/[\d.]/.test(text[i]!)) {
      throw new Error(`unknown time unit at ${JSON.stringify(text.slice(i))} (units: us, ms, s, min, h, d, w, M, y)`);
    }
    total += Number(`${number[1] || '0'}.${number[2] ?? ''}0`) * multiplier;
    while (text[i] === ' ' || text[i] === '\t') i++;
  }
  // systemd counts in whole microseconds; rounding there also drops binary fractions (1.1s).
  return Math.round(total * 1000) / 1000;
}
