// The list state machine kept in a file of its own, as the kv store keeps its state in LevelDB: the
// runtime's tests use it for the persist() path, where the node's snapshots hold no state and
// the whole state is read only when a follower needs it.
import { readFile, rename, open } from 'node:fs/promises';
import { ListStateMachine } from './list-state-machine.js';

export class DurableListStateMachine extends ListStateMachine {
  /** How many times persist() was called (tests check the node used it). */
  persistCalls = 0;
  /** How many times the whole state was serialized (for a follower, or a periodic snapshot). */
  snapshotCalls = 0;

  private constructor(private readonly file: string) {
    super();
  }

  /** Opens the state kept in `file` (empty when there is none yet). */
  static async open(file: string): Promise<DurableListStateMachine> {
    const sm = new DurableListStateMachine(file);
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      const v = JSON.parse(text) as { applied: number; items: string[] };
      sm.items = v.items;
      sm.applied = v.applied;
    }
    return sm;
  }

  override snapshot(): Uint8Array | Promise<Uint8Array> {
    this.snapshotCalls++;
    return super.snapshot();
  }

  /** Writes the state as of the call (captured before the first await) and syncs it. */
  async persist(): Promise<void> {
    this.persistCalls++;
    await this.write(JSON.stringify({ applied: this.applied, items: this.items }));
  }

  override async restore(data: Uint8Array, index: number): Promise<void> {
    super.restore(data, index);
    await this.persist();
  }

  private async write(text: string): Promise<void> {
    const tmp = `${this.file}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
  }
}
