// A binary min-heap of timed events. Ties are broken by insertion order, so that the schedule
// (and therefore a seed's replay) never depends on the heap's internal layout.

export interface Timed {
  time: number;
  seq: number;
}

/** An event before the queue numbers it (distributes over unions of event kinds). */
export type Unsequenced<T> = T extends Timed ? Omit<T, 'seq'> : never;

export class EventQueue<T extends Timed> {
  private readonly heap: T[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Adds `ev` (its seq is assigned here). */
  push(ev: Unsequenced<T>): void {
    const e = ev as unknown as T;
    e.seq = this.nextSeq++;
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  pop(): T | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

function before(a: Timed, b: Timed): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
