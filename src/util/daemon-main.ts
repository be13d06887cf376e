// The life of a daemon process (kvd, fleetd, flotilla): its command line read (exit 2 with the
// reason on a bad one), --help and --version answered, the daemon started (exit 1 if it cannot),
// one line saying what runs where, then a graceful stop on SIGTERM or SIGINT.

/** What the command line asked for. */
export type DaemonArgsResult<C> = { kind: 'help' } | { kind: 'version' } | { kind: 'config'; config: C };

export interface DaemonMain<C> {
  /** The program's name, at the start of each of its lines on stderr. */
  name: string;
  parse(argv: string[]): DaemonArgsResult<C>;
  /** Whether `parse` threw for a bad command line (anything else is a bug, and is rethrown). */
  isConfigError(e: unknown): e is Error;
  usage(): string;
  /** The --version line. */
  version: string;
  /** Starts the daemon: the line saying what runs where, and how to stop it. */
  start(config: C): Promise<{ started: string; stop(): Promise<void> }>;
}

export async function runDaemon<C>(d: DaemonMain<C>, proc: NodeJS.Process = process): Promise<void> {
  let parsed: DaemonArgsResult<C>;
  try {
    parsed = d.parse(proc.argv.slice(2));
  } catch (err) {
    if (!d.isConfigError(err)) throw err;
    proc.stderr.write(`${d.name}: ${err.message}\nRun '${d.name} --help' for the flags.\n`);
    return void proc.exit(2);
  }
  if (parsed.kind === 'help') {
    proc.stdout.write(d.usage());
    return void proc.exit(0);
  }
  if (parsed.kind === 'version') {
    proc.stdout.write(`${d.version}\n`);
    return void proc.exit(0);
  }
  let running: { started: string; stop(): Promise<void> };
  try {
    running = await d.start(parsed.config);
  } catch (err) {
    proc.stderr.write(`${d.name}: cannot start: ${(err as Error).message}\n`);
    return void proc.exit(1);
  }
  proc.stderr.write(`${d.name}: ${running.started}\n`);
  runUntilSignal(d.name, running.stop, proc);
}

/**
 * Stops gracefully on SIGTERM or SIGINT and exits 0 (1 if the stop failed). A second signal while
 * stopping exits at once, for an operator who will not wait for a unit's TimeoutStopSec.
 */
export function runUntilSignal(name: string, stop: () => Promise<void>, proc: NodeJS.Process = process): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      proc.stderr.write(`${name}: ${signal} again: exiting now\n`);
      proc.exit(1);
    }
    stopping = true;
    proc.stderr.write(`${name}: ${signal}: stopping\n`);
    stop().then(
      () => proc.exit(0),
      (err: unknown) => {
        proc.stderr.write(`${name}: stop failed: ${(err as Error).message}\n`);
        proc.exit(1);
      },
    );
  };
  proc.on('SIGINT', onSignal);
  proc.on('SIGTERM', onSignal);
}
