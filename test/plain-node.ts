// Node children without tap's process-info loader. Under tap, child_process is wrapped so that
// every node child gets the loader through NODE_OPTIONS, whatever env the caller passes. The
// loader doubles a short command's start (kvctl: 0.29 s alone, 0.6 s with it, measured) and, in
// a long-lived process, adds a loader thread and coverage counters. Children whose coverage is
// not wanted (output comparisons, scenario runs, processes started with coverage off anyway) are
// started through `env NODE_OPTIONS=<the same options without the loader>`, which execs node
// (same pid, so signals reach it). What `npm test` puts in NODE_OPTIONS stays (exit-with-parent).

/** NODE_OPTIONS without tap's process-info loader (options may be quoted, as tap writes them). */
export function withoutTapLoader(nodeOptions: string): string {
  return (nodeOptions.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? []).filter((o) => !o.includes('@tapjs/processinfo')).join(' ');
}

/** The command and arguments that run `node ...args` as a plain node. */
export function plainNode(args: string[]): [string, string[]] {
  return ['env', [`NODE_OPTIONS=${withoutTapLoader(process.env.NODE_OPTIONS ?? '')}`, process.execPath, ...args]];
}
