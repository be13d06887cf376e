// Refused connections come back: a misconfigured member or client retries every few seconds. Each
// reason is logged as a warning once per interval and at debug level in between, so that the log
// says what is wrong without being flooded by it.
import type { Logger } from './log.js';

const REFUSAL_LOG_INTERVAL_MS = 60_000;

export class RefusalLog {
  private readonly logged = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly now: () => number = Date.now,
  ) {}

  note(reason: string, remote: string, fields: Record<string, unknown> = {}): void {
    const now = this.now();
    const last = this.logged.get(reason);
    if (last === undefined || now - last >= REFUSAL_LOG_INTERVAL_MS) {
      // Reasons can name addresses: bound the map rather than let a scan grow it.
      if (this.logged.size >= 1000) this.logged.clear();
      this.logged.set(reason, now);
      this.logger.warn({ remote, reason, ...fields }, this.message);
    } else {
      this.logger.debug({ remote, reason, ...fields }, this.message);
    }
  }
}
