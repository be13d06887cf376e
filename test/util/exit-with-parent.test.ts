// test/support/exit-with-parent.mjs, which `npm test` loads into every Node process it starts: a
// process whose parent dies (as a test file's process does when tap stops it at its timeout)
// exits instead of living on as an orphan.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';

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
  // Exited: gone, or a zombie until its new parent (init here) reaps it.
  let state = 'gone';
  try {
    const stat = readFileSync(`/proc/${leafPid}/stat`, 'latin1');
    state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
  } catch {
    // no such process
  }
  t.ok(state === 'gone' || state === 'Z', `the orphaned leaf (${leafPid}) has exited (${state})`);
});

t.test('the preload keeps nobody alive and changes nothing while the parent lives', async (t) => {
  const child = spawn(process.execPath, ['--import=' + preload, '-e', 'console.log("done")'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.equal(code, 0);
  t.equal(out, 'done\n', 'the program runs and exits on its own (the timer is unref-ed)');
});
