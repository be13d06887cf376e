// The command line: node dist/cluster-tests/run.js [scenario ...|all] [flags]. See cluster-tests/README.md.

import { readFile, writeFile } from 'node:fs/promises';
import { checkHistory } from './checker/check.js';
import type { History } from './checker/history.js';
import { runScenario, type RunOptions, type RunResult } from './runner.js';
import { scenarioNames, scenarios } from './scenarios/index.js';

const USAGE = `usage: node dist/cluster-tests/run.js [scenario ...|all] [flags]

scenarios: ${scenarioNames.join(', ')} (default: all)

  --seed N                   the seed (printed; default: random). Every scenario of the run uses it.
  --duration S               seconds of faults per scenario (default 30)
  --minutes M                the whole run in about M minutes in all (start, recovery and checks
                             included): the time left is shared by the scenarios still to run
  --members N                members (default: the scenario's, 3 or 5)
  --clients N                concurrent clients (default 6)
  --keys N                   keys (default 4)
  --watchers N               watchers (default 2)
  --timeout MS               client timeout per operation (default 2000)
  --think MIN,MAX            pause between two operations of a client, ms (default 0,10)
  --pace X                   multiply the pauses between faults (default 1)
  --heartbeat MS, --election MS, --snapshot-count N, --snapshot-catchup N   kvd flags
  --log-level L              kvd's log level (default info; kept with a failed run)
  --unsafe-local-reads       a deliberately broken server: start kvd with its test-only
                             --test-only-unsafe-local-reads (linearizable reads served from the
                             member's own copy, without ReadIndex); must be caught (exit 1)
  --unsafe-serializable-reads  a deliberately broken client: send gets as serializable reads but
                             check them as linearizable; must be caught (exit 1)
  --out DIR                  keep every run's history, faults, report and member logs in DIR
                             (failed runs are always kept, under $TMPDIR/flotilla-cluster-tests)
  --json FILE                write the summaries as JSON
  --check FILE               only check a saved history.json and print the anomalies
  --quiet                    no fault log
  --verbose                  full anomaly excerpts
`;

function fail(msg: string): never {
  process.stderr.write(`cluster-tests: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

interface Cli {
  names: string[];
  seed: number;
  durationMs?: number;
  minutes?: number;
  json?: string;
  check?: string;
  run: Omit<RunOptions, 'seed' | 'durationMs'>;
}

function parse(argv: string[]): Cli {
  const cli: Cli = {
    names: [],
    seed: Math.floor(Math.random() * 2 ** 31),
    run: { clients: 6, keys: 4, watchers: 2, timeoutMs: 2000, thinkMs: [0, 10], pace: 1 },
  };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) fail(`${flag} needs a number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const val = () => inline ?? argv[++i];
    switch (flag) {
      case '--seed': cli.seed = num(flag, val()); break;
      case '--duration': cli.durationMs = num(flag, val()) * 1000; break;
      case '--minutes': cli.minutes = num(flag, val()); break;
      case '--members': cli.run.members = num(flag, val()); break;
      case '--clients': cli.run.clients = num(flag, val()); break;
      case '--keys': cli.run.keys = Math.max(1, num(flag, val())); break;
      case '--watchers': cli.run.watchers = num(flag, val()); break;
      case '--timeout': cli.run.timeoutMs = num(flag, val()); break;
      case '--think': {
        const [lo, hi] = (val() ?? '').split(',').map(Number);
        if (!Number.isFinite(lo) || !Number.isFinite(hi ?? lo)) fail('--think needs MIN,MAX');
        cli.run.thinkMs = [lo!, hi ?? lo!];
        break;
      }
      case '--pace': cli.run.pace = num(flag, val()); break;
      case '--heartbeat': cli.run.heartbeatMs = num(flag, val()); break;
      case '--election': cli.run.electionMs = num(flag, val()); break;
      case '--snapshot-count': cli.run.snapshotCount = num(flag, val()); break;
      case '--snapshot-catchup': cli.run.snapshotCatchUpEntries = num(flag, val()); break;
      case '--unsafe-serializable-reads': cli.run.unsafeSerializableReads = true; break;
      case '--unsafe-local-reads': cli.run.unsafeLocalReads = true; break;
      case '--log-level': cli.run.logLevel = val(); break;
      case '--out': cli.run.outDir = val(); break;
      case '--json': cli.json = val(); break;
      case '--check': cli.check = val(); break;
      case '--quiet': cli.run.quiet = true; break;
      case '--verbose': cli.run.verbose = true; break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        process.exit(0);
      default:
        if (a.startsWith('-')) fail(`unknown flag ${a}`);
        if (a === 'all') cli.names.push(...scenarioNames);
        else if (scenarioNames.includes(a)) cli.names.push(a);
        else fail(`unknown scenario ${a}`);
    }
  }
  if (cli.names.length === 0) cli.names = [...scenarioNames];
  return cli;
}

