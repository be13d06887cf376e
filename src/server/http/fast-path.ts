// Puts the front end's fast path (fast-connection.ts) in front of a Node http.Server: the server
// keeps listening, timing out and closing as before, but each new connection is first read by the
// fast path, and given to the server's own connection handler only when a request needs it.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { HttpFrontEnd } from './front-end.js';

export function useFastPath(server: Server, frontEnd: HttpFrontEnd): void {
  // An https server's HTTP handling starts at 'secureConnection' (its 'connection' handler is the
  // TLS handshake's): the fast path reads the decrypted stream there.
  const event = server instanceof TlsServer ? 'secureConnection' : 'connection';
  const nodeHandlers = server.listeners(event) as ((socket: Socket) => void)[];
  server.removeAllListeners(event);
  const handOver = (socket: Socket, buffered: Buffer | null): void => {
    for (const h of nodeHandlers) h.call(server, socket);
    // Node's parser takes the socket's later reads; the bytes already read are given to it as
    // the 'data' event it listens to.
    if (buffered !== null) socket.emit('data', buffered);
    // A client that half-closed in the middle of a request: the FIN came before Node's server
    // listened for it; it answers the request cut short (400) and ends the connection.
    if (socket.readableEnded) socket.emit('end');
  };
  server.on(event, (socket: Socket) => frontEnd.serveConnection(socket, handOver, server.keepAliveTimeout, server.headersTimeout));
}
