// A session: a lease kept alive for as long as the session lives (etcd's concurrency.Session).
// Locks and election keys are attached to it, so they go away when the process holding them dies.
import { EventEmitter } from 'node:events';
import type { Client } from '../client.js';
import type { ClientError } from '../errors.js';
import type { KeepAlive } from '../lease.js';

export interface SessionOptions {
  /** Seconds (default 60, as etcd's). */
  ttl?: number;
  /** Use this existing lease instead of granting one. */
  lease?: bigint;
}

/** etcd's texts for the recipes' own errors. */
export class ConcurrencyError extends Error {
  constructor(
    readonly code: 'Locked' | 'SessionExpired' | 'NotLeader' | 'NoLeader' | 'SessionClosed',
    message: string,
  ) {
    super(message);
    this.name = 'ConcurrencyError';
  }
}

export const Errors = {
  locked: () => new ConcurrencyError('Locked', 'mutex: Locked by another session'),
  sessionExpired: () => new ConcurrencyError('SessionExpired', 'mutex: session is expired'),
  notLeader: () => new ConcurrencyError('NotLeader', 'election: not leader'),
  noLeader: () => new ConcurrencyError('NoLeader', 'election: no leader'),
  closed: () => new ConcurrencyError('SessionClosed', 'session: closed'),
};

export interface Session {
  on(event: 'lost', fn: (reason: ClientError) => void): this;
  once(event: 'lost', fn: (reason: ClientError) => void): this;
}

/**
 * `new Session(client, { ttl })` grants a lease and keeps it alive; `await session.ready()` (or
 * `Session.create`) before reading `lease`. Emits 'lost' when the lease could not be kept.
 */
export class Session extends EventEmitter {
  readonly ttl: number;
  private leaseId: bigint | undefined;
  private ka: KeepAlive | undefined;
  private readonly readyPromise: Promise<void>;
  private readonly ac = new AbortController();
  private ended = false;

  constructor(
    readonly client: Client,
    opts: SessionOptions = {},
  ) {
    super();
    this.ttl = opts.ttl ?? 60;
    this.readyPromise = this.start(opts.lease);
    this.readyPromise.catch(() => undefined);
  }

  static async create(client: Client, opts: SessionOptions = {}): Promise<Session> {
    const s = new Session(client, opts);
    await s.ready();
    return s;
  }

  private async start(lease: bigint | undefined): Promise<void> {
    let ttl = this.ttl;
    if (lease === undefined) {
      // A grant repeated after an unknown outcome leaves at most an extra lease that expires by itself.
      let g;
      try {
        g = await this.client.leaseGrant(this.ttl, undefined, { idempotent: true, signal: this.ac.signal });
      } catch (e) {
        throw this.ended ? Errors.closed() : e;
      }
      lease = g.ID;
      ttl = g.TTL;
    }
    if (this.ended) {
      await this.client.leaseRevoke(lease).catch(() => undefined);
      throw Errors.closed();
    }
    this.leaseId = lease;
    const ka = this.client.keepAlive(lease, { ttl });
    this.ka = ka;
    ka.once('lost', (reason) => {
      this.ended = true;
      this.ac.abort(Errors.sessionExpired());
      this.emit('lost', reason);
    });
  }

  /** Resolves once the lease is granted and kept alive. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** The session's lease (after ready()). */
  get lease(): bigint {
    if (this.leaseId === undefined) throw new Error('session: not ready (await session.ready())');
    return this.leaseId;
  }

  /** Aborted when the session is lost or closed: waits on its behalf (lock, campaign) stop then. */
  get signal(): AbortSignal {
    return this.ac.signal;
  }

  /** Whether the session ended (lost or closed). */
  get done(): boolean {
    return this.ended;
  }

  /** Ends the session and revokes its lease (so its locks and election keys go at once). */
  async close(): Promise<void> {
    const lease = this.stop();
    if (lease !== undefined) {
      await this.client.leaseRevoke(lease, { idempotent: true }).catch((e: ClientError) => {
        if (e.code !== 5) throw e; // already gone: fine
      });
    }
  }

  /** Ends the session without revoking the lease (it expires after its TTL). */
  orphan(): void {
    this.stop();
  }

  private stop(): bigint | undefined {
    const wasEnded = this.ended;
    this.ended = true;
    this.ka?.close();
    if (!this.ac.signal.aborted) this.ac.abort(Errors.closed());
    return wasEnded ? undefined : this.leaseId;
  }
}
