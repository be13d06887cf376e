// Durations as Consul and Go write them (`10s`, `500ms`, `1m30s`), to and from milliseconds.
// One grammar for every duration the programs read, Go's time.ParseDuration's: kvd's and
// kvctl's flags (etcd's are Go durations), Consul's check intervals and fleet's timeouts. Each
// caller words its own errors (kvctl Go's exact texts, the others a hint of the form).

/** Nanoseconds per unit, as Go spells them (both micro signs). */
const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 6e10, h: 3.6e12 };

/** A duration read (in ms, negative allowed), or why not, in Go's terms. */
export type ScannedDuration = { ms: number } | { error: 'invalid' | 'missing unit' } | { error: 'unknown unit'; unit: string };

/** time.ParseDuration's grammar: `300ms`, `-1.5h`, `2h45m`, `.5s`, `0`. */
export function scanDuration(text: string): ScannedDuration {
  let s = text;
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return { ms: 0 };
  if (s === '') return { error: 'invalid' };
  let ns = 0;
  while (s !== '') {
    const num = /^(\d+(?:\.\d*)?|\.\d+)/.exec(s);
    if (!num) return { error: 'invalid' };
    s = s.slice(num[0].length);
    const unit = /^[^\d.]+/.exec(s);
    if (!unit) return { error: 'missing unit' };
    const mult = UNIT_NS[unit[0]];
    if (mult === undefined) return { error: 'unknown unit', unit: unit[0] };
    s = s.slice(unit[0].length);
    ns += Number(num[0]) * mult;
  }
  return { ms: ((neg ? -1 : 1) * ns) / 1e6 };
}

/** Milliseconds of a Go-style duration, not negative; throws an Error saying what is wrong. */
export function parseDuration(text: string): number {
  const r = typeof text === 'string' ? scanDuration(text) : { error: 'invalid' as const };
  if (!('ms' in r) || r.ms < 0) throw new Error(`${JSON.stringify(text)} is not a duration (write it like 10s, 500ms or 1m30s)`);
  return r.ms;
}

/** fleet's form: a bare number is seconds (`2`, `0.5`), anything else a Go duration; undefined when neither, or negative. */
export function parseSecondsOrDuration(text: string): number | undefined {
  const t = text.trim();
  const r = scanDuration(/^(\d+(?:\.\d*)?|\.\d+)$/.test(t) ? `${t}s` : t);
  return 'ms' in r && r.ms >= 0 ? r.ms : undefined;
}

/** The shortest Go-style text of a whole number of milliseconds: 10000 → `10s`, 90000 → `1m30s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000 || ms % 1000 !== 0) return `${ms}ms`;
  let s = ms / 1000;
  let out = '';
  const h = Math.floor(s / 3600);
  if (h > 0) out += `${h}h`;
  s -= h * 3600;
  const m = Math.floor(s / 60);
  if (m > 0) out += `${m}m`;
  s -= m * 60;
  if (s > 0) out += `${s}s`;
  return out;
}
