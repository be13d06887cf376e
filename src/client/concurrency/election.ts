// Leader election (etcd's concurrency.Election): candidates put `<prefix>/<lease hex>` with their
// session's lease; the lowest create revision leads; its value is the leader's proclamation.
import { leaseHex, toBytes, type Bytes } from '../bytes.js';
import type { KeyValue, ResponseHeader } from '../types.js';
import { EventType } from '../types.js';
import { Compare, Op } from '../txn.js';
import { Errors, type Session } from './session.js';
import { abortReason, anySignal, sessionError, waitDeletes } from './wait.js';

export interface ElectionCallOptions {
  signal?: AbortSignal;
}

export class Election {
  /** The prefix of the candidates' keys (`<name>/`). */
  readonly prefix: string;
  private leaderKey = '';
  private leaderRev = 0;
  private leaderSession: Session | undefined;
  private hdr: ResponseHeader | undefined;

  constructor(
    readonly session: Session,
    name: string,
  ) {
    this.prefix = name.endsWith('/') ? name : `${name}/`;
  }

  /** This candidate's key while campaigning or leading. */
  get key(): string {
    return this.leaderKey;
  }

  /** The create revision of this candidate's key. */
  get revision(): number {
    return this.leaderRev;
  }

  get header(): ResponseHeader | undefined {
    return this.hdr;
  }

  /** Puts this candidate's key and resolves once it leads (every older candidate gone). */
  async campaign(value: Bytes, opts: ElectionCallOptions = {}): Promise<void> {
    const { signal, dispose } = anySignal(opts.signal, this.session.signal);
    try {
      await this.session.ready();
      const s = this.session;
      const k = this.prefix + leaseHex(s.lease);
      const resp = await s.client
        .txn()
        .if(Compare.createRevision(k, '=', 0))
        .then(Op.put(k, value, { lease: s.lease }))
        .else(Op.get(k))
        .commit({ idempotent: true, signal });
      this.leaderKey = k;
      this.leaderRev = resp.header.revision ?? 0;
      this.leaderSession = s;
      if (!resp.succeeded) {
        const op = resp.responses[0];
        const kv = op && 'response_range' in op ? op.response_range.kvs[0] : undefined;
        if (kv) {
          this.leaderRev = kv.create_revision;
          if (Buffer.compare(Buffer.from(kv.value), Buffer.from(toBytes(value))) !== 0) {
            try {
              await this.proclaim(value, { signal });
            } catch (e) {
              await this.resign().catch(() => undefined);
              throw e;
            }
          }
        }
      }
      try {
        await waitDeletes(s.client, this.prefix, this.leaderRev - 1, signal);
      } catch (e) {
        if (signal.aborted) await this.resign().catch(() => undefined);
        this.leaderSession = undefined;
        throw e;
      }
      this.hdr = resp.header;
    } catch (e) {
      throw sessionError(this.session, opts.signal) ?? e;
    } finally {
      dispose();
    }
  }

  /** Changes the leader's value without a new election; ConcurrencyError 'NotLeader' when this candidate does not lead. */
  async proclaim(value: Bytes, opts: ElectionCallOptions = {}): Promise<void> {
    const s = this.leaderSession;
    if (!s) throw Errors.notLeader();
    const resp = await s.client
      .txn()
      .if(Compare.createRevision(this.leaderKey, '=', this.leaderRev))
      .then(Op.put(this.leaderKey, value, { lease: s.lease }))
      .commit({ idempotent: true, signal: opts.signal });
    if (!resp.succeeded) {
      this.leaderKey = '';
      throw Errors.notLeader();
    }
    this.hdr = resp.header;
  }

  /** Gives up leadership (or the candidacy). */
  async resign(opts: ElectionCallOptions = {}): Promise<void> {
    const s = this.leaderSession;
    if (!s) return;
    try {
      const resp = await s.client
        .txn()
        .if(Compare.createRevision(this.leaderKey, '=', this.leaderRev))
        .then(Op.delete(this.leaderKey))
        .commit({ idempotent: true, signal: opts.signal });
      this.hdr = resp.header;
    } finally {
      this.leaderKey = '';
      this.leaderSession = undefined;
    }
  }

  /** The leader's key-value; ConcurrencyError 'NoLeader' when there is none. */
  async leader(opts: ElectionCallOptions = {}): Promise<KeyValue> {
    const r = await this.session.client.get(this.prefix, { prefix: true, sortTarget: 'CREATE', sortOrder: 'ASCEND', limit: 1, signal: opts.signal });
    const kv = r.kvs[0];
    if (!kv) throw Errors.noLeader();
    return kv;
  }

  /** Every leader in turn and each of its proclamations, until the signal fires or the loop is left. */
  async *observe(opts: ElectionCallOptions = {}): AsyncGenerator<KeyValue> {
    const client = this.session.client;
    const signal = opts.signal;
    for (;;) {
      let resp;
      try {
        resp = await client.get(this.prefix, { prefix: true, sortTarget: 'CREATE', sortOrder: 'ASCEND', limit: 1, signal });
      } catch (err) {
        // The signal ends the observation wherever it finds it: here as in the watches below.
        if (signal?.aborted) return;
        throw err;
      }
      let kv: KeyValue | undefined = resp.kvs[0];
      let rev = resp.header.revision ?? 0;
      if (!kv) {
        // Wait for the first candidate (a delete would only make this loop spin).
        const w = client.watch(this.prefix, { prefix: true, startRevision: rev, signal });
        try {
          for await (const wr of w) {
            const put = wr.events.find((e) => e.type === EventType.PUT);
            if (put) {
              kv = put.kv;
              rev = put.kv.mod_revision;
              break;
            }
          }
        } finally {
          w.cancel();
        }
        if (!kv) {
          const e = abortReason(signal);
          if (e) return;
          continue;
        }
      }
      yield kv;
      const w = client.watch(kv.key, { startRevision: rev + 1, signal });
      try {
        let deleted = false;
        for await (const wr of w) {
          for (const ev of wr.events) {
            if (ev.type === EventType.DELETE) {
              deleted = true;
              break;
            }
            yield ev.kv;
          }
          if (deleted) break;
        }
      } finally {
        w.cancel();
      }
      if (signal?.aborted) return;
    }
  }
}
