// A standalone HTTP server for the front end (the member may instead mount handle/handleUpgrade on
// its own http.Server; then it should set requestTimeout to 0 as here, or long watch request bodies
// are cut after Node's default 300 s).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KvService } from '../service.js';
import { createHttpFrontEnd, type HttpFrontEnd, type HttpFrontEndOptions } from './front-end.js';
import { useFastPath } from './fast-path.js';

export interface ListenOptions extends HttpFrontEndOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 2379; 0 picks a free port. */
  port?: number;
}

export interface HttpListener {
  readonly server: Server;
  readonly frontEnd: HttpFrontEnd;
  readonly address: { host: string; port: number };
  /** The client URL, e.g. http://127.0.0.1:2379. */
  readonly url: string;
  close(): Promise<void>;
}

export async function listenHttp(service: KvService, opts: ListenOptions = {}): Promise<HttpListener> {
  const host = opts.host ?? '127.0.0.1';
  const frontEnd = createHttpFrontEnd(service, opts);
  const server = createServer({ requestTimeout: 0, keepAliveTimeout: 65_000 }, frontEnd.handle);
  server.on('upgrade', frontEnd.handleUpgrade);
  useFastPath(server, frontEnd);
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 2379, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const address = { host: a.address, port: a.port };
  const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  let closed: Promise<void> | null = null;
  return {
    server,
    frontEnd,
    address,
    url,
    close() {
      closed ??= (async () => {
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        await frontEnd.close();
        server.closeAllConnections();
        await done;
      })();
      return closed;
    },
  };
}
