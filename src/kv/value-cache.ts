// Which live values stay in memory. The key index holds every key and its history, but a live
// value only while it is in this cache; the others are read from their record in LevelDB when
// needed (their revision is in the index), as etcd reads values from bbolt. The budget bounds the
// memory a store of millions of keys takes (values are most of it) while a working set that fits
// is served from memory as before.
//
// Eviction is CLOCK (second chance): cached keys in a ring in the order they were cached; a read
// or a new value (a put of a key already cached) marks a key, and the hand gives a marked key one
// more turn instead of evicting it. It costs one ring slot per cached key and a small field on each
// KeyIndex, where an LRU list would add two links per key.
//
// The cache never evicts by itself: the store calls evict() where nothing can be relying on a
// value it checked before (after an apply batch, after a read, after loading), so an apply that
// made sure of its values (prefetch) finds them all.
import type { KeyIndex } from './key-index.js';

/** Bytes a cached value costs beyond its length: the string's header and its ring slot. */
const PER_VALUE = 24;

export class ValueCache {
  /** Bytes of the cached values, as counted by valueCost. */
  bytes = 0;
  private ring: (KeyIndex | undefined)[] = [];
  private hand = 0;
  private holds = 0;
  /** Values evicted so far: while none was, every live value is in memory. */
  evictions = 0;

  /** `budget`: bytes of values to keep; Infinity keeps every value (nothing is ever evicted). */
  constructor(readonly budget: number) {}

  /**
   * Sets a live key's value (a put, or a value read back from LevelDB). A key already in the ring
   * is marked: a key written again is in use, as much as one read again.
   */
  set(ki: KeyIndex, value: string): void {
    const old = ki.value;
    this.bytes += valueCost(value) - (old === undefined ? 0 : valueCost(old));
    ki.value = value;
    if (this.budget === Infinity) return;
    if (ki.cache === 0) {
      ki.cache = 1;
      this.ring.push(ki);
    } else {
      ki.cache = 2;
    }
  }

  /** Forgets a key's value (the key was deleted). Its ring slot goes when the hand passes it. */
  drop(ki: KeyIndex): void {
    if (ki.value !== undefined) this.bytes -= valueCost(ki.value);
    ki.value = undefined;
  }

  /** Defers evictions until release(): an apply in progress may be relying on values it checked. */
  hold(): void {
    this.holds++;
  }

  release(): void {
    this.holds--;
  }

  /** Evicts values until the cache is within its budget (unless held). */
  evict(): void {
    if (this.holds > 0 || this.bytes <= this.budget) return;
    const ring = this.ring;
    // Two passes at most: the first clears the marks it passes, the second finds them cleared.
    let visits = 2 * (ring.length - this.hand) + 1;
    while (this.bytes > this.budget && this.hand < ring.length && visits-- > 0) {
      const ki = ring[this.hand]!;
      ring[this.hand++] = undefined;
      if (ki.value === undefined) {
        ki.cache = 0;
      } else if (ki.cache === 2) {
        ki.cache = 1;
        ring.push(ki);
      } else {
        this.bytes -= valueCost(ki.value);
        ki.value = undefined;
        ki.cache = 0;
        this.evictions++;
      }
    }
    // The passed part of the ring is dropped once it is most of it (amortized O(1) per eviction).
    if (this.hand > 1024 && this.hand * 2 > ring.length) {
      this.ring = ring.slice(this.hand);
      this.hand = 0;
    }
  }

  /** Whether every live value is in memory (none was ever evicted): applies need not look. */
  holdsAll(): boolean {
    return this.evictions === 0;
  }

  /** Keys in the ring (cached, or deleted and not yet passed by the hand). */
  get ringLength(): number {
    return this.ring.length - this.hand;
  }
}

export function valueCost(value: string): number {
  return value.length + PER_VALUE;
}
