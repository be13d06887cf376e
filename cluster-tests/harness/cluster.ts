// Real kvd members on 127.0.0.1: free ports, temporary data directories, a fault-injecting proxy
// in front of every peer port, and the faults a real cluster sees (kill -9, SIGSTOP, partitions,
// leader transfer, membership changes). Every process started here is killed by pid when the
// cluster closes, and also when this process exits for any reason it can catch.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorText, post } from '../lib/http.js';
import { sleep } from '../lib/rng.js';
import { Network } from './network.js';
import { freePort } from './ports.js';
import { PeerProxy } from './proxy.js';

// ---- every process and directory this process made, for the last-resort cleanup -------------

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let cleanupInstalled = false;

function killEverything(): void {
  for (const c of liveChildren) {
    try {
      if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  liveChildren.clear();
  for (const d of liveDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  liveDirs.clear();
}

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killEverything);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killEverything();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cluster-tests: cannot find the repository root');
    dir = up;
  }
}

export function kvdScript(): string {
  return process.env.CT_KVD_BIN ?? join(repoRoot(), 'dist', 'bin', 'kvd.js');
}


/** Sends a signal to a child by pid; a child that is already gone is not an error. */
function signal(c: ChildProcess, sig: NodeJS.Signals): void {
  if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  try {
    process.kill(c.pid, sig);
  } catch {
    /* it exited meanwhile */
  }
}

// ---- one member ------------------------------------------------------------------------------

export type MemberState = 'new' | 'running' | 'paused' | 'down';

export interface StatusView {
  memberId: string;
  leader: string;
  raftTerm: number;
  raftIndex: number;
  applied: number;
  revision: number;
  isLearner: boolean;
}

export class Member {
  child: ChildProcess | undefined;
  state: MemberState = 'new';
  /** The member id, once known (from member/list or member/add). */
  id = '';
  isLearner = false;
  /** Removed from the cluster: not a client endpoint any more, not restarted. */
  removed = false;
  starts = 0;
  private readonly tail: string[] = [];
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly cluster: Cluster,
    readonly name: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly proxy: PeerProxy,
    readonly dataDir: string,
    /** The flags of its first start (later starts reuse them; the data directory wins). */
    private readonly args: string[],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  /** The peer URL the others know: the proxy's. */
  get peerURL(): string {
    return `http://127.0.0.1:${this.proxy.port}`;
  }

  get running(): boolean {
    return this.state === 'running' || this.state === 'paused';
  }

  log(): string {
    return this.tail.join('');
  }

  /** Counted from the member's log (level info or lower). */
  snapshotsTaken = 0;
  snapshotsInstalled = 0;

  private keep(s: string): void {
    if (s.includes('took a snapshot')) this.snapshotsTaken += s.split('took a snapshot').length - 1;
    if (s.includes('installed a snapshot')) this.snapshotsInstalled += s.split('installed a snapshot').length - 1;
    this.tail.push(s);
    if (this.tail.length > 400) this.tail.splice(0, this.tail.length - 300);
  }

