// What a health check produces, and what a probe (one run of an http, tcp or exec check) is.
import type { HealthStatus } from '../schema.js';

export interface CheckResult {
  status: HealthStatus;
  output: string;
}

/** One run of a check; it must end soon after `signal` aborts (the run timed out or was stopped). */
export type Probe = (signal: AbortSignal) => Promise<CheckResult>;

/** Output kept from a check run (Consul keeps 4 KiB). */
export const MAX_OUTPUT = 4096;

export function capOutput(s: string): string {
  return s.length > MAX_OUTPUT ? `${s.slice(0, MAX_OUTPUT)} ... (truncated)` : s;
}
