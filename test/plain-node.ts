// Node children without tap's process-info loader. Under tap, child_process is wrapped so that
// every node child gets the loader through NODE_OPTIONS, whatever env the caller passes. The
// loader doubles a short command's start (kvctl: 0.29 s alone, 0.6 s with it, measured) and, in
// a long-lived process, adds a loader thread and coverage counters. Children whose coverage is
// not wanted (output comparisons, scenario runs, processes started with coverage off anyway) are
// started through `env -u NODE_OPTIONS`, which execs a plain node (same pid, so signals reach it).

/** The command and arguments that run `node ...args` as a plain node. */
export function plainNode(args: string[]): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', process.execPath, ...args]];
}
