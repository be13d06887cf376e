// A throwaway etcd cluster through etcd-cluster.sh (../shared/bench, or the copy here), with the
// same interface as KvdCluster. Members a1..a3 (or s1) on 127.0.0.1:23791-23793, etcd's defaults.
import { existsSync, readFileSync } from 'node:fs';
import { runFile, sharedTool, sleep, waitReady } from './lib.mjs';

const RUN = '/tmp/etcd-anchor-run';

function which(cmd) {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) if (existsSync(`${dir}/${cmd}`)) return `${dir}/${cmd}`;
  return undefined;
}

/**
 * Installs Debian's etcd packages when etcd or etcdctl is missing (only called for --vs-etcd):
 * `apt-get install -y etcd-server etcd-client`, which needs root; anyone else is told the command.
 */
export async function ensureEtcd(log = console.error) {
  if (which('etcd') && which('etcdctl')) return;
  const cmd = 'apt-get update && apt-get install -y etcd-server etcd-client';
  if (process.getuid?.() !== 0) throw new Error(`etcd or etcdctl is not on the PATH; install them as root first: ${cmd}`);
  log(`etcd is not installed: ${cmd}`);
  await runFile('bash', ['-c', cmd], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!which('etcd') || !which('etcdctl')) throw new Error(`etcd or etcdctl is still missing after: ${cmd}`);
}

export async function etcdVersion() {
  const r = await runFile('etcd', ['--version'], { allowFail: true });
  return /etcd Version: (\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
}

/** The process exists and is not a zombie. */
function alive(pid) {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export class EtcdCluster {
  /** @param {{ size?: number, tls?: { cert: string, key: string, ca: string } }} opts file paths; tls: https:// client URLs */
  constructor(opts = {}) {
    this.size = opts.size ?? 3;
    this.tls = opts.tls;
    this.scheme = opts.tls ? 'https' : 'http';
    this.kind = 'etcd';
    this.script = sharedTool('etcd-cluster.sh');
    this.names = this.size === 1 ? ['s1'] : ['a1', 'a2', 'a3'];
  }

  endpoints() {
    return this.names.map((n) => `${this.scheme}://127.0.0.1:2379${n.slice(1)}`);
  }

  urlOf(name) {
    return `${this.scheme}://127.0.0.1:2379${name.slice(1)}`;
  }

  nameOf(url) {
    return this.names.find((n) => url.endsWith(`:2379${n.slice(1)}`));
  }

  pidOf(name) {
    try {
      const pid = Number(readFileSync(`${RUN}/${name}.pid`, 'utf8').trim());
      return existsSync(`/proc/${pid}`) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  pids() {
    return this.names.map((n) => this.pidOf(n)).filter((p) => p !== undefined);
  }

  async start() {
    await runFile('bash', [this.script, 'stop'], { allowFail: true });
    await runFile('bash', [this.script, 'start', String(this.size)], { env: this.scriptEnv() });
    await waitReady(this.endpoints());
  }

  /** The script's environment: with TLS, the certificate flags and https:// client URLs. */
  scriptEnv() {
    if (!this.tls) return process.env;
    return {
      ...process.env,
      BENCH_CLIENT_SCHEME: 'https',
      ETCD_EXTRA_ARGS: `--cert-file ${this.tls.cert} --key-file ${this.tls.key}`,
      BENCH_ETCDCTL_ARGS: `--cacert ${this.tls.ca}`,
    };
  }

  async kill(name) {
    const pid = this.pidOf(name);
    await runFile('bash', [this.script, 'kill', name]);
    for (let i = 0; i < 100 && pid && alive(pid); i++) await sleep(20);
  }

  /** Sends SIGKILL at once (synchronously; etcd-cluster.sh kill does the same by pid); resolves when the process is gone. */
  async killNow(name) {
    const pid = this.pidOf(name);
    if (!pid) return;
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 200 && alive(pid); i++) await sleep(10);
  }

  async restart(name) {
    await runFile('bash', [this.script, 'restart', name], { env: this.scriptEnv() });
  }

  async stop() {
    await runFile('bash', [this.script, 'stop'], { allowFail: true });
  }
}
