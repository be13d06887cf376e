// Units must not outlive the agent: an agent killed with SIGKILL takes its units with it.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Fence } from '../../../src/fleet/runner/fence.js';
import { groupAlive } from '../../../src/fleet/runner/process-group.js';
import { liveGroupMembers, pollUntil, processAlive, startFixtureAgent } from './helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/fenced-agent.ts', import.meta.url));

function pgrpOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

t.test('kill -9 of the agent: every process group of its unit dies', async (t) => {
  // The fixture runs under the same TypeScript loader as this test.
  const { agent, line } = await startFixtureAgent(t, fixture, { ...process.env, FLOTILLA_LOG_LEVEL: 'silent' });
  const { mainPid, sub, prebg, bg, esc } = JSON.parse(line) as { mainPid: number; sub: string; prebg: number; bg: number; esc: number };
  t.equal(sub, 'running');
  const mainGroup = mainPid; // each command leads its own group
  const preGroup = pgrpOf(prebg);
  t.equal(pgrpOf(bg), mainGroup, "the main process's child is in the unit's group");
  t.not(preGroup, mainGroup, 'the ExecStartPre leftover is in the group of its own command');
  t.ok(liveGroupMembers(mainGroup).length >= 2, 'main and its child run');
  t.same(liveGroupMembers(preGroup), [prebg], 'the ExecStartPre leftover runs');
  // setsid may not have run yet when the pid was printed: wait for it to leave the group.
  await pollUntil(() => pgrpOf(esc) === esc, 'the setsid process to lead its own group', 5_000);
  t.ok(processAlive(esc), 'the process that left the group with setsid runs');

  const exited = new Promise((resolve) => agent.once('exit', (_code, signal) => resolve(signal)));
  process.kill(agent.pid!, 'SIGKILL');
  t.equal(await exited, 'SIGKILL');

  // No event exists for "a group became empty": poll the kernel's view, with a deadline.
  await pollUntil(
    () => liveGroupMembers(mainGroup).length === 0 && liveGroupMembers(preGroup).length === 0,
    'the unit process groups to die',
    5_000,
  );
  await pollUntil(() => !processAlive(esc), 'the process that left the group to die', 5_000);
  for (const pid of [mainPid, bg, prebg, esc]) t.notOk(processAlive(pid), `process ${pid} is gone`);
  t.notOk(groupAlive(mainGroup));
  t.notOk(groupAlive(preGroup));
});

t.test('a released fence does not fire; a lost watchdog is reported', async (t) => {
  const victim = spawn('/bin/sleep', ['1000'], { detached: true, stdio: 'ignore' });
  t.teardown(() => {
    try {
      process.kill(-victim.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  const fence = new Fence(victim.pid!, 'unused-fence-id');
  t.equal(fence.pgid, victim.pid);
  await pollUntil(() => fence.pid !== undefined && processAlive(fence.pid), 'the watchdog to run');
  const watchdog = fence.pid!;
  fence.release();
  fence.release(); // twice is fine
  await pollUntil(() => !processAlive(watchdog), 'the watchdog to be gone');
  t.ok(processAlive(victim.pid!), 'releasing the fence leaves the group alone');

  const lost = new Promise<string>((resolve) => {
    const second = new Fence(victim.pid!, 'unused-fence-id', resolve);
    void pollUntil(() => second.pid !== undefined && processAlive(second.pid), 'the second watchdog').then(() =>
      process.kill(second.pid!, 'SIGKILL'),
    );
  });
  t.match(await lost, new RegExp(`^fence for process group ${victim.pid} exited \\(SIGKILL\\)$`));
  t.ok(processAlive(victim.pid!), 'a watchdog killed by SIGKILL cannot fire');
});

t.test('the watchdog ignores the signals a terminal or a group kill would send', async (t) => {
  const victim = spawn('/bin/sleep', ['1000'], { detached: true, stdio: 'ignore' });
  t.teardown(() => {
    try {
      process.kill(-victim.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  const fence = new Fence(victim.pid!, 'unused-fence-id');
  t.teardown(() => fence.release());
  const watchdog = fence.pid!;
  // Wait until the shell has set its traps. The kernel drops a signal that is ignored when it is
  // sent, so once SigIgn holds them, kill() below cannot reach the watchdog at all.
  const trapped = 0x84007n; // HUP, INT, QUIT, TERM, TSTP
  await pollUntil(() => {
    try {
      const ign = /\nSigIgn:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${watchdog}/status`, 'utf8'))![1]!;
      return (BigInt(`0x${ign}`) & trapped) === trapped;
    } catch {
      return false;
    }
  }, 'the watchdog to set its traps');
  for (const sig of ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGQUIT'] as const) process.kill(watchdog, sig);
  // The watchdog is still there, and the group is still alive: none of those signals fired it.
  t.ok(processAlive(watchdog), 'the watchdog survives terminal signals');
  t.ok(processAlive(victim.pid!));
});
