// Loaded into every Node process that `npm test` starts (NODE_OPTIONS=--import=...): a process
// whose parent is gone exits. When tap stops a test file at its timeout it kills that file's
// process only; the kvd and fleetd members the file had started would otherwise live on as
// orphans, holding their ports and CPU while the rest of the suite runs, and failing tests that
// have nothing to do with the one that timed out.
import { readFileSync } from 'node:fs';

/** The parent's pid now (process.ppid is read once, at start-up). */
function currentParent() {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

const parent = process.ppid;
if (parent > 1) {
  setInterval(() => {
    if (currentParent() !== parent) process.kill(process.pid, 'SIGTERM');
  }, 500).unref();
}
