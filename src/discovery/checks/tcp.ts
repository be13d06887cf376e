// TCP check: passing when a connection to host:port opens, critical otherwise.
import net from 'node:net';
import type { CheckResult, Probe } from './types.js';

export function tcpProbe(host: string, port: number): Probe {
  const where = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  return (signal) =>
    new Promise<CheckResult>((resolve) => {
      if (signal.aborted) return resolve({ status: 'critical', output: `TCP connect ${where}: canceled` });
      const socket = net.connect({ host, port });
      const done = (r: CheckResult) => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(r);
      };
      const onAbort = () => done({ status: 'critical', output: `TCP connect ${where}: canceled` });
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => done({ status: 'passing', output: `TCP connect ${where}: Success` }));
      socket.once('error', (e) => done({ status: 'critical', output: `dial tcp ${where}: ${e.message}` }));
    });
}
