// A local 3-member kvd cluster in the foreground, like etcd's Procfile: members infra1..3 with
// clients on 127.0.0.1:2379, 22379, 32379 and peers on 2380, 22380, 32380. Each member's log
// lines are prefixed with its name; Ctrl-C (SIGINT) or SIGTERM stops all three.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface LocalClusterOptions {
  kvdScript?: string;
  dataRoot?: string;
  basePorts?: number[];
  extraArgs?: string[];
  out?: NodeJS.WritableStream;
}

export function localClusterArgs(i: number, dataRoot: string, basePorts: number[]): string[] {
  const names = basePorts.map((_, k) => `infra${k + 1}`);
  const cluster = basePorts.map((p, k) => `${names[k]}=http://127.0.0.1:${p + 1}`).join(',');
  const p = basePorts[i]!;
  return [
    '--name', names[i]!,
    '--data-dir', `${dataRoot}/${names[i]}.kvd`,
    '--listen-client-urls', `http://127.0.0.1:${p}`,
    '--advertise-client-urls', `http://127.0.0.1:${p}`,
    '--listen-peer-urls', `http://127.0.0.1:${p + 1}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${p + 1}`,
    '--initial-cluster-token', 'flotilla-local-cluster',
    '--initial-cluster', cluster,
    '--initial-cluster-state', 'new',
  ];
}

/** Starts the members and resolves when all of them have exited. */
export function runLocalCluster(opts: LocalClusterOptions = {}): Promise<void> {
  const script = opts.kvdScript ?? fileURLToPath(new URL('../../../bin/kvd.js', import.meta.url));
  const basePorts = opts.basePorts ?? [2379, 22379, 32379];
  const dataRoot = opts.dataRoot ?? '.';
  const out = opts.out ?? process.stdout;
  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = () => {
    if (stopping) return;
    stopping = true;
    out.write('local cluster: stopping all members\n');
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  };
  process.once('SIGINT', stopAll);
  process.once('SIGTERM', stopAll);
  const exits = basePorts.map((_, i) => {
    const name = `infra${i + 1}`;
    const child = spawn(process.execPath, [script, ...localClusterArgs(i, dataRoot, basePorts), ...(opts.extraArgs ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => out.write(`${name.padEnd(7)}| ${line}\n`));
    }
    return new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        out.write(`${name.padEnd(7)}| exited (${signal ?? code})\n`);
        // One member dying takes the others down too, as a Procfile runner does.
        stopAll();
        resolve();
      }),
    );
  });
  return Promise.all(exits).then(() => undefined);
}
