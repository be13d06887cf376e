// Helpers for runtime tests: free loopback ports, temporary data directories, and clusters of
// RaftNodes in this process.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../cluster-tests/harness/ports.js';
import { RaftNode, type MemberInfo, type RaftNodeOptions } from '../../src/raft/node/index.js';
import { DurableListStateMachine } from '../../src/raft/testing/durable-list-state-machine.js';
import { ListStateMachine } from '../../src/raft/testing/list-state-machine.js';

// One port allocator for every harness (see its comment for how parallel test files stay apart).
export { freePort };

export async function tempDir(prefix = 'flotilla-raft-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function clusterSpec(n: number): Promise<MemberInfo[]> {
  const out: MemberInfo[] = [];
  for (let i = 1; i <= n; i++) {
    const port = await freePort();
    out.push({ id: i, name: `m${i}`, peerURLs: [`ws://127.0.0.1:${port}`], clientURLs: [] });
  }
  return out;
}

export interface Member {
  info: MemberInfo;
  dir: string;
  sm: ListStateMachine;
  node: RaftNode;
}

export class LocalCluster {
  readonly members = new Map<number, Member>();
  private dirs: string[] = [];

  constructor(
    readonly spec: MemberInfo[],
    readonly extra: Partial<RaftNodeOptions> = {},
    /** Members keep their lists in a file of their data directory (DurableListStateMachine). */
    readonly durable = false,
  ) {}

  static async start(n: number, extra: Partial<RaftNodeOptions> = {}, durable = false): Promise<LocalCluster> {
    const c = new LocalCluster(await clusterSpec(n), extra, durable);
    for (const m of c.spec) await c.startMember(m.id);
    return c;
  }

  options(info: MemberInfo, dir: string, sm: ListStateMachine): RaftNodeOptions {
    const url = new URL(info.peerURLs[0]!);
    return {
      id: info.id,
      clusterId: 77,
      dataDir: dir,
      peerListen: { host: url.hostname, port: Number(url.port) },
      self: { name: info.name, peerURLs: info.peerURLs, clientURLs: [] },
      initialCluster: this.spec,
      stateMachine: sm,
      heartbeatMs: 50,
      electionMs: 500,
      ...this.extra,
    };
  }

  async startMember(id: number, dir?: string): Promise<Member> {
    const info = this.spec.find((m) => m.id === id)!;
    const existing = this.members.get(id);
    const d = dir ?? existing?.dir ?? (await tempDir());
    if (!this.dirs.includes(d)) this.dirs.push(d);
    const sm = this.durable ? await DurableListStateMachine.open(join(d, 'list.json')) : new ListStateMachine();
    const node = await RaftNode.create(this.options(info, d, sm));
    await node.start();
    const m = { info, dir: d, sm, node };
    this.members.set(id, m);
    return m;
  }

  async stopMember(id: number, transfer = false): Promise<void> {
    await this.members.get(id)!.node.stop({ transfer });
  }

  running(): Member[] {
    return [...this.members.values()].filter((m) => !m.node['stopped']);
  }

  /** Resolves with the leader once every running member agrees on one. */
  async leader(timeoutMs = 10000): Promise<Member> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = this.running();
      const leaders = new Set(running.map((m) => m.node.leaderId()));
      const [only] = [...leaders];
      if (leaders.size === 1 && only && this.members.get(only)?.node.isLeader()) return this.members.get(only)!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no agreed leader (views: ${[...leaders].join(',')})`);
      await anyEvent(running.map((m) => m.node), 'leader-change', left);
    }
  }

  async close(): Promise<void> {
    for (const m of this.members.values()) await m.node.stop({ transfer: false });
    for (const d of this.dirs) await rm(d, { recursive: true, force: true });
  }
}

/** Resolves when `cond` holds, re-checking on every 'applied' event of `node`. */
export function untilApplied(node: RaftNode, cond: () => boolean, timeoutMs = 10000): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!cond()) return;
      clearTimeout(timer);
      node.off('applied', check);
      resolve();
    };
    const timer = setTimeout(() => {
      node.off('applied', check);
      reject(new Error('condition not reached'));
    }, timeoutMs);
    node.on('applied', check);
  });
}

/** Resolves on the first `event` from any of `emitters`, or after `ms` (no error: callers re-check). */
export function anyEvent(emitters: RaftNode[], event: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const e of emitters) e.off(event, done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const e of emitters) e.on(event, done);
  });
}
