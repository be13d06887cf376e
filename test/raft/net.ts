// A tiny synchronous network of RaftCore nodes for unit tests of single rules: every node's Ready
// is "persisted" into an in-memory disk, messages are delivered in order unless a filter drops
// them, and time advances only through tick().
import { RaftCore, bootstrapEntries, type RaftConfig } from '../../src/raft/raft.js';
import { Role, type Entry, type HardState, type Message, type NodeId, type ReadState, type Snapshot } from '../../src/raft/types.js';
import { seededRandom as seeded } from '../support/seeded-random.js';

export { seeded };

export interface Disk {
  hardState: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
}

export class TestNet {
  readonly nodes = new Map<NodeId, RaftCore>();
  readonly disks = new Map<NodeId, Disk>();
  readonly applied = new Map<NodeId, Entry[]>();
  readonly readStates = new Map<NodeId, ReadState[]>();
  /** Return false to drop a message. */
  filter: (m: Message) => boolean = () => true;
  readonly sent: Message[] = [];
  private queue: Message[] = [];

  constructor(
    ids: NodeId[],
    readonly extra: Partial<RaftConfig> = {},
    seed = 1,
  ) {
    const boot = bootstrapEntries(ids);
    for (const id of ids) {
      this.disks.set(id, { hardState: { term: 0, vote: 0, commit: 0 }, entries: boot.map((e) => ({ ...e })) });
      this.start(id, seed);
    }
  }

  config(id: NodeId, seed: number): RaftConfig {
    return { id, electionTick: 10, heartbeatTick: 1, random: seeded(seed * 1000 + id), ...this.extra };
  }

  /** (Re)starts a node from its disk. */
  start(id: NodeId, seed = 7): RaftCore {
    const disk = this.disks.get(id) ?? { hardState: { term: 0, vote: 0, commit: 0 }, entries: [] };
    this.disks.set(id, disk);
    const snap = disk.snapshot;
    const node = new RaftCore(this.config(id, seed), {
      hardState: { ...disk.hardState },
      snapshot: snap,
      entries: [...disk.entries],
      applied: snap?.meta.index ?? 0,
    });
    this.nodes.set(id, node);
    this.applied.set(id, []);
    this.readStates.set(id, []);
    return node;
  }

  addEmpty(id: NodeId): RaftCore {
    this.disks.set(id, { hardState: { term: 0, vote: 0, commit: 0 }, entries: [] });
    return this.start(id);
  }

  node(id: NodeId): RaftCore {
    return this.nodes.get(id)!;
  }

  leader(): RaftCore | undefined {
    return [...this.nodes.values()].find((n) => n.status().role === Role.Leader);
  }

  /** Handles every node's Ready and delivers messages until the network is quiet. */
  settle(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let busy = false;
      for (const [id, n] of this.nodes) {
        if (!n.hasReady()) continue;
        busy = true;
        const rd = n.ready();
        const disk = this.disks.get(id)!;
        if (rd.hardState) disk.hardState = rd.hardState;
        if (rd.snapshot) {
          disk.snapshot = rd.snapshot;
          disk.entries = disk.entries.filter((e) => e.index > rd.snapshot!.meta.index);
          this.applied.set(id, []);
        }
        if (rd.entries.length) {
          const from = rd.entries[0]!.index;
          disk.entries = disk.entries.filter((e) => e.index < from).concat(rd.entries);
        }
        for (const m of rd.messages) {
          this.sent.push(m);
          this.queue.push(m);
        }
        this.applied.get(id)!.push(...rd.committedEntries);
        this.readStates.get(id)!.push(...rd.readStates);
        n.advance(rd);
      }
      const q = this.queue;
      this.queue = [];
      for (const m of q) {
        if (!this.filter(m)) continue;
        const to = this.nodes.get(m.to);
        if (to) {
          to.step(m);
          busy = true;
        }
      }
      if (!busy) return;
    }
    throw new Error('network did not settle');
  }

  tick(n = 1, ids?: NodeId[]): void {
    for (let i = 0; i < n; i++) {
      for (const [id, node] of this.nodes) if (!ids || ids.includes(id)) node.tick();
      this.settle();
    }
  }

  /** Ticks until some node is leader (at most `max` ticks). */
  elect(max = 100): RaftCore {
    for (let i = 0; i < max; i++) {
      const l = this.leader();
      if (l) return l;
      this.tick();
    }
    throw new Error('no leader elected');
  }

  isolate(id: NodeId): void {
    this.filter = (m) => m.from !== id && m.to !== id;
  }

  heal(): void {
    this.filter = () => true;
  }

  appliedData(id: NodeId): string[] {
    return this.applied
      .get(id)!
      .filter((e) => e.data.length > 0 && e.type === 0)
      .map((e) => Buffer.from(e.data).toString());
  }
}

export const enc = (s: string): Uint8Array => Buffer.from(s);
