// The LeaseKeepAlive stream's loop, whichever transport carries it (a chunked HTTP response or a
// WebSocket): requests are answered one at a time, in order, as etcd's LeaseKeepAlive loop does,
// each answer written before the next request is taken (so a slow reader holds the loop back
// rather than growing a backlog of answers).
import type * as api from '../../kv/api.js';
import { EtcdError, GrpcCode } from '../../util/errors.js';
import { encodeLeaseKeepAliveResponse } from './codec/encode.js';
import type { KvService } from '../service.js';

/** Where the answers go. */
export interface KeepAliveOutlet {
  /** Whether the stream has ended: the loop stops. */
  closed(): boolean;
  /** Writes one answer; a promise while the transport wants the writer to wait. */
  write(json: string): void | Promise<void>;
  /** Ends the stream with an error. */
  fail(e: unknown): void;
  /** Every request so far is answered (not called after a failure). */
  drained?(): void;
}

export class KeepAliveQueue {
  private readonly ids: bigint[] = [];
  private busy = false;

  constructor(
    private readonly service: KvService,
    private readonly out: KeepAliveOutlet,
  ) {}

  push(id: bigint): void {
    this.ids.push(id);
    void this.run();
  }

  /** Forgets the requests not answered yet (the stream is shutting down). */
  clear(): void {
    this.ids.length = 0;
  }

  /** Answers what is queued unless a loop already does; calls `drained` when nothing is left. */
  async run(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.ids.length > 0 && !this.out.closed()) {
        const id = this.ids.shift()!;
        let resp: api.LeaseKeepAliveResponse;
        try {
          resp = await this.service.leaseKeepAlive({ ID: id });
        } catch (e) {
          if (e instanceof EtcdError && e.grpcCode === GrpcCode.NotFound) {
            // etcd answers an unknown lease with a message without TTL, not an error.
            resp = { header: {}, ID: id, TTL: 0 };
          } else {
            this.out.fail(e);
            return;
          }
        }
        const wait = this.out.write(encodeLeaseKeepAliveResponse(resp));
        if (wait) await wait;
      }
    } finally {
      this.busy = false;
    }
    if (this.ids.length === 0) this.out.drained?.();
  }
}
