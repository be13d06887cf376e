// Config watch: the key/values under a prefix as they are, then again after every change, from a
// watch that resumes after reconnects at the revision after the last one seen (no change missed or
// repeated). Keys are given relative to the prefix (`/app/config/db/url` under `/app/config/` is
// `db/url`). watchJsonConfig parses each value as JSON; a value that is not JSON (or that `parse`
// rejects) is an entry of `errors`, and the program carries on with the rest.
import { toText, type Client } from '../client/index.js';
import { mirrorPrefix } from './prefix-mirror.js';

export interface ConfigChange {
  key: string;
  type: 'put' | 'delete';
  /** The new value (puts only). */
  value?: string;
}

export interface ConfigSnapshot<V = string> {
  revision: number;
  /** True for the first snapshot (and after the watch had to read everything again). */
  initial: boolean;
  /** Every key/value under the prefix at `revision`: a new Map each time, yours to keep. */
  values: Map<string, V>;
  /** What this revision changed (empty when `initial`). */
  changes: ConfigChange[];
}

export interface JsonConfigSnapshot<T> extends ConfigSnapshot<T> {
  /** Keys whose value is not valid: what is wrong with each. */
  errors: Map<string, Error>;
}

export interface ConfigWatchOptions {
  signal?: AbortSignal;
}

/** Yields the values under `prefix`, then after every revision that changes them, until `signal` aborts. */
export async function* watchConfig(client: Client, prefix: string, opts: ConfigWatchOptions = {}): AsyncGenerator<ConfigSnapshot, void, undefined> {
  const rel = (key: string) => key.slice(prefix.length);
  for await (const u of mirrorPrefix(client, prefix, { signal: opts.signal })) {
    const values = new Map<string, string>();
    for (const [key, kv] of u.entries) values.set(rel(key), toText(kv.value));
    const changes: ConfigChange[] = u.events.map((e) => (e.type === 'put' ? { key: rel(e.key), type: 'put', value: toText(e.kv.value) } : { key: rel(e.key), type: 'delete' }));
    yield { revision: u.revision, initial: u.reset, values, changes };
  }
}

/**
 * watchConfig with each value parsed as JSON and then by `parse` (which may validate and throw):
 * a bad value is reported in `errors`, never thrown.
 */
export async function* watchJsonConfig<T = unknown>(
  client: Client,
  prefix: string,
  parse: (value: unknown, key: string) => T = (v) => v as T,
  opts: ConfigWatchOptions = {},
): AsyncGenerator<JsonConfigSnapshot<T>, void, undefined> {
  for await (const snap of watchConfig(client, prefix, opts)) {
    const values = new Map<string, T>();
    const errors = new Map<string, Error>();
    for (const [key, text] of snap.values) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        errors.set(key, new Error(`${key}: not JSON (${(e as Error).message})`));
        continue;
      }
      try {
        values.set(key, parse(json, key));
      } catch (e) {
        errors.set(key, new Error(`${key}: ${(e as Error)?.message ?? String(e)}`));
      }
    }
    yield { revision: snap.revision, initial: snap.initial, values, errors, changes: snap.changes };
  }
}
