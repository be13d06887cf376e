// Running kvctl in tests: the built binary as a process (`node dist/bin/kvctl.js`), in the
// foreground or in the background (watch, lock, elect), and `run()` in-process with captured
// streams (fast, and counted by coverage).
import { spawn, type ChildProcess } from 'node:child_process';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { run, type KvctlIo } from '../../src/kvctl/index.js';
import { plainNode } from '../plain-node.js';

export const kvctlScript = fileURLToPath(new URL('../../dist/bin/kvctl.js', import.meta.url));

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment without KVCTL_/ETCDCTL_ variables of the machine (they would change the flags). */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    // NODE_OPTIONS would load tap's loaders into every kvctl (twice as slow to start).
    if (v !== undefined && !k.startsWith('KVCTL_') && !k.startsWith('ETCDCTL_') && k !== 'NODE_OPTIONS') env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * The command line that starts kvctl: with tap's loader (counted by coverage), or a plain node
 * for tests that run many commands for their output (the transcript, the comparison with
 * etcdctl), where the loader doubled each command's start.
 */
function kvctlCommand(args: string[], coverage: boolean): [string, string[]] {
  return coverage ? [process.execPath, [kvctlScript, ...args]] : plainNode([kvctlScript, ...args]);
}

/** Options of a kvctl started as a process. `coverage: false`: a plain node (test/plain-node.ts). */
export interface ProcessOptions {
  env?: Record<string, string>;
  coverage?: boolean;
}

/** Runs the binary to completion. */
export function kvctl(args: string[], opts: ProcessOptions & { stdin?: string; timeoutMs?: number; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const [cmd, argv] = kvctlCommand(args, opts.coverage ?? true);
    const child = spawn(cmd, argv, { env: cleanEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kvctl ${args.join(' ')} did not finish: ${stdout} ${stderr}`));
    }, opts.timeoutMs ?? 20000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === 'SIGINT' ? 130 : 1), stdout, stderr });
    });
    // A command that exits without reading its input must not fail the test with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.stdin ?? '');
  });
}

const backgrounds = new Set<Background>();

/** Kills every background kvctl still running (a test's teardown, so a failed test cannot hang). */
export async function killBackgrounds(): Promise<void> {
  await Promise.all([...backgrounds].map((b) => b.kill()));
}

/** A kvctl left running (watch, lock, elect, keep-alive). */
export class Background {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number>;
  private readonly child: ChildProcess;
  private waiters: (() => void)[] = [];

  constructor(args: string[], opts: ProcessOptions & { stdin?: boolean } = {}) {
    const [cmd, argv] = kvctlCommand(args, opts.coverage ?? true);
    this.child = spawn(cmd, argv, { env: cleanEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      this.notify();
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      this.notify();
    });
    backgrounds.add(this);
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code, sig) => {
        backgrounds.delete(this);
        resolve(code ?? (sig === 'SIGINT' ? 130 : 1));
      }),
    );
    if (!opts.stdin) this.child.stdin!.end();
  }

  private notify(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  write(s: string): void {
    this.child.stdin!.write(s);
  }

  /** Resolves once stdout (or stderr) matches. */
  async waitFor(re: RegExp, timeoutMs = 15000, stream: 'stdout' | 'stderr' = 'stdout'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this[stream])) {
      if (Date.now() > deadline) throw new Error(`no ${re} in ${stream}: ${JSON.stringify(this.stdout)} / ${JSON.stringify(this.stderr)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  interrupt(): Promise<number> {
    this.child.kill('SIGINT');
    return this.exited;
  }

  kill(): Promise<number> {
    this.child.kill('SIGKILL');
    return this.exited;
  }
}

export interface InProcess extends Result {
  stdoutBytes: Buffer;
}

/** Runs kvctl in this process with captured streams; `interruptAfterMs` sends a Ctrl-C. */
export async function inProcess(
  args: string[],
  opts: { stdin?: string | Buffer; env?: Record<string, string | undefined>; interrupt?: AbortController } = {},
): Promise<InProcess> {
  const out: Buffer[] = [];
  let stderr = '';
  const ac = opts.interrupt ?? new AbortController();
  const io: KvctlIo = {
    stdout: (d) => {
      out.push(typeof d === 'string' ? Buffer.from(d) : Buffer.from(d));
    },
    stderr: (d) => {
      stderr += d;
    },
    stdin: Readable.from(opts.stdin === undefined ? [] : [typeof opts.stdin === 'string' ? Buffer.from(opts.stdin) : opts.stdin]),
    env: opts.env ?? {},
    interrupt: ac.signal,
  };
  const code = await run(args, io);
  const bytes = Buffer.concat(out);
  return { code, stdout: bytes.toString(), stdoutBytes: bytes, stderr };
}

/** Replaces what differs from one cluster to another (IDs, revisions, times) with placeholders. */
export function normalize(s: string): string {
  return s
    .replace(/\b[0-9a-f]{16}\b/g, '<id>')
    .replace(/took = [0-9.]+[µmn]?s/g, 'took = <t>')
    .replace(/remaining\(\d+s\)/g, 'remaining(<n>s)');
}

export async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10000, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
