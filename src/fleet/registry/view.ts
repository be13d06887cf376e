// A live mirror of the registry: one read of the prefix, then a watch from the next revision. The
// engine and the agent decide from it, so a decision never costs a store read; the client's watcher
// resumes after a reconnect from the last revision it delivered, so the mirror misses nothing. When
// the history it needs was compacted, the mirror reloads.
import { EventEmitter } from 'node:events';
import { CompactedError, EventType, toText, type Watcher } from '../../client/index.js';
import { applyDelete, applyPut, type Registry, type RegistrySnapshot } from './registry.js';

export interface RegistryViewEvents {
  /** After each batch of changes: the keys that changed. */
  change: [keys: string[]];
  /** A reload after compaction, or a watch that ended with an error (the view retries). */
  error: [err: Error];
}

export class RegistryView extends EventEmitter<RegistryViewEvents> {
  private snap: RegistrySnapshot | undefined;
  private watcher: Watcher | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    readonly registry: Registry,
    private readonly retryMs = 500,
  ) {
    super();
  }

  /** The current mirror (after `start()` resolved). */
  get current(): RegistrySnapshot {
    if (!this.snap) throw new Error('registry view: not started');
    return this.snap;
  }

  get started(): boolean {
    return this.snap !== undefined;
  }

  /** Loads the registry and starts following it; resolves once the first snapshot is in. */
  async start(): Promise<void> {
    this.snap = await this.registry.snapshot();
    this.loop = this.follow();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.cancel();
    await this.loop;
  }

  private async follow(): Promise<void> {
    while (!this.stopped) {
      const snap = this.current;
      const w = this.registry.client.watch(this.registry.keys.prefix, { prefix: true, startRevision: snap.revision + 1 });
      this.watcher = w;
      try {
        for await (const resp of w) {
          if (this.stopped) break;
          const changed: string[] = [];
          for (const ev of resp.events) {
            const key = toText(ev.kv.key);
            if (ev.type === EventType.DELETE) applyDelete(this.registry.keys, snap, key);
            else applyPut(this.registry.keys, snap, key, toText(ev.kv.value), ev.kv.mod_revision);
            changed.push(key);
          }
          const rev = resp.header.revision ?? 0;
          if (rev > snap.revision) snap.revision = rev;
          if (changed.length > 0) this.emit('change', changed);
        }
      } catch (e) {
        if (this.stopped) break;
        this.emit('error', e as Error);
        if (e instanceof CompactedError) {
          await this.reload();
          continue;
        }
        await new Promise((r) => setTimeout(r, this.retryMs));
      } finally {
        w.cancel();
      }
      if (!this.stopped && this.watcher === w) {
        // The watch ended without being cancelled by us: reload to be sure nothing was missed.
        await this.reload();
      }
    }
  }

  private async reload(): Promise<void> {
    while (!this.stopped) {
      try {
        this.snap = await this.registry.snapshot();
        this.emit('change', ['*']);
        return;
      } catch (e) {
        this.emit('error', e as Error);
        await new Promise((r) => setTimeout(r, this.retryMs));
      }
    }
  }
}
