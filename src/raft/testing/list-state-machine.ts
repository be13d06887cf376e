// The smallest useful replicated state machine: an append-only list of strings. The Raft runtime's
// tests use it to check that every member applies the same sequence. It keeps its state in memory
// and is rebuilt from the snapshot plus the log at start (its applied index starts at 0).
import type { AppliedEntry, StateMachine } from '../node/state-machine.js';

export class ListStateMachine implements StateMachine {
  items: string[] = [];
  protected applied = 0;

  appliedIndex(): number {
    return this.applied;
  }

  apply(entries: AppliedEntry[]): unknown[] {
    const out: unknown[] = [];
    for (const e of entries) {
      if (e.index <= this.applied) {
        out.push(undefined);
        continue;
      }
      if (e.kind === 'normal') {
        this.items.push(Buffer.from(e.data).toString());
        out.push(this.items.length);
      } else {
        out.push(undefined);
      }
      this.applied = e.index;
    }
    return out;
  }

  /** Tests only: when set, a snapshot (captured at the call) is handed over once this resolves. */
  snapshotGate: Promise<void> | undefined;

  snapshot(): Uint8Array | Promise<Uint8Array> {
    const data = Buffer.from(JSON.stringify({ applied: this.applied, items: this.items }));
    return this.snapshotGate ? this.snapshotGate.then(() => data) : data;
  }

  restore(data: Uint8Array, index: number): void {
    const v = JSON.parse(Buffer.from(data).toString()) as { applied: number; items: string[] };
    this.items = v.items;
    this.applied = index;
  }
}
