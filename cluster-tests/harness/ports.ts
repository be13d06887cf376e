// Free loopback ports for test members, shared by every harness (cluster-tests and the unit
// tests' clusters).
import net from 'node:net';

/**
 * A port free to listen on, chosen below the kernel's ephemeral range (32768 and up): a port from
 * that range can be taken by an outgoing connection before the member binds it.
 *
 * A port probed free is not bound until its member starts, so two draws before that could hand
 * out the same number. Within a process, no port is handed out twice. Between tap's parallel test
 * processes, each job slot (TAP_JOB_ID; two processes running at once never share one) draws from
 * its own block of the range.
 */
export async function freePort(): Promise<number> {
  const { base, size } = portBlock(process.env.TAP_JOB_ID);
  for (;;) {
    const port = base + Math.floor(Math.random() * size);
    if (handedOut.has(port)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Every port freePort() returned in this process. */
const handedOut = new Set<number>();

const PORTS_FROM = 10000;
const PORTS_TO = 32000;
const JOB_BLOCKS = 4;

/** The ports a test process in tap's job slot `jobId` draws from; the whole range outside tap. */
export function portBlock(jobId: string | undefined): { base: number; size: number } {
  const job = Number(jobId);
  if (jobId === undefined || jobId === '' || !Number.isInteger(job) || job < 0) return { base: PORTS_FROM, size: PORTS_TO - PORTS_FROM };
  const size = Math.floor((PORTS_TO - PORTS_FROM) / JOB_BLOCKS);
  return { base: PORTS_FROM + (job % JOB_BLOCKS) * size, size };
}
