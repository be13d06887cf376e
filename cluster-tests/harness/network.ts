// The state of the simulated network between members: a rule per directed link (from -> to),
// applied by the proxies in front of every member's peer port.

export type LinkRule =
  /** Bytes pass. */
  | { mode: 'ok' }
  /** Bytes are discarded and connections stay open (packets lost, no reset): a partition. */
  | { mode: 'drop' }
  /** Connections are refused and existing ones reset: a partition that the sender notices at once. */
  | { mode: 'reset' }
  /** Bytes pass after `ms` (plus up to `jitter`) milliseconds, in order. */
  | { mode: 'delay'; ms: number; jitter: number };

const OK: LinkRule = { mode: 'ok' };

export class Network {
  private readonly rules = new Map<string, LinkRule>();
  private readonly listeners = new Set<() => void>();

  onChange(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  private changed(): void {
    for (const f of this.listeners) f();
  }

  /**
   * The rule for bytes from member `from` to member `to`. `from` is undefined for a connection that
   * does not say who opened it (a joining member asking for the cluster's members): it passes
   * unless every link into `to` is cut.
   */
  get(from: string | undefined, to: string, members?: readonly string[]): LinkRule {
    if (from !== undefined) return this.rules.get(`${from}>${to}`) ?? OK;
    const others = (members ?? []).filter((m) => m !== to);
    if (others.length > 0 && others.every((m) => this.rules.get(`${m}>${to}`)?.mode === 'drop')) return { mode: 'drop' };
    return OK;
  }

  set(from: string, to: string, rule: LinkRule): void {
    if (from === to) return;
    if (rule.mode === 'ok') this.rules.delete(`${from}>${to}`);
    else this.rules.set(`${from}>${to}`, rule);
    this.changed();
  }

  /** Cuts every link between the groups (both ways); links within a group pass. */
  partition(groups: readonly (readonly string[])[], mode: 'drop' | 'reset' = 'drop'): void {
    for (const [i, a] of groups.entries()) {
      for (const [j, b] of groups.entries()) {
        if (i === j) continue;
        for (const x of a) for (const y of b) this.rules.set(`${x}>${y}`, { mode });
      }
    }
    this.changed();
  }

  /** Cuts the links from `from` to each of `to` (one way). */
  cutOneWay(from: string, to: readonly string[], mode: 'drop' | 'reset' = 'drop'): void {
    for (const t of to) if (t !== from) this.rules.set(`${from}>${t}`, { mode });
    this.changed();
  }

  /** Delays every link into and out of `member`. */
  slow(member: string, others: readonly string[], ms: number, jitter: number): void {
    for (const o of others) {
      if (o === member) continue;
      this.rules.set(`${member}>${o}`, { mode: 'delay', ms, jitter });
      this.rules.set(`${o}>${member}`, { mode: 'delay', ms, jitter });
    }
    this.changed();
  }

  heal(): void {
    if (this.rules.size === 0) return;
    this.rules.clear();
    this.changed();
  }

  get faulty(): boolean {
    return this.rules.size > 0;
  }

  describe(): string {
    if (this.rules.size === 0) return 'healthy';
    return [...this.rules].map(([k, r]) => `${k}:${r.mode}${r.mode === 'delay' ? `(${r.ms}ms)` : ''}`).join(' ');
  }
}
