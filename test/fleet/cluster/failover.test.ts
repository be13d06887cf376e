// Fleet on real processes: a 3-member kvd and 3 fleetd machines on loopback, six units (one Global,
// two that conflict, one with MachineMetadata, one MachineOf its base). A `kill -9` of the fleetd
// running the most units must see each of its non-global units moved only once the machine has left
// the registry (its lease expired), all in one transaction, and active elsewhere, constraints still
// met; its return must start nothing twice; a store outage shorter than the TTL (the kvd leader
// stopped with SIGSTOP) must move nothing. How long the move took is reported, not asserted (a
// loaded machine stretches it; docs/fleet.md has the measured figures); the deadlines below only
// stop a hung round.
//
// Every unit appends `<time> <machine> <pid>` to its own file every 50 ms: the files are the proof
// that no unit ran on two machines at once (the intervals of its runs never overlap).
//
// FLEET_FAILOVER_ROUNDS=5 repeats the kill (the measured median is in docs/fleet.md);
// FLEET_OUTAGE_ROUNDS=N repeats the store outage;
// FLEET_AGENT_TTL sets the agent TTL (default 5 s, fleetd's default);
// KVD_TEST_LOG_LEVEL=info lets an outage that took more than one election print the members' leader changes;
// FLEETD_TEST_LOG_LEVEL=info puts the engine's decisions in the fleetd log lines a timeout prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { Client } from '../../../src/client/index.js';
import { Registry, RegistryView } from '../../../src/fleet/registry/index.js';
import { parseUnitFile } from '../../../src/fleet/unit/index.js';
import { freePort, tempDir } from '../../raft/cluster.js';
import { KvdCluster } from '../../server/kvd-harness.js';

const fleetdScript = fileURLToPath(new URL('../../../dist/bin/fleetd.js', import.meta.url));
const TTL = Number(process.env.FLEET_AGENT_TTL ?? 5);
const ROUNDS = Number(process.env.FLEET_FAILOVER_ROUNDS ?? 1);
const OUTAGE_ROUNDS = Number(process.env.FLEET_OUTAGE_ROUNDS ?? 1);
const PREFIX = '/flotilla/fleet/';

class Fleetd {
  child: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();
  readonly log: string[] = [];
  constructor(
    readonly name: string,
    readonly machineId: string,
    readonly metadata: string,
    readonly stateDir: string,
    readonly httpPort: number,
    readonly dnsPort: number,
    readonly endpoints: string,
  ) {}

  start(): Promise<void> {
    const child = spawn(
      process.execPath,
      [fleetdScript, '--endpoints', this.endpoints, '--machine-id', this.machineId, '--state-dir', this.stateDir, '--metadata', this.metadata,
        '--agent-ttl', String(TTL), '--http-addr', `127.0.0.1:${this.httpPort}`, '--dns-addr', `127.0.0.1:${this.dnsPort}`, '--engine-hold-off', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLEETD_LOG_LEVEL: process.env.FLEETD_TEST_LOG_LEVEL ?? 'warn' } },
    );
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => this.log.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => this.log.push(d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    return new Promise((resolve, reject) => {
      const onData = (d: Buffer) => {
        if (d.toString().includes('fleetd: machine')) {
          child.stderr!.off('data', onData);
          resolve();
        }
      };
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`fleetd ${this.name} exited with ${code}: ${this.log.join('')}`)));
    });
  }

  kill9(): Promise<void> {
    this.child?.kill('SIGKILL');
    return this.exited;
  }
}

interface Run {
  machine: string;
  pid: string;
  first: number;
  last: number;
}

/** The runs of a unit from its output file: one per (machine, pid), with first and last tick (ms). */
async function runsOf(dir: string, unit: string): Promise<Run[]> {
  let text = '';
  try {
    text = await readFile(join(dir, `${unit}.log`), 'utf8');
  } catch {
    return [];
  }
  const runs = new Map<string, Run>();
  for (const line of text.split('\n')) {
    const [time, machine, pid] = line.trim().split(' ');
    if (!time || !machine || !pid) continue;
    const ms = Number(time.replace(',', '.')) * 1000;
    const k = `${machine}/${pid}`;
    const r = runs.get(k);
    if (r) r.last = Math.max(r.last, ms);
    else runs.set(k, { machine, pid, first: ms, last: ms });
  }
  return [...runs.values()].sort((a, b) => a.first - b.first);
}

