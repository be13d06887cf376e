// Shared assertions for the unit file tests.
import type { Test } from 'tap';
import { UnitFileError } from '../../../src/fleet/unit/index.js';

/** Asserts that `fn` throws a UnitFileError with exactly this file, line and reason (and message). */
export function throwsUnitError(t: Test, fn: () => unknown, file: string, line: number, reason: string | RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  if (!(thrown instanceof UnitFileError)) {
    t.fail(`expected a UnitFileError, got ${thrown === undefined ? 'no error' : String(thrown)}`);
    return;
  }
  t.equal(thrown.file, file, 'file');
  t.equal(thrown.line, line, `line of: ${thrown.message}`);
  if (typeof reason === 'string') {
    t.equal(thrown.reason, reason);
    t.equal(thrown.message, line > 0 ? `${file}:${line}: ${reason}` : `${file}: ${reason}`);
  } else {
    t.match(thrown.reason, reason);
  }
}

/** Lines joined with LF and a final newline. */
export function lines(...l: string[]): string {
  return l.join('\n') + '\n';
}