  async start(timeoutMs = 20000): Promise<void> {
    if (this.running) return;
    installCleanup();
    const child = spawn(process.execPath, [kvdScript(), ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KVD_LOG_LEVEL: this.cluster.opts.logLevel ?? 'info' },
    });
    this.child = child;
    liveChildren.add(child);
    this.starts++;
    this.state = 'running';
    const started = performance.now();
    this.keep(`--- start #${this.starts} at ${started.toFixed(0)} (pid ${child.pid})\n`);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, sig) => {
        liveChildren.delete(child);
        this.keep(`--- exit ${code ?? sig}\n`);
        if (this.child === child) this.state = 'down';
        resolve();
      }),
    );
    child.stdout!.on('data', (d: Buffer) => this.keep(d.toString()));
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`kvd ${this.name} did not start within ${timeoutMs} ms:\n${this.log().slice(-2000)}`));
      }, timeoutMs);
      const onData = (d: Buffer) => {
        const s = d.toString();
        this.keep(s);
        seen += s;
        if (seen.includes('serving clients')) {
          cleanup();
          resolve();
        }
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`kvd ${this.name} exited with ${code} while starting:\n${this.log().slice(-2000)}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        child.stderr!.on('data', (d: Buffer) => this.keep(d.toString()));
        child.off('exit', onExit);
      };
      child.stderr!.on('data', onData);
      child.once('exit', onExit);
    });
  }

  /** kill -9, and wait for the process to be gone. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || !this.running) return;
    signal(c, 'SIGKILL');
    await this.exited;
    // The proxy's connections to and from the dead member go with it.
    this.proxy.resetAll();
  }

  /** SIGTERM (a clean stop), kill -9 if it takes longer than `timeoutMs`. */
  async stop(timeoutMs = 5000): Promise<void> {
    const c = this.child;
    if (!c || !this.running) return;
    if (this.state === 'paused') this.resume();
    signal(c, 'SIGTERM');
    const t = setTimeout(() => {
      if (this.child === c && this.running) signal(c, 'SIGKILL');
    }, timeoutMs);
    await this.exited;
    clearTimeout(t);
    this.proxy.resetAll();
  }

  pause(): void {
    if (this.state !== 'running' || !this.child) return;
    signal(this.child, 'SIGSTOP');
    this.state = 'paused';
  }

  resume(): void {
    if (this.state !== 'paused' || !this.child) return;
    signal(this.child, 'SIGCONT');
    this.state = 'running';
  }

  async status(timeoutMs = 1000): Promise<StatusView | undefined> {
    if (this.state !== 'running') return undefined;
    const r = await post(this.url, '/v3/maintenance/status', {}, timeoutMs);
    if (r.kind !== 'answer' || r.status !== 200) return undefined;
    const b = r.body;
    return {
      memberId: String(b.header?.member_id ?? ''),
      leader: String(b.leader ?? '0'),
      raftTerm: Number(b.raftTerm ?? 0),
      raftIndex: Number(b.raftIndex ?? 0),
      applied: Number(b.raftAppliedIndex ?? 0),
      revision: Number(b.header?.revision ?? 0),
      isLearner: b.isLearner === true,
    };
  }
}

// ---- the cluster -----------------------------------------------------------------------------

export interface ClusterOptions {
  members: number;
  heartbeatMs?: number;
  electionMs?: number;
  snapshotCount?: number;
  snapshotCatchUpEntries?: number;
  logLevel?: string;
  /** More kvd flags for every member. */
  flags?: string[];
  /**
   * Where the members' data directories go, kept after close (for a post-mortem). Default: a fresh
   * temporary directory, removed at close.
   */
  dataDir?: string;
}

export class Cluster {
  readonly members: Member[] = [];
  readonly network = new Network();
  readonly token = `ct-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
  private baseDir = '';
  private nextIndex = 1;
  private closed = false;

  private constructor(readonly opts: ClusterOptions) {}

  static async start(opts: ClusterOptions): Promise<Cluster> {
    installCleanup();
    const c = new Cluster(opts);
    if (opts.dataDir !== undefined) {
      await mkdir(opts.dataDir, { recursive: true });
      c.baseDir = opts.dataDir;
    } else {
      c.baseDir = await mkdtemp(join(tmpdir(), 'flotilla-ct-'));
      liveDirs.add(c.baseDir);
    }
    try {
      const specs = [];
      for (let i = 0; i < opts.members; i++) specs.push(await c.prepare());
      const initial = specs.map((s) => `${s.name}=${s.peerURL}`).join(',');
      for (const s of specs) c.members.push(c.member(s, ['--initial-cluster', initial, '--initial-cluster-state', 'new']));
      await Promise.all(c.members.map((m) => m.start()));
      await c.leader(20000);
      await c.refreshIds();
      return c;
    } catch (err) {
      await c.close();
      throw err;
    }
  }

  /** The members that belong to the cluster (not removed), whatever their state. */
  get current(): Member[] {
    return this.members.filter((m) => !m.removed);
  }

  /** The voters among the current members. */
  get voters(): Member[] {
    return this.current.filter((m) => !m.isLearner);
  }

  byId(id: string): Member | undefined {
    return this.members.find((m) => m.id === id);
  }

  private async prepare() {
    const name = `m${this.nextIndex++}`;
    const clientPort = await freePort();
    const peerPort = await freePort();
    const proxy = new PeerProxy(
      name,
      peerPort,
      this.network,
      (id) => this.members.find((m) => m.id === id)?.name,
      () => this.current.map((m) => m.name),
    );
    await proxy.listen();
    const dataDir = join(this.baseDir, name);
    return { name, clientPort, peerPort, proxy, dataDir, peerURL: `http://127.0.0.1:${proxy.port}` };
  }

  private member(s: Awaited<ReturnType<Cluster['prepare']>>, bootstrap: string[]): Member {
    const o = this.opts;
    const args = [
      '--name', s.name,
      '--data-dir', s.dataDir,
      '--listen-client-urls', `http://127.0.0.1:${s.clientPort}`,
      '--advertise-client-urls', `http://127.0.0.1:${s.clientPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${s.peerPort}`,
      '--initial-advertise-peer-urls', s.peerURL,
      '--initial-cluster-token', this.token,
      ...bootstrap,
      ...(o.heartbeatMs ? ['--heartbeat-interval', String(o.heartbeatMs)] : []),
      ...(o.electionMs ? ['--election-timeout', String(o.electionMs)] : []),
      ...(o.snapshotCount ? ['--snapshot-count', String(o.snapshotCount)] : []),
      ...(o.snapshotCatchUpEntries ? ['--snapshot-catchup-entries', String(o.snapshotCatchUpEntries)] : []),
      ...(o.flags ?? []),
    ];
    return new Member(this, s.name, s.clientPort, s.peerPort, s.proxy, s.dataDir, args);
  }

  /** Learns every member's id from member/list. */
  async refreshIds(): Promise<void> {
    for (const m of this.current.filter((x) => x.state === 'running')) {
      const r = await post(m.url, '/v3/cluster/member/list', {}, 2000);
      if (r.kind !== 'answer' || r.status !== 200) continue;
      for (const info of r.body.members ?? []) {
        const peer = (info.peerURLs ?? [])[0];
        const mem = this.members.find((x) => x.peerURL === peer);
        if (mem) {
          mem.id = String(info.ID);
          mem.isLearner = info.isLearner === true;
        }
      }
      return;
    }
  }

  /**
   * The leader: the member that the running members (at least a majority of the voters) name, and
   * that says it leads. Undefined if there is none within `timeoutMs`.
   */
  async leader(timeoutMs = 10000): Promise<Member | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const live = this.current.filter((m) => m.state === 'running');
      const views = await Promise.all(live.map((m) => m.status(800)));
      const votes = new Map<string, number>();
      for (const v of views) if (v && v.leader !== '0') votes.set(v.leader, (votes.get(v.leader) ?? 0) + 1);
      const quorum = Math.floor(Math.max(this.voters.length, 1) / 2) + 1;
      for (const [id, n] of votes) {
        if (n < quorum) continue;
        const i = views.findIndex((v) => v?.memberId === id);
        if (i >= 0 && views[i]!.leader === id) {
          const m = live[i]!;
          if (!m.id) m.id = id;
          return m;
        }
      }
      if (performance.now() > deadline) return undefined;
      await sleep(100);
    }
  }

  /** Waits until a leader exists and a linearizable write goes through (through any running member). */
  async waitHealthy(timeoutMs = 20000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      for (const m of this.current.filter((x) => x.state === 'running')) {
        const r = await post(m.url, '/v3/kv/range', { key: Buffer.from('ct-health').toString('base64') }, 1500);
        if (r.kind === 'answer' && r.status === 200) return true;
      }
      await sleep(200);
    }
    return false;
  }

  /** Undoes every fault: heals the network, resumes paused members, restarts stopped ones. */
  async healAll(): Promise<void> {
    this.network.heal();
    for (const m of this.current) if (m.state === 'paused') m.resume();
    for (const m of this.current) if (m.state === 'down') await m.start();
  }

  // ---- leadership and membership ------------------------------------------------------------

  async transferLeadership(from: Member, to: Member, timeoutMs = 5000): Promise<{ ok: boolean; error?: string }> {
    if (!to.id) await this.refreshIds();
    const r = await post(from.url, '/v3/maintenance/transfer-leadership', { targetID: to.id }, timeoutMs);
    if (r.kind === 'answer' && r.status === 200) return { ok: true };
    return { ok: false, error: errorText(r) };
  }

  /** Calls a cluster endpoint on the first running member that answers 200 (retrying up to `timeoutMs`). */
  async adminCall(path: string, body: unknown, timeoutMs = 15000, prefer?: Member): Promise<any> {
    const deadline = performance.now() + timeoutMs;
    let last = '';
    for (;;) {
      const order = [...(prefer && prefer.state === 'running' ? [prefer] : []), ...this.current.filter((m) => m.state === 'running' && m !== prefer && !m.isLearner)];
      for (const m of order) {
        const r = await post(m.url, path, body, 5000);
        if (r.kind === 'answer' && r.status === 200) return r.body;
        last = `${m.name}: ${errorText(r)}`;
        if (r.kind === 'answer' && r.status === 404 && /member not found/.test(last)) throw new Error(`${path}: ${last}`);
        if (performance.now() > deadline) break;
      }
      if (performance.now() > deadline) throw new Error(`${path} failed: ${last}`);
      await sleep(300);
    }
  }

  /** Adds a learner (member/add), then starts its process with --initial-cluster-state existing. */
  async addLearner(): Promise<Member> {
    const s = await this.prepare();
    const added = await this.adminCall('/v3/cluster/member/add', { peerURLs: [s.peerURL], isLearner: true });
    const others = this.current.map((m) => `${m.name}=${m.peerURL}`);
    const m = this.member(s, ['--initial-cluster', [...others, `${s.name}=${s.peerURL}`].join(','), '--initial-cluster-state', 'existing']);
    m.id = String(added.member?.ID ?? '');
    m.isLearner = true;
    this.members.push(m);
    await m.start(30000);
    return m;
  }

  /** Promotes a learner, retrying while it is not caught up. */
  async promote(m: Member, timeoutMs = 30000): Promise<void> {
    await this.adminCall('/v3/cluster/member/promote', { ID: m.id }, timeoutMs);
    m.isLearner = false;
  }

  /** Removes a member from the cluster and stops its process (its data directory goes at close()). */
  async remove(m: Member, timeoutMs = 20000): Promise<void> {
    await this.adminCall('/v3/cluster/member/remove', { ID: m.id }, timeoutMs, this.current.find((x) => x !== m && x.state === 'running'));
    m.removed = true;
    await m.kill();
    await m.proxy.close();
  }

  /** Kills every process, closes the proxies, removes the data (unless it was given a dataDir to keep). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.network.heal();
    await Promise.all(this.members.map((m) => m.kill().catch(() => undefined)));
    for (const m of this.members) await m.proxy.close().catch(() => undefined);
    if (this.opts.dataDir === undefined && this.baseDir) {
      await rm(this.baseDir, { recursive: true, force: true });
      liveDirs.delete(this.baseDir);
    }
  }

  get dataDir(): string {
    return this.baseDir;
  }
}
