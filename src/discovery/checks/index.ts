// Starts the runner of one stored check: an IntervalCheck around the probe of its type, or a
// TtlCheck fed by reports.
import { parseDuration } from '../../util/duration.js';
import { splitWords } from '../../util/words.js';
import { parseHostPort, type Check } from '../schema.js';
import type { Clock } from '../../util/clock.js';
import { execProbe } from './exec.js';
import { httpProbe } from './http.js';
import { IntervalCheck } from './interval.js';
import { tcpProbe } from './tcp.js';
import { TtlCheck } from './ttl.js';
import type { CheckResult, Probe } from './types.js';

export { IntervalCheck } from './interval.js';
export { TtlCheck } from './ttl.js';
export { httpProbe } from './http.js';
export { tcpProbe } from './tcp.js';
export { execProbe } from './exec.js';
export type { CheckResult, Probe } from './types.js';

export interface RunningCheck {
  /** Resolves after the first result of an interval check (at once for a TTL check). */
  started: Promise<void>;
  /** TTL checks only. */
  report?: (status: CheckResult['status'], output: string) => void;
  stop(): void;
}

/** The probe of an http, tcp or exec check (its Target was validated by the schema). */
export function probeOf(check: Check): Probe {
  switch (check.Type) {
    case 'http':
      return httpProbe(check.Target);
    case 'tcp': {
      const hp = parseHostPort(check.Target)!;
      return tcpProbe(hp.host, hp.port);
    }
    case 'exec':
      return execProbe(splitWords(check.Target, { cunescape: false }));
    case 'ttl':
      throw new Error('a ttl check has no probe');
  }
}

export function startCheck(check: Check, timers: Clock, onResult: (r: CheckResult) => void, probe: (c: Check) => Probe = probeOf): RunningCheck {
  if (check.Type === 'ttl') {
    const ttl = new TtlCheck(parseDuration(check.Interval), timers, onResult);
    return { started: Promise.resolve(), report: (s, o) => ttl.report(s, o), stop: () => ttl.stop() };
  }
  const loop = new IntervalCheck(probe(check), parseDuration(check.Interval), parseDuration(check.Timeout), timers, onResult);
  return { started: loop.start(), stop: () => loop.stop() };
}
