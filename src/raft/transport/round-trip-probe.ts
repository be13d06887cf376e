// Measures the round trip to a peer over its open outbound connection: a WebSocket ping, answered
// by the peer's WebSocket layer with a pong (ws answers pings itself). The ping travels behind
// whatever frames are already queued on the socket, so under load the figure includes that wait,
// as etcd's prober's does (etcd probes over a separate HTTP request every 4 s; the figure is
// etcd_network_peer_round_trip_time_seconds).
import type WebSocket from 'ws';

/** etcd's prober interval (its connection read timeout, 5 s, less one second). */
export const DEFAULT_PROBE_INTERVAL_MS = 4000;

/** Calls `fn` every `ms` until the returned function is called (injected so tests drive it). */
export type Every = (ms: number, fn: () => void) => () => void;

const every: Every = (ms, fn) => {
  const timer = setInterval(fn, ms);
  timer.unref();
  return () => clearInterval(timer);
};

export class RoundTripProbe {
  private cancel: (() => void) | undefined;
  /** When the unanswered ping was sent; undefined when none is out. */
  private sentAt: number | undefined;
  private readonly onPong = (): void => {
    if (this.sentAt === undefined) return; // an unsolicited pong
    const seconds = (this.now() - this.sentAt) / 1000;
    this.sentAt = undefined;
    this.onSample(seconds);
  };

  constructor(
    private readonly ws: WebSocket,
    private readonly intervalMs: number,
    private readonly onSample: (seconds: number) => void,
    private readonly now: () => number = () => performance.now(),
    private readonly schedule: Every = every,
  ) {}

  /** Pings now (so a new connection has a figure at once) and every interval after. */
  start(): void {
    this.ws.on('pong', this.onPong);
    this.ping();
    this.cancel = this.schedule(this.intervalMs, () => this.ping());
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.sentAt = undefined;
    this.ws.off('pong', this.onPong);
  }

  private ping(): void {
    // One ping at a time: a peer too slow to answer within the interval gets no second one, and
    // the late answer is still measured against the ping it answers.
    if (this.sentAt !== undefined) return;
    this.sentAt = this.now();
    this.ws.ping();
  }
}
