// How a process ended, in systemd's words: the "code=exited, status=1/FAILURE" of its journal
// lines and the Result= of the unit. Node only reports (code, signal), not whether a core was
// dumped (CLD_DUMPED), so a death by a signal whose default action dumps core is reported as
// `core-dump`, as systemd would when core dumps are enabled.
import { constants } from 'node:os';

/** The unit's Result=, as systemd names it. */
export type UnitResult =
  | 'success'
  | 'exit-code'
  | 'signal'
  | 'timeout'
  | 'core-dump'
  | 'resources'
  | 'start-limit-hit';

/** How a command ended. A command that could not be executed at all exits 203 (EXEC), as in systemd. */
export interface CommandExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** systemd's exit statuses for failures before the program runs (src/basic/exit-status.h). */
export const EXIT_CHDIR = 200;
export const EXIT_EXEC = 203;
export const EXIT_USER = 217;

const STATUS_NAMES: Record<number, string> = {
  0: 'SUCCESS',
  1: 'FAILURE',
  2: 'INVALIDARGUMENT',
  3: 'NOTIMPLEMENTED',
  4: 'NOPERMISSION',
  5: 'NOTINSTALLED',
  6: 'NOTCONFIGURED',
  7: 'NOTRUNNING',
  [EXIT_CHDIR]: 'CHDIR',
  [EXIT_EXEC]: 'EXEC',
  [EXIT_USER]: 'USER',
};

/** Signals whose death systemd counts as a clean exit (SuccessExitStatus= defaults). */
const CLEAN_SIGNALS = new Set<string>(['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGPIPE']);
/** Signals whose default action dumps core (signal(7)). */
const CORE_SIGNALS = new Set<string>([
  'SIGQUIT',
  'SIGILL',
  'SIGTRAP',
  'SIGABRT',
  'SIGBUS',
  'SIGFPE',
  'SIGSEGV',
  'SIGSYS',
  'SIGXCPU',
  'SIGXFSZ',
]);

/** The result an exit gives the unit: `success` for a clean exit. */
export function resultOf(exit: CommandExit): UnitResult {
  if (exit.signal !== null) {
    if (CLEAN_SIGNALS.has(exit.signal)) return 'success';
    return CORE_SIGNALS.has(exit.signal) ? 'core-dump' : 'signal';
  }
  return exit.code === 0 ? 'success' : 'exit-code';
}

/** `code=exited, status=1/FAILURE`, `code=killed, status=9/KILL`, `code=dumped, status=11/SEGV`. */
export function describeExit(exit: CommandExit): string {
  if (exit.signal !== null) {
    const number = constants.signals[exit.signal] ?? 0;
    const how = CORE_SIGNALS.has(exit.signal) ? 'dumped' : 'killed';
    return `code=${how}, status=${number}/${exit.signal.replace(/^SIG/, '')}`;
  }
  const code = exit.code ?? 0;
  return `code=exited, status=${code}/${STATUS_NAMES[code] ?? 'n/a'}`;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOEXEC: 'Exec format error',
  ENOTDIR: 'Not a directory',
  ELOOP: 'Too many levels of symbolic links',
  E2BIG: 'Argument list too long',
  ENOMEM: 'Cannot allocate memory',
  EAGAIN: 'Resource temporarily unavailable',
  EMFILE: 'Too many open files',
  ETXTBSY: 'Text file busy',
};

/** strerror() for the errors exec can give. */
export function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && ERRNO_TEXT[code] !== undefined) return ERRNO_TEXT[code];
  return code ?? String((err as Error | undefined)?.message ?? err);
}
