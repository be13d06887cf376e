// The processes as fleetctl status lists them: each pid's command line from /proc.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describeProcesses } from '../../../src/fleet/runner/process-list.js';
import { groupPids } from '../../../src/fleet/runner/process-group.js';
import { pollUntil } from './helpers.js';

function start(argv: string[], detached = false): ChildProcess {
  // libuv's spawn returns once the child has exec'ed: its command line is already the new one.
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', detached });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  return child;
}

/** The children of `pid`, from /proc (stat's fourth field is the parent). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

t.test('each pid with its arguments, in the order given; a process that is gone is left out', async (t) => {
  const a = start(['/bin/sleep', '1000']);
  const b = start([process.execPath, '-e', 'setInterval(() => {}, 1000)', 'two words', 'new\nline']);
  const gone = start(['/bin/true']);
  await new Promise((resolve) => gone.on('exit', resolve));
  const listed = describeProcesses([b.pid!, gone.pid!, a.pid!]);
  t.match(listed, [
    { pid: b.pid!, command: `${process.execPath} -e setInterval(() => {}, 1000) two words new line` },
    { pid: a.pid!, command: '/bin/sleep 1000', threads: 1 },
  ]);
  t.equal(listed.length, 2);
  t.ok(listed[1]!.rssBytes > 0, `sleep's resident memory (${listed[1]!.rssBytes} bytes)`);
  // This test's own node, started long ago: its threads (V8's, libuv's) and its memory.
  const [self] = describeProcesses([process.pid]);
  t.ok(self!.threads > 1, `node runs several threads (${self!.threads})`);
  t.ok(self!.cpuMs > 0, `node has used CPU time (${self!.cpuMs} ms)`);
  t.ok(listed[1]!.cpuMs >= 0 && listed[1]!.cpuMs < self!.cpuMs, `sleep has used next to none (${listed[1]!.cpuMs} ms)`);
  t.ok(self!.rssBytes > 10 * 2 ** 20 && self!.rssBytes > listed[1]!.rssBytes, `node's resident memory (${self!.rssBytes} bytes), more than sleep's`);
  t.same(describeProcesses([]), []);
});

t.test('a very long command line is cut', async (t) => {
  const long = start([process.execPath, '-e', 'setInterval(() => {}, 1000)', 'y'.repeat(5000)]);
  const [p] = describeProcesses([long.pid!]);
  t.equal(p!.command.length, 4096);
  t.ok(p!.command.startsWith(`${process.execPath} -e setInterval(() => {}, 1000) yyy`));
  t.ok(p!.command.endsWith('y...'));
});

t.test('a process with no command line left (a zombie) shows its name in brackets', async (t) => {
  // The shell forks `true`, then becomes sleep, which never reaps it: a zombie for as long as sleep runs.
  const parent = start(['/bin/sh', '-c', '/bin/true & exec /bin/sleep 1000'], true);
  await pollUntil(() => childrenOf(parent.pid!).some((c) => readFileSync(`/proc/${c}/stat`, 'latin1').includes(') Z ')), 'the zombie');
  const zombie = childrenOf(parent.pid!)[0]!;
  const listed = describeProcesses([zombie]);
  t.same(listed.map(({ cpuMs: _cpu, ...rest }) => rest), [{ pid: zombie, command: '[true]', threads: 1, rssBytes: 0 }], 'no memory left');
  t.ok(listed[0]!.cpuMs >= 0, `and the CPU time it used (${listed[0]!.cpuMs} ms)`);
  t.same(groupPids(parent.pid!), [parent.pid!], 'its group lists the sleep, not the zombie');
});
