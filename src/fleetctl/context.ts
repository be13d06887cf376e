// What every fleetctl command gets: its arguments and flags, the global options, its streams, and
// the store (a client and the registry over it, made on first use and closed when the command ends).
import { pino } from 'pino';
import { Client, type ClientTls } from '../client/index.js';
import { Registry, RegistryView, type RegistrySnapshot } from '../fleet/registry/index.js';
import type { Flags, FlagSpec } from '../kvctl/flags.js';

/** The streams and surroundings of one invocation (the process's, or a test's). */
export interface FleetctlIo {
  stdout(data: string): void;
  stderr(data: string): void;
  env: Record<string, string | undefined>;
  /** Aborted on SIGINT/SIGTERM: a blocking command or `journal -f` ends with exit code 130. */
  interrupt: AbortSignal;
  /** Directory that relative unit file paths are read from (default: the process's). */
  cwd?: string;
  /** The clock for "2min 3s ago" in `status` (default Date.now). */
  now?: () => number;
}

export interface GlobalOptions {
  endpoints: string[];
  /** From --ca-file, --cert-file and --key-file; undefined when none is given. */
  tls?: ClientTls;
  /** --request-timeout, in milliseconds. */
  requestTimeoutMs: number;
  /** The registry's key prefix (--etcd-key-prefix). */
  prefix: string;
  debug: boolean;
}

export class Ctx {
  private client: Client | undefined;
  private reg: Registry | undefined;
  private liveView: RegistryView | undefined;

  constructor(
    readonly io: FleetctlIo,
    readonly args: string[],
    readonly flags: Flags,
    readonly global: GlobalOptions,
  ) {}

  /** A line on stdout (fleet's stdout(): a newline is added unless there is one). */
  out(text: string): void {
    this.io.stdout(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** A line on stderr, as fleet's stderr(). */
  err(text: string): void {
    this.io.stderr(text.endsWith('\n') ? text : `${text}\n`);
  }

  now(): number {
    return (this.io.now ?? Date.now)();
  }

  get registry(): Registry {
    if (!this.reg) {
      const logger = this.global.debug ? pino({ level: 'debug' }, pino.destination(2)) : pino({ level: 'silent' });
      this.client = new Client({
        endpoints: this.global.endpoints,
        tls: this.global.tls,
        dialTimeoutMs: this.global.requestTimeoutMs,
        requestTimeoutMs: this.global.requestTimeoutMs,
        // fleetctl talks to the endpoints it was given, as fleet's etcd client does.
        autoSyncMembers: false,
        logger,
      });
      this.reg = new Registry(this.client, this.global.prefix);
    }
    return this.reg;
  }

  /** One linearizable read of the whole registry. */
  snapshot(): Promise<RegistrySnapshot> {
    return this.registry.snapshot();
  }

  /**
   * A live mirror of the registry, started on first use (after the command's writes, so that its
   * first snapshot already holds them). Blocking waits on it instead of polling.
   */
  async view(): Promise<RegistryView> {
    if (!this.liveView) {
      const v = new RegistryView(this.registry);
      // The view retries by itself; a wait's deadline (--block-attempts) bounds how long.
      v.on('error', () => undefined);
      await v.start();
      this.liveView = v;
    }
    return this.liveView;
  }

  async close(): Promise<void> {
    const v = this.liveView;
    this.liveView = undefined;
    // stop() marks the view stopped and cancels its watch at once; closing the client then fails
    // whatever call the view still has in flight instead of waiting for its timeout.
    const stopped = v?.stop();
    this.client?.close();
    await stopped;
  }
}

export interface Command {
  name: string;
  /** The USAGE line after `fleetctl `. */
  use: string;
  short: string;
  description?: string;
  flags: FlagSpec[];
  run(ctx: Ctx): Promise<number | void>;
}