/** Pairs of runs on different machines whose intervals overlap (there must be none). */
function overlaps(runs: Run[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < runs.length; i++) {
    for (let j = i + 1; j < runs.length; j++) {
      const a = runs[i]!;
      const b = runs[j]!;
      if (a.machine !== b.machine && a.first <= b.last && b.first <= a.last) out.push(`${a.machine}/${a.pid} and ${b.machine}/${b.pid}`);
    }
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

t.test('fleet failover on real processes', { timeout: 240_000 }, async (t) => {
  const kvd = await KvdCluster.create(3);
  const out = await tempDir('flotilla-fleet-out-');
  const endpoints = kvd.members.map((m) => m.url).join(',');
  const machines: Fleetd[] = [];
  const specs = [
    { name: 'f1', id: 'a1'.repeat(16), md: 'role=web,zone=a' },
    { name: 'f2', id: 'b2'.repeat(16), md: 'role=web,zone=b' },
    { name: 'f3', id: 'c3'.repeat(16), md: 'role=db,zone=c' },
  ];
  for (const s of specs) machines.push(new Fleetd(s.name, s.id, s.md, await tempDir(`flotilla-fleetd-${s.name}-`), await freePort(), await freePort(), endpoints));
  const client = new Client({ endpoints: kvd.members.map((m) => m.url), autoSyncMembers: false, requestTimeoutMs: 5000 });
  const registry = new Registry(client, PREFIX);
  const view = new RegistryView(registry);
  t.teardown(async () => {
    await view.stop().catch(() => undefined);
    client.close();
    await Promise.all(machines.map((m) => m.kill9()));
    await kvd.close();
    await rm(out, { recursive: true, force: true });
    for (const m of machines) await rm(m.stateDir, { recursive: true, force: true });
  });
  await Promise.all(machines.map((m) => m.start()));

  const tick = join(out, 'tick.sh');
  await writeFile(tick, '#!/bin/bash\nwhile :; do echo "$EPOCHREALTIME $FLOTILLA_MACHINE_ID $$" >> "$1/$2.log"; sleep 0.05; done\n');
  const units: Record<string, string> = {
    'global.service': '[X-Fleet]\nGlobal=true\n',
    'c1.service': '[X-Fleet]\nConflicts=c2.service\n',
    'c2.service': '[X-Fleet]\nConflicts=c1.service\n',
    'meta.service': '[X-Fleet]\nMachineMetadata=role=web\n',
    'base.service': '',
    'follower.service': '[X-Fleet]\nMachineOf=base.service\n',
  };
  for (const [name, fleet] of Object.entries(units)) {
    const text = `[Unit]\nDescription=${name} for the failover test\n\n[Service]\nExecStart=/bin/bash ${tick} ${out} ${name}\n\n${fleet}`;
    await registry.submit(parseUnitFile(name, text), { desired: 'launched' });
  }
  await view.start();
  const nonGlobal = Object.keys(units).filter((u) => u !== 'global.service');
  const ids = machines.map((m) => m.machineId);

  /** Resolves when `cond` holds on the view (checked now and after every change), or fails after `ms`. */
  const until = (what: string, cond: () => boolean, ms: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const check = () => {
        if (!cond()) return;
        cleanup();
        resolve(performance.now() - started);
      };
      const timer = setTimeout(() => {
        cleanup();
        // What the view held then, and the fleetds' last log lines: a timeout must say why.
        for (const f of machines) for (const line of f.log.join('').split('\n').filter(Boolean).slice(-30)) t.comment(`${f.name}: ${line}`);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; the registry then: ${describeView()}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        view.off('change', check);
      };
      view.on('change', check);
      check();
    });
  const activeOn = (unit: string): string[] =>
    [...(view.current.states.get(unit)?.values() ?? [])].filter((s) => s.active === 'active').map((s) => s.machine);
  const liveIds = () => [...view.current.machines.keys()];
  const allRunning = () =>
    nonGlobal.every((u) => activeOn(u).length === 1 && liveIds().includes(activeOn(u)[0]!)) &&
    liveIds().every((m) => activeOn('global.service').includes(m));
  const short = (id: string | undefined) => (id === undefined ? '-' : (machines.find((m) => m.machineId === id)?.name ?? id.slice(0, 8)));
  const describeView = (): string => {
    const v = view.current;
    const lines = Object.keys(units).map((u) => {
      const states = [...(v.states.get(u)?.values() ?? [])].map((s) => `${short(s.machine)} ${s.active}/${s.sub}`).join(', ');
      const p = v.placements.get(u);
      return `${u} placed on ${p ? `${short(p.machine)} by ${short(p.engine)}` : 'none'} (states: ${states || 'none'})`;
    });
    return `revision ${v.revision}; machines ${[...v.machines.keys()].map(short).join(', ')}; ${lines.join('; ')}`;
  };
  const raftTerm = async (): Promise<number> => Number((await (await kvd.leader()).call<{ raftTerm: string }>('/v3/maintenance/status')).body.raftTerm);
  const metadataOf = (id: string) => specs.find((s) => s.id === id)!.md;
  const checkConstraints = (t: Test, when: string) => {
    const where = (u: string) => activeOn(u)[0];
    t.not(where('c1.service'), where('c2.service'), `${when}: the conflicting units are apart`);
    t.match(metadataOf(where('meta.service')!), /role=web/, `${when}: meta.service is on a role=web machine`);
    t.equal(where('follower.service'), where('base.service'), `${when}: follower.service is on base.service's machine`);
  };

  await until('every unit active (global on every machine)', () => liveIds().length === 3 && allRunning(), 60_000);
  checkConstraints(t, 'at start');

  const reschedule: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // The victim: the live machine running the most non-global units.
    const load = (id: string) => nonGlobal.filter((u) => activeOn(u)[0] === id).length;
    const victim = machines.filter((m) => liveIds().includes(m.machineId)).sort((a, b) => load(b.machineId) - load(a.machineId))[0]!;
    const moved = nonGlobal.filter((u) => activeOn(u)[0] === victim.machineId);
    t.ok(moved.length > 0, `round ${round}: ${victim.name} runs ${moved.join(', ')}`);
    // A kvd leader change meanwhile gives every lease a whole TTL again (as etcd does), so the
    // victim's machine stays listed longer: the term says whether that happened.
    const termAtKill = await raftTerm();
    // A unit must not be placed elsewhere while its machine is still listed (the lease still held).
    const early: string[] = [];
    const watchEarly = () => {
      if (!liveIds().includes(victim.machineId)) return;
      for (const u of moved) {
        const p = view.current.placements.get(u);
        if (p !== undefined && p.machine !== victim.machineId) early.push(`${u} on ${short(p.machine)} at revision ${view.current.revision}`);
      }
    };
    view.on('change', watchEarly);
    const killedAt = performance.now();
    await victim.kill9();
    // When the machine left the registry (its lease expired) splits the time in two: the store's
    // part and the engine's and the new machines' part.
    const gone = until(`round ${round}: ${victim.name} gone`, () => !liveIds().includes(victim.machineId), (TTL + 10) * 1000);
    gone.catch(() => undefined);
    try {
      await until(
        `round ${round}: ${moved.join(', ')} active elsewhere`,
        () => moved.every((u) => activeOn(u).length === 1 && activeOn(u)[0] !== victim.machineId) && !liveIds().includes(victim.machineId),
        (TTL + 10) * 1000,
      );
    } finally {
      view.off('change', watchEarly);
      t.comment(`round ${round}: kvd raft term ${termAtKill} at the kill, ${await raftTerm().catch((e: Error) => e.message)} after`);
    }
    t.same(early, [], `round ${round}: no unit was placed elsewhere before ${victim.name} left the registry`);
    // The engine writes a pass's plan in one transaction: every unit of the machine moves at once.
    const placedAt = moved.map((u) => view.current.modRevisions.get(registry.keys.placement(u)));
    t.equal(new Set(placedAt).size, 1, `round ${round}: ${moved.join(', ')} were placed in one transaction (revisions ${placedAt.join(', ')})`);
    const ms = performance.now() - killedAt;
    t.comment(`round ${round}: ${victim.name} left the registry ${(await gone).toFixed(0)} ms after the kill, its units were active elsewhere ${ms.toFixed(0)} ms after the kill`);
    reschedule.push(ms);
    checkConstraints(t, `round ${round} after the kill`);

    await victim.start();
    await until(`round ${round}: ${victim.name} back, every unit running`, () => liveIds().length === 3 && allRunning(), 30_000);
    checkConstraints(t, `round ${round} after the return`);
  }
  t.comment(`reschedule after kill -9 of a fleetd (agent TTL ${TTL} s): ${reschedule.map((x) => x.toFixed(0)).join(', ')} ms; median ${median(reschedule).toFixed(0)} ms`);

  // A store outage shorter than the TTL: the kvd leader stopped for 3 s (the others elect a new
  // leader meanwhile). Nothing may move or restart, and no fleetd may fence.
  for (let round = 1; round <= OUTAGE_ROUNDS; round++) {
    const before = new Map(nonGlobal.map((u) => [u, view.current.placements.get(u)?.machine]));
    const runsBefore = new Map<string, number>();
    for (const u of Object.keys(units)) runsBefore.set(u, (await runsOf(out, u)).length);
    const logsBefore = machines.map((f) => f.log.length);
    // The worst case, in the first round: the leader is the member every fleetd's client is pinned
    // to (the first of --endpoints), so renewals hang on it until they are cut short and sent
    // elsewhere. (Later rounds stop the same member, which the clients have left by then.)
    const first = kvd.members[0]!;
    const firstId = (await first.call<{ header: { member_id: string } }>('/v3/maintenance/status')).body.header.member_id;
    if ((await kvd.leader()) !== first) await client.moveLeader(firstId);
    const leader = await kvd.leader();
    t.equal(leader, first, `outage ${round}: the leader is the fleetds' pinned endpoint`);
    const termBefore = Number((await leader.call<{ raftTerm: string }>('/v3/maintenance/status')).body.raftTerm);
    const kvdLogsBefore = kvd.members.map((m) => m.log.length);
    const stoppedAt = Date.now();
    leader.child!.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 3000));
    leader.child!.kill('SIGCONT');
    // The store answers again. The put may reach the resumed member before it has read the new
    // leader's messages queued while it was stopped: it then proposes as the leader of the old
    // term, and that entry is replaced. kvd now proposes it again once it sees that (before
    // 9993786 the put waited for the request timeout, 5 s, OutcomeUnknown; seen once in CI);
    // idempotent stays for any other failure of the resumed member's first seconds.
    await client.put('/fleet-test/after-outage', 'x', { idempotent: true });
    // How many elections the outage took: with pre-vote, a clean one raises the term by one and
    // each split vote by one more (each costs another randomized election timeout).
    const termAfter = Number((await (await kvd.leader()).call<{ raftTerm: string }>('/v3/maintenance/status')).body.raftTerm);
    t.comment(`outage ${round}: raft term ${termBefore} before the stop, ${termAfter} after`);
    if (termAfter - termBefore > 1) {
      // More than one election: each member's view of the leader since the stop says why (a split
      // vote, a new leader that stepped down, the resumed member).
      for (const [i, m] of kvd.members.entries()) {
        for (const line of m.log.slice(kvdLogsBefore[i]).join('').split('\n')) {
          const rec = /"time":(\d+).*"msg":"(raft: (?:leader changed|lost the connection)[^"]*)"/.exec(line);
          const term = /"term":(\d+)/.exec(line)?.[1];
          const lead = /"leader":"?(\w+)/.exec(line)?.[1];
          if (rec) t.comment(`outage ${round}: ${m.spec.name} +${Number(rec[1]) - stoppedAt} ms: ${rec[2]}${term ? ` (term ${term}, leader ${lead})` : ''}`);
        }
      }
    }
    // What is checked is that nothing happens, so there is no event to await: give a machine whose
    // lease was lost the time to vanish (a TTL), then look.
    await new Promise((r) => setTimeout(r, TTL * 1000 + 1000));
    const fenced = machines.flatMap((f, i) => f.log.slice(logsBefore[i]).filter((l) => /fencing/.test(l)).map((l) => `${f.name}: ${l}`));
    t.same(fenced, [], `outage ${round}: no fleetd fenced`);
    // How close each machine came: a renewal that succeeds after failures logs the gap.
    const gaps = machines.map((f, i) => [...f.log.slice(logsBefore[i]).join('').matchAll(/lease renewed after (\d+) ms/g)].map((m) => Number(m[1])));
    t.comment(`outage ${round}: longest time without a successful lease renewal per machine: ${gaps.map((g) => (g.length ? `${Math.max(...g)} ms` : 'no failed renewal')).join(', ')} (a machine fences at ${TTL * 1000 - Math.max(500, TTL * 200)} ms)`);
    if (process.env.FLEET_OUTAGE_VERBOSE) for (const [i, f] of machines.entries()) for (const m of f.log.slice(logsBefore[i]).join('').matchAll(/"err":"(lease renewed after[^"]*)"/g)) t.comment(`${f.name}: ${m[1]}`);
    t.equal(liveIds().length, 3, `outage ${round}: every machine is still present`);
    for (const u of nonGlobal) t.equal(view.current.placements.get(u)?.machine, before.get(u), `outage ${round}: ${u} did not move`);
    for (const u of Object.keys(units)) t.equal((await runsOf(out, u)).length, runsBefore.get(u), `outage ${round}: ${u} was not restarted`);
  }

  for (const u of Object.keys(units)) {
    const runs = await runsOf(out, u);
    t.ok(runs.length > 0, `${u} produced output`);
    if (u === 'global.service') {
      // A global unit runs on every machine at once; per machine, one run at a time.
      for (const id of ids) {
        const mine = runs.filter((r) => r.machine === id);
        const overlapping = mine.filter((a, i) => mine.some((b, j) => i < j && a.first <= b.last && b.first <= a.last));
        t.same(overlapping, [], `global.service never ran twice on ${id.slice(0, 8)}`);
      }
    } else {
      t.same(overlaps(runs), [], `${u} never ran on two machines at once (${runs.length} runs)`);
    }
  }
});
