// Raft members as real child processes (dist/src/raft/testing/list-member.js), so that tests can
// kill -9 them. Every process started here is killed at close(), whatever happened.
import { fork, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { clusterSpec, tempDir } from './cluster.js';
import type { MemberInfo } from '../../src/raft/node/index.js';

const memberScript = fileURLToPath(new URL('../../dist/src/raft/testing/list-member.js', import.meta.url));

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface LeaderEvent {
  member: number;
  leader: number;
  term: number;
  at: number;
}

export class ProcessMember {
  private next = 1;
  private pending = new Map<number, Pending>();
  readonly output: string[] = [];
  readonly exited: Promise<void>;

  constructor(
    readonly info: MemberInfo,
    readonly child: ChildProcess,
    onEvent: (member: ProcessMember, ev: Record<string, unknown>) => void,
  ) {
    child.on('message', (msg: Record<string, unknown>) => {
      if (typeof msg.event === 'string') {
        onEvent(this, msg);
        return;
      }
      const p = this.pending.get(msg.id as number);
      if (!p) return;
      this.pending.delete(msg.id as number);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(Object.assign(new Error(String(msg.error)), { code: msg.code }));
    });
    child.stderr?.on('data', (d: Buffer) => this.output.push(d.toString()));
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        for (const p of this.pending.values()) p.reject(new Error(`member ${info.name} exited`));
        this.pending.clear();
        resolve();
      }),
    );
  }

  request<T>(op: string, extra: Record<string, unknown> = {}): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (!this.child.connected) {
        this.pending.delete(id);
        reject(new Error(`member ${this.info.name} is not running`));
        return;
      }
      this.child.send({ id, op, ...extra });
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}

export class ProcessCluster {
  readonly members = new Map<number, ProcessMember>();
  readonly dirs = new Map<number, string>();
  readonly leaderEvents: LeaderEvent[] = [];
  private waiters: (() => void)[] = [];

  private constructor(
    readonly spec: MemberInfo[],
    readonly extra: Record<string, unknown>,
  ) {}

  static async start(n: number, extra: Record<string, unknown> = {}): Promise<ProcessCluster> {
    const c = new ProcessCluster(await clusterSpec(n), extra);
    await Promise.all(c.spec.map((m) => c.startMember(m.id)));
    return c;
  }

  async startMember(id: number): Promise<ProcessMember> {
    const info = this.spec.find((m) => m.id === id)!;
    let dir = this.dirs.get(id);
    if (!dir) {
      dir = await tempDir('flotilla-proc-');
      this.dirs.set(id, dir);
    }
    const url = new URL(info.peerURLs[0]!);
    const cfg = {
      id,
      clusterId: 99,
      dataDir: dir,
      peerListen: { host: url.hostname, port: Number(url.port) },
      self: { name: info.name, peerURLs: info.peerURLs, clientURLs: [] },
      initialCluster: this.spec,
      ...this.extra,
    };
    const child = fork(memberScript, [JSON.stringify(cfg)], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, FLOTILLA_LOG_LEVEL: 'warn' },
      execArgv: [],
    });
    const ready = new Promise<void>((resolve, reject) => {
      const onMsg = (msg: Record<string, unknown>) => {
        if (msg.event === 'ready') {
          child.off('message', onMsg);
          resolve();
        }
      };
      child.on('message', onMsg);
      child.once('exit', (code) => reject(new Error(`member ${info.name} exited with ${code} before it was ready: ${m.output.join('')}`)));
    });
    const m = new ProcessMember(info, child, (member, ev) => {
      if (ev.event === 'leader-change') {
        this.leaderEvents.push({ member: member.info.id, leader: ev.leader as number, term: ev.term as number, at: ev.at as number });
        const ws = this.waiters;
        this.waiters = [];
        for (const w of ws) w();
      }
    });
    this.members.set(id, m);
    await ready;
    return m;
  }

  kill9(id: number): Promise<void> {
    const m = this.members.get(id)!;
    m.child.kill('SIGKILL');
    return m.exited;
  }

  /** The latest leader every live member reports, once they agree. */
  async leader(timeoutMs = 15000): Promise<ProcessMember> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const live = [...this.members.values()].filter((m) => m.alive);
      const views = new Set<number>();
      for (const m of live) {
        const last = [...this.leaderEvents].reverse().find((e) => e.member === m.info.id);
        views.add(last ? last.leader : 0);
      }
      const [only] = [...views];
      if (views.size === 1 && only && this.members.get(only)?.alive) return this.members.get(only)!;
      if (Date.now() > deadline) throw new Error(`no agreed leader: ${[...views].join(',')}`);
      await this.nextLeaderEvent(deadline - Date.now());
    }
  }

  nextLeaderEvent(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, ms));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    for (const m of this.members.values()) if (m.alive) m.child.kill('SIGKILL');
    await Promise.all([...this.members.values()].map((m) => m.exited));
    for (const d of this.dirs.values()) await rm(d, { recursive: true, force: true });
  }
}
