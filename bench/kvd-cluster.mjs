#!/usr/bin/env node
// A throwaway kvd cluster on loopback for the benchmarks: 3 members (k1..k3, clients on
// 127.0.0.1:21791-21793, peers on 21801-21803) or 1 member (k1), data under a fresh temporary
// directory that stop() deletes. The ports are below Linux's ephemeral range (32768-60999), where
// an outgoing connection could take one; when one is in use anyway, the next hundred is tried. kvd's defaults otherwise (heartbeat 100 ms, election 1000 ms,
// snapshot count 100000), as etcd-cluster.sh keeps etcd's.
//
//   node bench/kvd-cluster.mjs [--size 3|1] [--base-port 21791]   # foreground; Ctrl-C stops and deletes
//
// As a module: `const c = new KvdCluster({ size: 3 }); await c.start(); c.endpoints(); await c.kill('k1'); await c.stop();`
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_DIR, sleep, waitReady } from './lib.mjs';

function portTaken(port) {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(true));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(false)));
  });
}

const KVD = join(REPO_DIR, 'dist', 'bin', 'kvd.js');

export class KvdCluster {
  /**
   * @param {{ kvdScript?: string, size?: number, basePort?: number, nodeArgs?: string[] | ((name: string) => string[]), extraArgs?: string[], logLevel?: string, env?: Record<string,string>, tls?: { cert: string, key: string } }} opts
   *   tls: https:// client URLs with this certificate (file paths)
   */
  constructor(opts = {}) {
    this.tls = opts.tls;
    this.scheme = opts.tls ? 'https' : 'http';
    this.size = opts.size ?? 3;
    this.basePort = opts.basePort ?? 21791;
    this.nodeArgs = opts.nodeArgs ?? [];
    this.extraArgs = opts.extraArgs ?? [];
    this.logLevel = opts.logLevel ?? 'info';
    this.env = opts.env ?? {};
    this.kvdScript = opts.kvdScript ?? KVD;
    this.kind = 'kvd';
    this.layout(this.basePort);
  }

  layout(base) {
    this.members = [];
    for (let i = 1; i <= this.size; i++) {
      this.members.push({ name: `k${i}`, clientPort: base + i - 1, peerPort: base + 10 + i - 1, proc: undefined });
    }
  }

  async portsFree() {
    for (const m of this.members) {
      for (const port of [m.clientPort, m.peerPort]) if (await portTaken(port)) return false;
    }
    return true;
  }

  endpoints() {
    return this.members.map((m) => `${this.scheme}://127.0.0.1:${m.clientPort}`);
  }

  urlOf(name) {
    const m = this.members.find((x) => x.name === name);
    return `${this.scheme}://127.0.0.1:${m.clientPort}`;
  }

  nameOf(url) {
    return this.members.find((m) => url.endsWith(`:${m.clientPort}`))?.name;
  }

  /** Pids of the running members. */
  pids() {
    return this.members.filter((m) => m.proc && m.proc.exitCode === null && m.proc.signalCode === null).map((m) => m.proc.pid);
  }

  pidOf(name) {
    return this.members.find((m) => m.name === name)?.proc?.pid;
  }

  argsOf(m) {
    const cluster = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(',');
    return [
      '--name', m.name,
      '--data-dir', join(this.dataRoot, `${m.name}.kvd`),
      '--listen-client-urls', `${this.scheme}://127.0.0.1:${m.clientPort}`,
      '--advertise-client-urls', `${this.scheme}://127.0.0.1:${m.clientPort}`,
      ...(this.tls ? ['--cert-file', this.tls.cert, '--key-file', this.tls.key] : []),
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster-token', `flotilla-bench-${this.size}`,
      '--initial-cluster', cluster,
      '--initial-cluster-state', 'new',
      '--log-level', this.logLevel,
      ...this.extraArgs,
    ];
  }

  spawnMember(m) {
    const nodeArgs = typeof this.nodeArgs === 'function' ? this.nodeArgs(m.name) : this.nodeArgs;
    const log = createWriteStream(join(this.dataRoot, `${m.name}.log`), { flags: 'a' });
    const proc = spawn(process.execPath, [...nodeArgs, this.kvdScript, ...this.argsOf(m)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.env },
    });
    proc.stdout.pipe(log);
    proc.stderr.pipe(log);
    proc.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    m.proc = proc;
    return proc;
  }

  async start(timeoutMs = 30000) {
    if (!existsSync(this.kvdScript)) throw new Error(`${this.kvdScript} is missing: run npm run build first`);
    let base = this.basePort;
    for (let tries = 0; !(await this.portsFree()); tries++) {
      if (tries >= 20) throw new Error(`no free ports from ${this.basePort} to ${base + 20}: pick another --base-port`);
      base += 100;
      this.layout(base);
    }
    this.dataRoot = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
    for (const m of this.members) this.spawnMember(m);
    try {
      await waitReady(this.endpoints(), timeoutMs);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** SIGKILL one member (its data directory is kept). */
  async kill(name) {
    const m = this.members.find((x) => x.name === name);
    if (!m?.proc) return;
    m.proc.kill('SIGKILL');
    await m.proc.exited;
  }

  /** Sends SIGKILL at once (synchronously); the promise resolves when the process is gone. */
  killNow(name) {
    const m = this.members.find((x) => x.name === name);
    if (!m?.proc) return Promise.resolve();
    m.proc.kill('SIGKILL');
    return m.proc.exited;
  }

  /** Starts a killed member again on its data directory. */
  async restart(name) {
    const m = this.members.find((x) => x.name === name);
    this.spawnMember(m);
  }

  /** SIGTERM every member (SIGKILL after `graceMs`), then deletes the data. */
  async stop(graceMs = 10000) {
    const procs = this.members.map((m) => m.proc).filter((p) => p && p.exitCode === null && p.signalCode === null);
    for (const p of procs) p.kill('SIGTERM');
    await Promise.race([Promise.all(procs.map((p) => p.exited)), sleep(graceMs)]);
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    for (const m of this.members) m.proc = undefined;
    if (this.dataRoot && !process.env.KEEP) rmSync(this.dataRoot, { recursive: true, force: true });
    this.dataRoot = undefined;
  }
}

const isMain = process.argv[1] && import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const { values } = parseArgs({ options: { size: { type: 'string', default: '3' }, 'base-port': { type: 'string', default: '21791' }, help: { type: 'boolean' } } });
  if (values.help) {
    process.stdout.write('usage: node bench/kvd-cluster.mjs [--size 3|1] [--base-port 21791]\n');
    process.exit(0);
  }
  const c = new KvdCluster({ size: Number(values.size), basePort: Number(values['base-port']) });
  await c.start();
  process.stdout.write(`kvd cluster ready: ${c.endpoints().join(',')} (pids ${c.pids().join(',')}, data ${c.dataRoot}); Ctrl-C stops it\n`);
  const stop = () => c.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
