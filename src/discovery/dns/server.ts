// The DNS front end: UDP and TCP on one port (default 127.0.0.1:8600, as Consul), answering from
// the service catalog (kept current by its watch: no store read per query). UDP answers larger
// than the client can take (512 bytes, or its EDNS0 size) are truncated with the TC bit; TCP
// carries the whole answer (RFC 1035 §4.2.2 framing, several queries per connection).
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import type { Logger } from '../../util/log.js';
import { componentLogger } from '../../util/log.js';
import type { ServiceCatalog } from '../catalog.js';
import { answerQuery, encodeWithin, formatError, type DnsView } from './answer.js';
import { normalizeDomain } from './names.js';

export interface DnsServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8600; 0 picks a free port (the same for UDP and TCP). */
  port?: number;
  /** Default `flotilla`. */
  domain?: string;
  /** TTL of the records (seconds); default 0, as Consul: every lookup sees the current set. */
  ttl?: number;
  /** Answer only passing instances (default: passing and warning, as Consul's DNS). */
  onlyPassing?: boolean;
  /** Order of the records (tests fix it). */
  random?: () => number;
  /** Idle TCP connections are closed after this long (ms); default 10 s. */
  tcpIdleMs?: number;
  logger?: Logger;
}

/** The largest UDP answer we send, whatever size a client's EDNS0 offers. */
const MAX_UDP = 4096;

export function catalogView(catalog: ServiceCatalog): DnsView {
  return {
    instances: (service, filter) => catalog.instances(service, filter),
    all: function* () {
      for (const e of catalog.all()) yield e.instance;
    },
    serial: () => catalog.revision,
  };
}

export class DnsServer {
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly domain: string;
  private readonly log: Logger;
  private boundPort = 0;

  constructor(
    private readonly view: DnsView,
    private readonly opts: DnsServerOptions = {},
  ) {
    this.domain = normalizeDomain(opts.domain ?? 'flotilla');
    this.log = opts.logger ?? componentLogger('discovery-dns');
  }

  get port(): number {
    return this.boundPort;
  }

  get host(): string {
    return this.opts.host ?? '127.0.0.1';
  }

  /** Binds UDP and TCP; resolves with the port. */
  async listen(): Promise<number> {
    const want = this.opts.port ?? 8600;
    for (let attempt = 0; ; attempt++) {
      const tcp = net.createServer((s) => this.onConnection(s));
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(want, this.host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      const port = (tcp.address() as net.AddressInfo).port;
      const udp = dgram.createSocket(net.isIPv6(this.host) ? 'udp6' : 'udp4');
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind(port, this.host, () => {
            udp.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        udp.close();
        await new Promise<void>((r) => tcp.close(() => r()));
        // With port 0, the port TCP got may be taken for UDP: try another.
        if (want === 0 && (e as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 10) continue;
        throw e;
      }
      udp.on('message', (msg, rinfo) => this.onDatagram(udp, msg, rinfo));
      udp.on('error', (e) => this.log.warn({ err: e.message }, 'dns: UDP socket error'));
      this.udp = udp;
      this.tcp = tcp;
      this.boundPort = port;
      return port;
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }

  /** The wire answer to one query's bytes; undefined for bytes not worth an answer. */
  respond(raw: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    if (raw.length < 12) return undefined;
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(raw);
    } catch {
      return dnsPacket.encode(formatError(raw));
    }
    if (query.type === 'response') return undefined;
    const packet = answerQuery(query, this.view, {
      domain: this.domain,
      ttl: this.opts.ttl ?? 0,
      onlyPassing: this.opts.onlyPassing ?? false,
      random: this.opts.random ?? Math.random,
    });
    if (transport === 'tcp') return encodeWithin(packet, 65535);
    const opt = (query.additionals ?? []).find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    const limit = opt?.udpPayloadSize ? Math.min(MAX_UDP, Math.max(512, opt.udpPayloadSize)) : 512;
    return encodeWithin(packet, limit);
  }

  private onDatagram(udp: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const out = this.respond(msg, 'udp');
    if (out) udp.send(out, rinfo.port, rinfo.address);
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setTimeout(this.opts.tcpIdleMs ?? 10_000, () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const out = this.respond(Buffer.from(msg), 'tcp');
        if (!out) {
          socket.destroy();
          return;
        }
        const frame = Buffer.alloc(2 + out.length);
        frame.writeUInt16BE(out.length, 0);
        out.copy(frame, 2);
        socket.write(frame);
      }
    });
  }
}
