// The endpoints a client may use: those it was given plus the client URLs learned from `member
// list`. One is pinned (every request goes there while it works); a failure moves the pin to the
// next endpoint that has not failed recently. Among those that have, one that answered (with "no
// leader", say, during an election) comes before one that did not answer at all: a member that
// hangs (stopped, partitioned) costs a whole attempt timeout each time it is tried, and going back
// to it while the others are electing a leader once cost a fleetd 3 s of a 4 s lease budget.
import { parseEndpoint, type Endpoint } from './transport.js';

/** An endpoint that failed less than this long ago is tried after the others. */
const RECENT_FAILURE_MS = 2000;

export class EndpointPool {
  private readonly configured: Endpoint[];
  private learned: Endpoint[] = [];
  private list: Endpoint[];
  private pinned: Endpoint;
  private readonly failedAt = new Map<string, { at: number; answered: boolean }>();

  constructor(
    endpoints: string[],
    private readonly now: () => number = Date.now,
    /** Endpoints without a scheme are https:// (the client was given TLS settings). */
    private readonly defaultTls = false,
  ) {
    if (endpoints.length === 0) throw new TypeError('no endpoints given');
    this.configured = dedupe(endpoints.map((e) => parseEndpoint(e, defaultTls)));
    this.list = this.configured;
    this.pinned = this.list[0]!;
  }

  current(): Endpoint {
    return this.pinned;
  }

  all(): Endpoint[] {
    return this.list;
  }

  urls(): string[] {
    return this.list.map((e) => e.url);
  }

  size(): number {
    return this.list.length;
  }

  /**
   * Records a failure of `ep` (`answered`: it replied, with an error; otherwise it did not reply);
   * if it is the pinned endpoint, pins the next one (healthy ones first).
   */
  failed(ep: Endpoint, answered = false): void {
    this.failedAt.set(ep.url, { at: this.now(), answered });
    if (ep.url !== this.pinned.url) return;
    this.pinned = this.next(ep);
  }

  /** A successful exchange with `ep`. */
  succeeded(ep: Endpoint): void {
    this.failedAt.delete(ep.url);
  }

  /**
   * The endpoint after `ep` in the list that has not failed recently; else the next that failed
   * recently but answered; else the one after `ep`.
   */
  next(ep: Endpoint): Endpoint {
    const n = this.list.length;
    const at = Math.max(0, this.list.findIndex((e) => e.url === ep.url));
    const t = this.now();
    let answered: Endpoint | undefined;
    for (let i = 1; i <= n; i++) {
      const cand = this.list[(at + i) % n]!;
      const f = this.failedAt.get(cand.url);
      if (f === undefined || t - f.at > RECENT_FAILURE_MS) return cand;
      if (f.answered && cand.url !== ep.url) answered ??= cand;
    }
    return answered ?? this.list[(at + 1) % n]!;
  }

  /**
   * The members' client URLs from `member list`: the endpoint list becomes the configured
   * endpoints plus these (learned endpoints that disappeared are dropped). Returns whether it changed.
   */
  update(clientURLs: string[]): boolean {
    const learned: Endpoint[] = [];
    // Only URLs of a scheme the client was given: a member may advertise both http:// and
    // https:// URLs, and a client without the members' authority cannot use the latter.
    const schemes = new Set(this.configured.map((e) => e.tls));
    for (const u of clientURLs) {
      try {
        const e = parseEndpoint(u);
        if (schemes.has(e.tls)) learned.push(e);
      } catch {
        /* an odd URL: not usable by this client */
      }
    }
    const known = new Set(this.configured.map((e) => e.url));
    const extra = dedupe(learned.filter((e) => !known.has(e.url)));
    const before = this.urls().join(',');
    this.learned = extra;
    this.list = [...this.configured, ...this.learned];
    if (!this.list.some((e) => e.url === this.pinned.url)) this.pinned = this.list[0]!;
    return before !== this.urls().join(',');
  }

  /** Whether an endpoint URL is one of ours (for targeted calls). */
  find(url: string): Endpoint | undefined {
    const e = parseEndpoint(url, this.defaultTls);
    return this.list.find((x) => x.url === e.url);
  }
}

function dedupe(eps: Endpoint[]): Endpoint[] {
  const seen = new Set<string>();
  return eps.filter((e) => (seen.has(e.url) ? false : (seen.add(e.url), true)));
}
