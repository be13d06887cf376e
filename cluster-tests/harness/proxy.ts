// A fault-injecting TCP proxy in front of one member's peer port. Every other member reaches that
// member through it (the member advertises the proxy's address as its peer URL).
//
// kvd's peer connections are one-way: member A opens a WebSocket to member B to send B its Raft
// messages, and names itself in the upgrade request (`x-flotilla-from: <A's id>`). So the proxy of
// B reads the first request's headers of each connection, learns the link (A -> B), and applies the
// network's rule for that link to the connection, in both TCP directions, as long as it lives:
// - drop: bytes are discarded (the connection stays open, as with a lost route). Because bytes were
//   lost mid-stream, such a connection is reset when the link heals, and the sender reconnects.
// - reset: the connection is closed, and new ones are closed at once.
// - delay: bytes are held for the delay, in order.

import net from 'node:net';
import type { LinkRule, Network } from './network.js';

const MAX_HEADER_BYTES = 16 * 1024;

class ProxiedConnection {
  /** The member id that opened the connection (from its upgrade request), if it said. */
  fromId: string | undefined;
  /** The first request's headers were read (the link is known). */
  identified = false;
  upstream: net.Socket | undefined;
  /** Bytes were discarded: the stream is corrupt and must be reset once the link heals. */
  tainted = false;
  closed = false;
  private readonly pending: { due: number; chunk: Buffer; toUpstream: boolean }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastDue = 0;
  /** Bytes from the client before the upstream connection was open. */
  private early: Buffer[] = [];

  constructor(
    readonly proxy: PeerProxy,
    readonly client: net.Socket,
  ) {}

  /** The name of the member that opened the connection (resolved late: ids are learnt after the start). */
  get from(): string | undefined {
    return this.fromId === undefined ? undefined : this.proxy.nameOf(this.fromId) ?? `id:${this.fromId}`;
  }

  rule(): LinkRule {
    return this.proxy.ruleFor(this.from);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.pending.length = 0;
    this.client.destroy();
    this.upstream?.destroy();
    this.proxy.forget(this);
  }

  connectUpstream(first: Buffer): void {
    const up = net.connect({ host: '127.0.0.1', port: this.proxy.targetPort });
    this.upstream = up;
    up.setNoDelay(true);
    this.early.push(first);
    up.on('connect', () => {
      const early = this.early;
      this.early = [];
      for (const b of early) up.write(b);
    });
    up.on('data', (d: Buffer) => this.pass(d, false));
    up.on('error', () => this.destroy());
    up.on('close', () => this.destroy());
  }

  /** Bytes from one side, on their way to the other. */
  pass(chunk: Buffer, toUpstream: boolean): void {
    if (this.closed) return;
    const r = this.rule();
    if (r.mode === 'drop') {
      this.tainted = true;
      return;
    }
    if (r.mode === 'reset') {
      this.destroy();
      return;
    }
    const now = performance.now();
    if (r.mode === 'ok' && this.pending.length === 0) {
      this.deliver(chunk, toUpstream);
      return;
    }
    const delay = r.mode === 'delay' ? r.ms + Math.random() * r.jitter : 0;
    const due = Math.max(this.lastDue, now + delay);
    this.lastDue = due;
    this.pending.push({ due, chunk, toUpstream });
    this.schedule();
  }

  private deliver(chunk: Buffer, toUpstream: boolean): void {
    if (toUpstream) {
      if (this.upstream && this.upstream.connecting) this.early.push(chunk);
      else this.upstream?.write(chunk);
    } else this.client.write(chunk);
  }

  private schedule(): void {
    if (this.timer || this.pending.length === 0) return;
    const wait = Math.max(0, this.pending[0]!.due - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = performance.now();
      while (this.pending.length > 0 && this.pending[0]!.due <= now + 1) {
        const p = this.pending.shift()!;
        if (!this.closed) this.deliver(p.chunk, p.toUpstream);
      }
      this.schedule();
    }, wait);
  }
}

export class PeerProxy {
  private server: net.Server | undefined;
  private readonly conns = new Set<ProxiedConnection>();
  private unsubscribe: () => void = () => undefined;
  port = 0;

  /**
   * @param to the member behind the proxy
   * @param targetPort its real peer port
   * @param nameOf the member name of a member id (from the upgrade headers)
   * @param members the names of the current members
   */
  constructor(
    readonly to: string,
    readonly targetPort: number,
    private readonly network: Network,
    readonly nameOf: (id: string) => string | undefined,
    private readonly members: () => readonly string[],
  ) {}

  ruleFor(from: string | undefined): LinkRule {
    return this.network.get(from, this.to, this.members());
  }

  get connections(): number {
    return this.conns.size;
  }

  async listen(port = 0): Promise<number> {
    const server = net.createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.unsubscribe = this.network.onChange(() => this.rulesChanged());
    return this.port;
  }

  forget(c: ProxiedConnection): void {
    this.conns.delete(c);
  }

  private accept(client: net.Socket): void {
    client.setNoDelay(true);
    const c = new ProxiedConnection(this, client);
    this.conns.add(c);
    let head = Buffer.alloc(0);
    client.on('error', () => c.destroy());
    client.on('close', () => c.destroy());
    client.on('data', (d: Buffer) => {
      if (c.identified) {
        c.pass(d, true);
        return;
      }
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0 && head.length < MAX_HEADER_BYTES) return;
      c.identified = true;
      const m = /\r\nx-flotilla-from:\s*(\d+)/i.exec(head.subarray(0, end < 0 ? head.length : end).toString('latin1'));
      c.fromId = m?.[1];
      const r = c.rule();
      if (r.mode === 'reset') {
        c.destroy();
        return;
      }
      if (r.mode === 'drop') {
        // Hold the connection open and say nothing (its handshake times out at the sender).
        c.tainted = true;
        return;
      }
      c.connectUpstream(Buffer.alloc(0));
      c.pass(head, true);
    });
  }

  private rulesChanged(): void {
    for (const c of [...this.conns]) {
      const r = c.rule();
      if (r.mode === 'reset') c.destroy();
      else if (c.identified && r.mode !== 'drop' && (c.tainted || !c.upstream)) c.destroy();
    }
  }

  /** Resets every connection (e.g. when the member behind it is killed, its links go with it). */
  resetAll(): void {
    for (const c of [...this.conns]) c.destroy();
  }

  async close(): Promise<void> {
    this.unsubscribe();
    this.resetAll();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