async function main(): Promise<void> {
  const cli = parse(process.argv.slice(2));
  if (cli.check) {
    const h = JSON.parse(await readFile(cli.check, 'utf8')) as History;
    const r = checkHistory(h);
    for (const a of r.anomalies) {
      process.stdout.write(`ANOMALY ${a.type}: ${a.message}\n`);
      for (const l of a.excerpt ?? []) process.stdout.write(`   ${l}\n`);
    }
    const n = Object.values(r.counts).reduce((a, b) => a + b, 0);
    process.stdout.write(`${h.ops.length} ops, ${r.stats.watchEvents} watch events: ${n} anomalies ${JSON.stringify(r.counts)}\n`);
    process.exit(n === 0 ? 0 : 1);
  }
  const budget = cli.durationMs === undefined && cli.minutes !== undefined ? new TimeBudget(cli.minutes * 60_000, cli.names.length) : undefined;
  const fixed = cli.durationMs ?? 30_000;
  process.stdout.write(
    `cluster-tests: seed ${cli.seed}, ${cli.names.length} scenario(s), ` +
      (budget ? `about ${cli.minutes} minute(s) in all\n` : `${(fixed / 1000).toFixed(0)} s each\n`),
  );
  const started = performance.now();
  const results: RunResult[] = [];
  for (const name of cli.names) {
    const sc = scenarios.find((s) => s.name === name)!;
    const t0 = performance.now();
    const durationMs = budget ? budget.next() : fixed;
    results.push(await runScenario(sc, { ...cli.run, seed: cli.seed, durationMs }));
    budget?.spent(performance.now() - t0 - durationMs);
  }
  process.stdout.write('\n== summary\n');
  for (const r of results) {
    const ops = `${r.ops} ops`;
    const faults = Object.values(r.faults).reduce((a, b) => a + b, 0);
    const fo = r.failover ? `, failover median ${r.failover.medianMs} ms max ${r.failover.maxMs} ms` : '';
    process.stdout.write(
      `${r.passed ? 'PASS' : 'FAIL'} ${r.scenario.padEnd(16)} seed=${r.seed} ${ops}, ${faults} faults, ${r.unknown} unknown, ${r.anomalies} anomalies${fo}${r.error ? ' (run error)' : ''}\n`,
    );
  }
  process.stdout.write(`${results.length} scenario(s) in ${((performance.now() - started) / 60_000).toFixed(1)} minutes\n`);
  if (cli.json) await writeFile(cli.json, JSON.stringify(results, null, 1));
  process.exit(results.every((r) => r.passed) ? 0 : 1);
}

/**
 * Shares a total time between scenarios. Each scenario costs its fault time plus an overhead (start
 * the cluster, recover, wait for the watchers, check), learnt from the scenarios already run, so
 * that the whole set ends near the total whatever the machine's speed.
 */
class TimeBudget {
  private readonly deadline: number;
  private left: number;
  private overheads: number[] = [];

  constructor(totalMs: number, scenarios: number) {
    this.deadline = performance.now() + totalMs;
    this.left = scenarios;
  }

  /** The fault time of the next scenario. */
  next(): number {
    const overhead = this.overheads.length ? this.overheads.reduce((a, b) => a + b, 0) / this.overheads.length : 12_000;
    const share = (this.deadline - performance.now()) / Math.max(1, this.left) - overhead;
    this.left--;
    return Math.max(5_000, Math.round(share / 1000) * 1000);
  }

  /** What the last scenario took beyond its fault time. */
  spent(overheadMs: number): void {
    this.overheads.push(Math.max(0, overheadMs));
  }
}

main().catch((err) => {
  process.stderr.write(`cluster-tests: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
