// Durations as Consul and Go write them (`10s`, `500ms`, `1m30s`), to and from milliseconds.

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a Go-style duration; throws an Error saying what is wrong. */
export function parseDuration(text: string): number {
  const bad = () => new Error(`${JSON.stringify(text)} is not a duration (write it like 10s, 500ms or 1m30s)`);
  if (typeof text !== 'string' || text === '') throw bad();
  let rest = text;
  let total = 0;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (!m) throw bad();
    total += Number(m[1]) * UNITS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
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
