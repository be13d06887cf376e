// A distributed lock (etcd's concurrency.Mutex): each contender puts `<prefix>/<lease hex>` with
// its session's lease; the key with the lowest create revision holds the lock; the others wait
// for the deletion of the key just before theirs (not for every older one: no thundering herd).
import { leaseHex } from '../bytes.js';
import type { ResponseHeader, TxnResponse, KeyValue } from '../types.js';
import { Compare, Op, type TxnCompare } from '../txn.js';
import { Errors, type Session } from './session.js';
import { anySignal, sessionError, waitDeletes } from './wait.js';

export interface LockOptions {
  signal?: AbortSignal;
}

function rangeOf(r: TxnResponse, i: number): KeyValue[] {
  const op = r.responses[i];
  return op && 'response_range' in op ? op.response_range.kvs : [];
}

export class Mutex {
  /** The prefix of the contenders' keys (`<name>/`). */
  readonly prefix: string;
  private myKey = '';
  private myRev = -1;
  private hdr: ResponseHeader | undefined;

  constructor(
    readonly session: Session,
    name: string,
  ) {
    this.prefix = name.endsWith('/') ? name : `${name}/`;
  }

  /** This contender's key (`<name>/<lease hex>`), once lock() or tryLock() ran. */
  get key(): string {
    return this.myKey;
  }

  /** The create revision of this contender's key. */
  get revision(): number {
    return this.myRev;
  }

  /** The header of the answer that gave the lock. */
  get header(): ResponseHeader | undefined {
    return this.hdr;
  }

  /** A compare that holds while this contender owns the lock: guard writes with it in a txn. */
  isOwner(): TxnCompare {
    return Compare.createRevision(this.myKey, '=', this.myRev);
  }

  /** Puts this contender's key (or finds it) and the current owner, in one txn. */
  private async enter(signal: AbortSignal): Promise<{ resp: TxnResponse; owner: KeyValue | undefined }> {
    await this.session.ready();
    const s = this.session;
    this.myKey = this.prefix + leaseHex(s.lease);
    const getOwner = Op.get(this.prefix, { prefix: true, sortTarget: 'CREATE', sortOrder: 'ASCEND', limit: 1 });
    // Safe to repeat: a second attempt finds the key the first one put.
    const resp = await s.client
      .txn()
      .if(Compare.createRevision(this.myKey, '=', 0))
      .then(Op.put(this.myKey, '', { lease: s.lease }), getOwner)
      .else(Op.get(this.myKey), getOwner)
      .commit({ idempotent: true, signal });
    this.myRev = resp.header.revision ?? 0;
    if (!resp.succeeded) this.myRev = rangeOf(resp, 0)[0]?.create_revision ?? this.myRev;
    return { resp, owner: rangeOf(resp, 1)[0] };
  }

  /** Takes the lock, waiting for the contenders before this one. */
  async lock(opts: LockOptions = {}): Promise<void> {
    const { signal, dispose } = anySignal(opts.signal, this.session.signal);
    try {
      await this.lockWith(signal);
    } catch (e) {
      throw sessionError(this.session, opts.signal) ?? e;
    } finally {
      dispose();
    }
  }

  private async lockWith(signal: AbortSignal): Promise<void> {
    const { resp, owner } = await this.enter(signal);
    if (!owner || owner.create_revision === this.myRev) {
      this.hdr = resp.header;
      return;
    }
    let hdr: ResponseHeader;
    try {
      hdr = await waitDeletes(this.session.client, this.prefix, this.myRev - 1, signal);
    } catch (e) {
      await this.unlock().catch(() => undefined);
      throw e;
    }
    // The session may have expired while waiting: then the key is gone and so is the lock.
    const mine = await this.session.client.get(this.myKey, { signal });
    if (mine.kvs.length === 0) {
      this.myKey = '';
      this.myRev = -1;
      throw Errors.sessionExpired();
    }
    this.hdr = hdr;
  }

  /** Takes the lock if nobody holds it; otherwise throws ConcurrencyError 'Locked' ("mutex: Locked by another session"). */
  async tryLock(opts: LockOptions = {}): Promise<void> {
    const { signal, dispose } = anySignal(opts.signal, this.session.signal);
    try {
      const { resp, owner } = await this.enter(signal);
      if (!owner || owner.create_revision === this.myRev) {
        this.hdr = resp.header;
        return;
      }
      await this.session.client.delete(this.myKey, { idempotent: true });
      this.myKey = '';
      this.myRev = -1;
      throw Errors.locked();
    } catch (e) {
      throw sessionError(this.session, opts.signal) ?? e;
    } finally {
      dispose();
    }
  }

  /** Releases the lock (deletes this contender's key). */
  async unlock(opts: LockOptions = {}): Promise<void> {
    if (this.myKey === '') return;
    await this.session.client.delete(this.myKey, { idempotent: true, signal: opts.signal });
    this.myKey = '';
    this.myRev = -1;
  }
}
