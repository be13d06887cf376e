// The configuration as a function of the log (Raft thesis §4.1): a node uses the newest
// membership entry in its log, committed or not, and falls back to the previous one when a
// conflicting suffix is truncated away.
import { applyConfChange, decodeConfChange } from './confchange.js';
import { EntryType, type ConfState, type Entry } from './types.js';

interface ConfAt {
  index: number;
  conf: ConfState;
}

export class Membership {
  private history: ConfAt[];

  constructor(base: ConfState, baseIndex: number) {
    this.history = [{ index: baseIndex, conf: base }];
  }

  current(): ConfState {
    return this.history[this.history.length - 1]!.conf;
  }

  /** Index of the newest membership entry (or of the base snapshot). */
  lastChangeIndex(): number {
    return this.history[this.history.length - 1]!.index;
  }

  /** The configuration in force once the log up to `index` is applied. */
  at(index: number): ConfState {
    for (let i = this.history.length - 1; i > 0; i--) {
      if (this.history[i]!.index <= index) return this.history[i]!.conf;
    }
    return this.history[0]!.conf;
  }

  /** Entries were appended starting at ents[0].index, replacing anything from there. Returns whether the configuration changed. */
  onAppend(ents: readonly Entry[]): boolean {
    if (ents.length === 0) return false;
    const before = this.current();
    const from = ents[0]!.index;
    while (this.history.length > 1 && this.history[this.history.length - 1]!.index >= from) this.history.pop();
    for (const e of ents) {
      if (e.type === EntryType.ConfChange) {
        this.history.push({ index: e.index, conf: applyConfChange(this.current(), decodeConfChange(e.data)) });
      }
    }
    return this.current() !== before;
  }

  /** Forgets changes the log no longer holds below `index`, keeping what `at(index)` needs. */
  compact(index: number): void {
    let keepFrom = 0;
    for (let i = 0; i < this.history.length; i++) if (this.history[i]!.index <= index) keepFrom = i;
    if (keepFrom > 0) this.history = this.history.slice(keepFrom);
  }

  reset(conf: ConfState, index: number): void {
    this.history = [{ index, conf }];
  }
}
