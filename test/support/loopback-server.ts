// An HTTP server of a test's own on 127.0.0.1 (any free port), closed when the test ends.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';

/** Starts `server` listening and returns its base URL (`http://127.0.0.1:<port>`). */
export async function listenOnLoopback(t: Test, server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
