// A set of key intervals [start, end) (end null = +infinity), each holding a set of items, with a
// stabbing query: "every interval that contains key k". A treap ordered by (start, end) and
// augmented with the largest end of each subtree, so a query costs O(log n + matches) expected,
// and adding or removing an interval O(log n). Items sharing an interval share one node (a
// thousand watchers on one prefix are one node).
import type { KeyString } from './key-range.js';

type End = KeyString | null; // null = +infinity

class Node<T> {
  left: Node<T> | null = null;
  right: Node<T> | null = null;
  maxEnd: End;
  readonly items = new Set<T>();
  constructor(
    readonly start: KeyString,
    readonly end: End,
    readonly prio: number,
  ) {
    this.maxEnd = end;
  }
}

/** a > b, with null = +infinity. */
function endGt(a: End, b: End): boolean {
  if (a === null) return b !== null;
  if (b === null) return false;
  return a > b;
}

function maxEnd(a: End, b: End): End {
  return endGt(b, a) ? b : a;
}

function cmp(start: KeyString, end: End, n: Node<unknown>): number {
  if (start !== n.start) return start < n.start ? -1 : 1;
  if (end === n.end) return 0;
  return endGt(end, n.end) ? 1 : -1;
}

function update<T>(n: Node<T>): void {
  let m = n.end;
  if (n.left) m = maxEnd(m, n.left.maxEnd);
  if (n.right) m = maxEnd(m, n.right.maxEnd);
  n.maxEnd = m;
}

function rotateRight<T>(n: Node<T>): Node<T> {
  const l = n.left!;
  n.left = l.right;
  l.right = n;
  update(n);
  update(l);
  return l;
}

function rotateLeft<T>(n: Node<T>): Node<T> {
  const r = n.right!;
  n.right = r.left;
  r.left = n;
  update(n);
  update(r);
  return r;
}

export class IntervalIndex<T> {
  private root: Node<T> | null = null;
  private readonly nodes = new Map<string, Node<T>>();
  private seed = 0x2545f491;
  private items = 0;

  /** Distinct intervals. */
  get intervals(): number {
    return this.nodes.size;
  }

  /** Items over all intervals. */
  get size(): number {
    return this.items;
  }

  add(start: KeyString, end: End, item: T): void {
    const id = nodeId(start, end);
    let node = this.nodes.get(id);
    if (!node) {
      node = new Node<T>(start, end, this.random());
      this.nodes.set(id, node);
      this.root = this.insert(this.root, node);
    }
    if (!node.items.has(item)) {
      node.items.add(item);
      this.items++;
    }
  }

  remove(start: KeyString, end: End, item: T): boolean {
    const id = nodeId(start, end);
    const node = this.nodes.get(id);
    if (!node || !node.items.delete(item)) return false;
    this.items--;
    if (node.items.size === 0) {
      this.nodes.delete(id);
      this.root = this.erase(this.root, start, end);
    }
    return true;
  }

  forEachItem(fn: (item: T) => void): void {
    for (const node of this.nodes.values()) for (const item of node.items) fn(item);
  }

  /** Calls fn with the item set of every interval containing k. Do not modify the index from fn. */
  forEachContaining(k: KeyString, fn: (items: Set<T>) => void): void {
    this.visit(this.root, k, fn);
  }

  private visit(n: Node<T> | null, k: KeyString, fn: (items: Set<T>) => void): void {
    while (n) {
      // No interval in this subtree ends after k: none contains it.
      if (n.maxEnd !== null && n.maxEnd <= k) return;
      this.visit(n.left, k, fn);
      if (n.start > k) return; // this node and its right subtree start after k
      if (n.end === null || n.end > k) fn(n.items);
      n = n.right;
    }
  }

  private insert(n: Node<T> | null, node: Node<T>): Node<T> {
    if (!n) return node;
    if (cmp(node.start, node.end, n) < 0) {
      n.left = this.insert(n.left, node);
      if (n.left.prio > n.prio) n = rotateRight(n);
    } else {
      n.right = this.insert(n.right, node);
      if (n.right.prio > n.prio) n = rotateLeft(n);
    }
    update(n);
    return n;
  }

  private erase(n: Node<T> | null, start: KeyString, end: End): Node<T> | null {
    if (!n) return null;
    const c = cmp(start, end, n);
    if (c < 0) n.left = this.erase(n.left, start, end);
    else if (c > 0) n.right = this.erase(n.right, start, end);
    else {
      if (!n.left) return n.right;
      if (!n.right) return n.left;
      if (n.left.prio > n.right.prio) {
        n = rotateRight(n);
        n.right = this.erase(n.right, start, end);
      } else {
        n = rotateLeft(n);
        n.left = this.erase(n.left, start, end);
      }
    }
    update(n);
    return n;
  }

  /** xorshift32: deterministic priorities (the shape does not depend on Math.random). */
  private random(): number {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed;
  }
}

/** Keys hold chars 0..255 only, so \u0100 and \u0101 cannot occur in them. */
function nodeId(start: KeyString, end: End): string {
  return end === null ? start + '\u0101' : start + '\u0100' + end;
}
