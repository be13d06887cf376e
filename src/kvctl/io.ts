// What a command reads and writes: standard streams, the environment and the interrupt signal,
// behind one interface so that tests can run commands in-process.
import type { Readable } from 'node:stream';

export interface KvctlIo {
  stdout(data: string | Uint8Array): void;
  stderr(data: string): void;
  /** Standard input (put's value, txn's requests, watch -i, elect/lock never read it). */
  stdin: Readable;
  env: Record<string, string | undefined>;
  /** Aborted on SIGINT/SIGTERM: lock and elect release and exit 0, watch exits 130. */
  interrupt: AbortSignal;
}

/** The process's streams (bin/kvctl). */
export function processIo(interrupt: AbortSignal): KvctlIo {
  return {
    stdout: (d) => {
      process.stdout.write(d);
    },
    stderr: (d) => {
      process.stderr.write(d);
    },
    stdin: process.stdin,
    env: process.env,
    interrupt,
  };
}

/**
 * Runs a command-line tool (kvctl, fleetctl) on this process and exits with its code. SIGINT and
 * SIGTERM abort its `interrupt` (what it is doing ends cleanly: a lock released, a watch ended); a
 * second one exits at once with 130. A closed pipe on stdout or stderr (`kvctl get --prefix '' |
 * head`) ends the process quietly with 141, as SIGPIPE ends etcdctl and fleetctl.
 */
export async function runAsProcess(run: (argv: string[], io: KvctlIo) => Promise<number>): Promise<never> {
  const interrupt = new AbortController();
  let signals = 0;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (++signals > 1) process.exit(130);
      interrupt.abort(sig);
    });
  }
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(141);
      throw err;
    });
  }
  process.exit(await run(process.argv.slice(2), processIo(interrupt.signal)));
}

/** Reads standard input line by line, as Go's bufio.Reader.ReadString('\n'). */
export class LineReader {
  private buf = Buffer.alloc(0);
  private ended = false;
  private waiter: (() => void) | undefined;
  private error: Error | undefined;

  constructor(private readonly input: Readable) {
    input.on('data', (d: Buffer | string) => {
      this.buf = Buffer.concat([this.buf, typeof d === 'string' ? Buffer.from(d) : d]);
      this.wake();
    });
    input.on('end', () => {
      this.ended = true;
      this.wake();
    });
    input.on('error', (e: Error) => {
      this.error = e;
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /**
   * The next line without its newline; `undefined` at the end of the input, also when the last
   * line has no newline (Go's ReadString returns io.EOF then, and etcdctl stops with "EOF").
   */
  async readLine(): Promise<string | undefined> {
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl >= 0) {
        const line = this.buf.subarray(0, nl).toString('utf8');
        this.buf = this.buf.subarray(nl + 1);
        return line;
      }
      if (this.ended) {
        if (this.error) throw this.error;
        return undefined;
      }
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  /** Stops reading (the input stays open for the process, but no data is buffered). */
  close(): void {
    this.input.pause();
  }
}

/** All of standard input (put's value). */
export async function readAll(input: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}
