// Shared by the kv tests: a store in a temp dir, driven through apply() with encoded requests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Test } from 'tap';
import type * as api from '../../src/kv/api.js';
import { KvStore, type KvStoreOptions } from '../../src/kv/kv-store.js';
import { encodeRequest, type InternalRequest } from '../../src/kv/request-codec.js';
import type { AppliedEntry } from '../../src/raft/node/state-machine.js';
import { EtcdError } from '../../src/util/errors.js';

export const silent = pino({ level: 'silent' });

export const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
export const s = (u: Uint8Array | undefined): string => (u ? Buffer.from(u).toString('latin1') : '');

export async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-kv-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function entry(index: number, req: InternalRequest): AppliedEntry {
  return { index, term: 1, kind: 'normal', data: encodeRequest(req) };
}

/**
 * The value cache budget of stores the Driver opens when a test does not choose one:
 * cold-values.test.ts sets 0 and runs the store's suites again, every value then read from LevelDB.
 */
let defaultValueCacheBytes: number | undefined;
export function setDefaultValueCacheBytes(bytes: number | undefined): void {
  defaultValueCacheBytes = bytes;
}

/**
 * Whether the suites run with no value in memory (cold-values.test.ts): the store's DELETE events
 * then carry prev_kv only where the request loaded the values (prev_kv asked, or a put of the key
 * in the same txn); the watch hub reads the others from history.
 */
export function coldValues(): boolean {
  return defaultValueCacheBytes === 0;
}

/** A store plus the next Raft index, with one method per request kind. */
export class Driver {
  index: number;
  constructor(
    public store: KvStore,
    public dir: string,
    public opts: KvStoreOptions,
  ) {
    this.index = store.appliedIndex();
  }

  static async open(t: Test, opts: KvStoreOptions = {}, dir?: string): Promise<Driver> {
    const d = dir ?? (await tempDir(t));
    const o = { logger: silent, valueCacheBytes: defaultValueCacheBytes, ...opts };
    const store = await KvStore.open(d, o);
    const drv = new Driver(store, d, o);
    t.teardown(() => drv.store.close());
    return drv;
  }

  async reopen(): Promise<void> {
    await this.store.close();
    this.store = await KvStore.open(this.dir, this.opts);
    this.index = this.store.appliedIndex();
  }

  async applyAll(reqs: InternalRequest[]): Promise<unknown[]> {
    return this.store.apply(reqs.map((r) => entry(++this.index, r)));
  }

  async req<T>(r: InternalRequest): Promise<T | EtcdError> {
    const [res] = await this.applyAll([r]);
    return res as T | EtcdError;
  }

  /** Applies and fails the test with the error if the request failed. */
  async ok<T>(r: InternalRequest): Promise<T> {
    const res = await this.req<T>(r);
    if (res instanceof EtcdError) throw new Error(`unexpected ${res.message}`);
    return res;
  }

  put(key: string, value = '', extra: Partial<api.PutRequest> = {}): Promise<api.PutResponse> {
    return this.ok({ put: { key: b(key), value: b(value), ...extra } });
  }

  del(key: string, rangeEnd?: string, extra: Partial<api.DeleteRangeRequest> = {}): Promise<api.DeleteRangeResponse> {
    return this.ok({ delete_range: { key: b(key), range_end: rangeEnd === undefined ? undefined : b(rangeEnd), ...extra } });
  }

  txn(t: Partial<api.TxnRequest>): Promise<api.TxnResponse | EtcdError> {
    return this.req({ txn: { compare: [], success: [], failure: [], ...t } });
  }

  grant(id: bigint, ttl: number): Promise<api.LeaseGrantResponse | EtcdError> {
    return this.req({ lease_grant: { ID: id, TTL: ttl } });
  }

  revoke(id: bigint): Promise<api.LeaseRevokeResponse | EtcdError> {
    return this.req({ lease_revoke: { ID: id } });
  }

  compact(rev: number): Promise<api.CompactionResponse | EtcdError> {
    return this.req({ compaction: { revision: rev } });
  }

  get(key: string, extra: Partial<api.RangeRequest> = {}): Promise<api.RangeResponse> {
    return this.store.range({ key: b(key), ...extra });
  }

  /** Keys and values of a range as "k=v" strings. */
  async kv(key: string, extra: Partial<api.RangeRequest> = {}): Promise<string[]> {
    const r = await this.get(key, extra);
    return r.kvs.map((kv) => `${s(kv.key)}=${s(kv.value)}`);
  }
}

/** The message of an EtcdError result or rejection (undefined when it is not one). */
export function errText(v: unknown): string | undefined {
  return v instanceof EtcdError ? v.message : undefined;
}

export async function rejects(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
