// What every command gets: its arguments and flags, the global options, the output format, and a
// client made on first use (and closed when the command ends).
import { pino } from 'pino';
import { Client, type ClientTls } from '../client/index.js';
import type { Flags, FlagSpec } from './flags.js';
import type { KvctlIo } from './io.js';
import { newPrinter, type Printer, type PrinterOptions } from './printer.js';

export interface GlobalOptions {
  endpoints: string[];
  dialTimeoutMs: number;
  commandTimeoutMs: number;
  writeOut: string;
  hex: boolean;
  debug: boolean;
  /** From --cacert, --cert, --key, --insecure-transport, --insecure-skip-tls-verify. */
  tls?: ClientTls;
}

export class Ctx {
  private clients: Client[] = [];

  constructor(
    readonly io: KvctlIo,
    readonly args: string[],
    /** Arguments before `--` (-1 without one). */
    readonly argsBeforeDash: number,
    readonly flags: Flags,
    readonly global: GlobalOptions,
  ) {}

  /** The output format (-w) with its options; an unsupported format fails here (exit 4). */
  printer(opts: Omit<PrinterOptions, 'hex'> = {}): Printer {
    return newPrinter(this.global.writeOut, this.io, { ...opts, hex: this.global.hex });
  }

  /** A client of the --endpoints (or of `endpoints` when given); no member auto-sync, as etcdctl. */
  client(endpoints: string[] = this.global.endpoints, tls: ClientTls | undefined = this.global.tls): Client {
    const logger = this.global.debug ? pino({ level: 'debug' }, pino.destination(2)) : pino({ level: 'silent' });
    const c = new Client({
      endpoints,
      dialTimeoutMs: this.global.dialTimeoutMs,
      requestTimeoutMs: this.global.commandTimeoutMs,
      autoSyncMembers: false,
      logger,
      tls,
    });
    this.clients.push(c);
    return c;
  }

  /** The deadline options of one short call (--command-timeout). */
  call(): { timeoutMs: number } {
    return { timeoutMs: this.global.commandTimeoutMs };
  }

  close(): void {
    for (const c of this.clients) c.close();
    this.clients = [];
  }
}

export interface Command {
  /** `put`, `lease grant`, ... */
  name: string;
  aliases?: string[];
  /** The USAGE line after `kvctl `. */
  use: string;
  short: string;
  description?: string;
  flags: FlagSpec[];
  /** The command handles Ctrl-C itself (lock, elect, watch, keep-alive); others exit 130 at once. */
  interruptible?: boolean;
  run(ctx: Ctx): Promise<number | void>;
}
