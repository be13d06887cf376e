// test/support/exit-with-parent.mjs, which `npm test` loads into every Node process it starts: a
// process whose parent dies (as a test file's process does when tap stops it at its timeout)
// exits instead of living on as an orphan.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';

/** The kernel's per-task flag for "getting shut down" (include/linux/sched.h), field 9 of /proc/<pid>/stat. */
const PF_EXITING = 0x4;

const preload = fileURLToPath(new URL('../support/exit-with-parent.mjs', import.meta.url));

t.test('a process whose parent is killed exits', async (t) => {
  // The middle process starts a leaf with the preload on the middle's own stdout (our pipe). The
  // leaf says "ready" once its preload runs; then the middle is killed with SIGKILL. The pipe ends
  // only when the leaf, its last writer, is gone: that is the event awaited.
  const middle = `
    const { spawn } = await import('node:child_process');
    const leaf = spawn(process.execPath, ['--import=' + process.argv[1], '-e', 'console.log("ready " + process.pid); setInterval(() => {}, 1000)'], { stdio: ['ignore', 'inherit', 'inherit'] });
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', middle, preload], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } });
  let out = '';
  const ready = new Promise<number>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  const ended = new Promise<void>((resolve) => child.stdout.on('end', () => resolve()));
  const leafPid = await ready;
  const alive = leafStat(leafPid)!;
  t.ok(alive.state !== 'Z' && !alive.exiting, `the leaf reads as alive and not exiting first (state ${alive.state}, flags checked)`);
  const exited = new Promise<string | null>((resolve) => child.on('exit', (_c, s) => resolve(s)));
  child.kill('SIGKILL');
  t.equal(await exited, 'SIGKILL', 'the middle process was killed');
  // The preload checks twice a second; ten seconds without an end is a failure, not a wait.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 10_000)));
  const outcome = await Promise.race([ended.then(() => 'ended' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') process.kill(leafPid, 'SIGKILL');
  t.equal(outcome, 'ended', 'the leaf let go of the pipe: it exited');
  // Exited: gone, a zombie until its new parent (init here) reaps it, or still inside the kernel's
  // exit path: a dying process closes its files before it becomes a zombie, so the pipe can end
  // while its state still reads R or D. The kernel marks it exiting (PF_EXITING in the stat's
  // flags) before it closes anything, so that flag is what the end of the pipe proves.
  const after = leafStat(leafPid);
  const state = after?.state ?? 'gone';
  const exiting = after?.exiting ?? true;
  t.ok(state === 'gone' || state === 'Z' || state === 'X' || exiting, `the orphaned leaf (${leafPid}) has exited or is exiting (state ${state}, exiting ${exiting})`);
});

t.test('the preload keeps nobody alive and changes nothing while the parent lives', async (t) => {
  const child = spawn(process.execPath, ['--import=' + preload, '-e', 'console.log("done")'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.equal(code, 0);
  t.equal(out, 'done\n', 'the program runs and exits on its own (the timer is unref-ed)');
});

/** A process's state letter and whether the kernel marks it exiting; undefined once it is gone. */
function leafStat(pid: number): { state: string; exiting: boolean } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, exiting: (Number(fields[6]) & PF_EXITING) !== 0 };
}
