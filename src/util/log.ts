// Structured logging for every layer. One pino instance per process; components take a child
// logger with their name so that lines can be filtered by component.
import { pino, type Logger } from 'pino';

export type { Logger };

const level = process.env.FLOTILLA_LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info');

export const rootLogger: Logger = pino({ level, base: { pid: process.pid } });

export function componentLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ component, ...bindings });
}
