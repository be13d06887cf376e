// Running fleetctl in tests: `run()` in this process with captured streams, against a real
// single-member kvd; a fake fleet (engine + agents in one) that answers desired states by writing
// placements and state records as the real ones would; and a fake agent HTTP API for journals.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '../../src/client/index.js';
import {
  encodeRecord,
  Registry,
  RegistryView,
  type MachineRecord,
  type RegistrySnapshot,
  type UnitStateRecord,
} from '../../src/fleet/registry/index.js';
import { fleetOptions, isTemplate, parseUnitFile } from '../../src/fleet/unit/index.js';
import { run, type FleetctlIo } from '../../src/fleetctl/index.js';
import { KvdCluster } from '../server/kvd-harness.js';

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  interrupt?: AbortController;
  now?: () => number;
  /** Sees stdout as it is written (to wait for a line of a command still running). */
  onStdout?: (all: string) => void;
}

/** Runs fleetctl in this process with captured streams. */
export async function fleetctl(args: string[], opts: RunOptions = {}): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const io: FleetctlIo = {
    stdout: (d) => {
      stdout += d;
      opts.onStdout?.(stdout);
    },
    stderr: (d) => (stderr += d),
    env: opts.env ?? {},
    interrupt: (opts.interrupt ?? new AbortController()).signal,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  };
  const code = await run(args, io);
  return { code, stdout, stderr };
}

export const M1 = '0123456789abcdef0123456789abcdef';
export const M2 = 'fedcba9876543210fedcba9876543210';

export function machine(id: string, publicIp: string, extra: Partial<MachineRecord> = {}): MachineRecord {
  return { id, publicIp, metadata: {}, agentUrl: '', cpus: 2, memTotal: 1 << 30, memFree: 1 << 29, load: 0.1, version: '0.1.0', startedAt: 1_700_000_000_000, ...extra };
}

/** Resolves once `check` holds on `view` (checked now and on each change). */
export function until(view: RegistryView, check: (s: RegistrySnapshot) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const evaluate = () => {
      if (!check(view.current)) return;
      view.off('change', evaluate);
      resolve();
    };
    view.on('change', evaluate);
    evaluate();
  });
}

/**
 * A kvd member, and in place of fleetd: when `reacting`, each change of the registry is answered as
 * the engine and the agents would (placement on `placeOn(unit)` or the first machine, states by the
 * desired state, global units on every machine), so that fleetctl's blocking commands return.
 */
export class FakeFleet {
  readonly client: Client;
  readonly registry: Registry;
  readonly view: RegistryView;
  readonly endpoint: string;
  reacting = true;
  /** Units whose machine reports them failed instead of active. */
  readonly failing = new Set<string>();
  /** Where the engine places a unit (default: the first machine). */
  readonly placeOn = new Map<string, string>();
  private busy: Promise<void> = Promise.resolve();
  private rev = 0;

  private constructor(
    readonly cluster: KvdCluster,
    readonly machines: MachineRecord[],
  ) {
    this.endpoint = `http://127.0.0.1:${cluster.members[0]!.spec.clientPort}`;
    this.client = new Client({ endpoints: [this.endpoint], autoSyncMembers: false });
    this.registry = new Registry(this.client);
    this.view = new RegistryView(this.registry);
  }

  static async create(machines: MachineRecord[]): Promise<FakeFleet> {
    const cluster = await KvdCluster.create(1);
    await cluster.leader();
    const f = new FakeFleet(cluster, machines);
    for (const m of machines) await f.putMachine(m);
    await f.view.start();
    f.view.on('change', () => f.kick());
    return f;
  }

  /**
   * fleetctl's flags for this store. The request timeout is fleet's 3 s default made roomy: on a
   * machine shared with other test runs a kvd answer can take longer than that.
   */
  get flags(): string[] {
    return [`--endpoint=${this.endpoint}`, '--request-timeout=30'];
  }

  async putMachine(m: MachineRecord): Promise<void> {
    await this.client.put(this.registry.keys.machine(m.id), encodeRecord(m));
  }

  async putState(st: UnitStateRecord): Promise<void> {
    await this.client.put(this.registry.keys.state(st.name, st.machine), encodeRecord(st));
  }

  async place(name: string, machine: string, hash: string): Promise<void> {
    await this.client.put(this.registry.keys.placement(name), encodeRecord({ machine, hash, at: 1, engine: M1 }));
  }

  /** Resolves when the fake has answered everything it has seen so far. */
  async settled(): Promise<void> {
    for (;;) {
      const b = this.busy;
      await b;
      if (b === this.busy) return;
    }
  }

  /** Answers the current registry again (after `reacting` was turned back on). */
  kick(): void {
    const rev = ++this.rev;
    this.busy = this.busy.then(() => (rev === this.rev && this.reacting ? this.reconcile() : undefined));
  }

  private state(name: string, machine: string, hash: string, desired: 'loaded' | 'launched'): UnitStateRecord {
    if (desired === 'loaded') return { name, machine, hash, load: 'loaded', active: 'inactive', sub: 'dead', since: 1_700_000_000_000 };
    if (this.failing.has(name)) return { name, machine, hash, load: 'loaded', active: 'failed', sub: 'failed', result: 'exit-code', exitCode: 1, mainPid: 4242, since: 1_700_000_000_000 };
    return { name, machine, hash, load: 'loaded', active: 'active', sub: 'running', mainPid: 4242, since: 1_700_000_000_000 };
  }

  private async reconcile(): Promise<void> {
    const snap = this.view.current;
    const keys = this.registry.keys;
    const same = (a: UnitStateRecord | undefined, b: UnitStateRecord) => a !== undefined && a.hash === b.hash && a.active === b.active && a.load === b.load;
    for (const [name, byMachine] of snap.states) {
      const u = snap.units.get(name);
      for (const m of byMachine.keys()) if (!u || u.desired === 'inactive') await this.client.delete(keys.state(name, m));
    }
    for (const [name, p] of snap.placements) {
      const u = snap.units.get(name);
      if (!u || u.desired === 'inactive') await this.client.delete(keys.placement(name));
      else if (p.hash !== u.hash) await this.place(name, p.machine, u.hash);
    }
    for (const u of snap.units.values()) {
      if (u.desired === 'inactive' || isTemplate(u.name)) continue;
      const text = snap.contents.get(u.hash);
      const global = text !== undefined && fleetOptions(parseUnitFile(u.name, text)).global;
      const targets = global ? this.machines.map((m) => m.id) : [snap.placements.get(u.name)?.machine ?? this.placeOn.get(u.name) ?? this.machines[0]!.id];
      if (!global && !snap.placements.has(u.name)) await this.place(u.name, targets[0]!, u.hash);
      for (const m of targets) {
        const want = this.state(u.name, m, u.hash, u.desired);
        if (!same(snap.states.get(u.name)?.get(m), want)) await this.putState(want);
      }
    }
  }

  async close(): Promise<void> {
    this.reacting = false;
    await this.settled();
    await this.view.stop();
    this.client.close();
    await this.cluster.close();
  }
}

/** An agent's HTTP API that serves fixed journals (and a follow stream the test feeds) and process lists. */
export class FakeAgent {
  readonly requests: string[] = [];
  readonly journals = new Map<string, string[]>();
  /** The answer to a unit's processes request (a string is sent as it is); none: 404. */
  readonly processes = new Map<string, unknown>();
  private readonly followers = new Set<ServerResponse>();
  private followWaiters: (() => void)[] = [];
  /** Follow requests received so far. */
  follows = 0;
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push(req.url ?? '');
    const u = new URL(req.url ?? '/', 'http://agent');
    const p = /^\/fleet\/v1\/units\/([^/]+)\/processes$/.exec(u.pathname);
    if (p) {
      const answer = this.processes.get(decodeURIComponent(p[1]!));
      res.writeHead(answer === undefined ? 404 : 200, { 'content-type': 'application/json' });
      res.end(answer === undefined ? JSON.stringify({ error: 'no such endpoint' }) : typeof answer === 'string' ? answer : JSON.stringify(answer));
      return;
    }
    const m = /^\/fleet\/v1\/units\/([^/]+)\/journal$/.exec(u.pathname);
    const lines = m ? this.journals.get(decodeURIComponent(m[1]!)) : undefined;
    if (!lines) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `unit ${m ? decodeURIComponent(m[1]!) : u.pathname} is not known here` }));
      return;
    }
    const n = Number(u.searchParams.get('lines') ?? '10');
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.write(lines.slice(Math.max(0, lines.length - n)).map((l) => `${l}\n`).join(''));
    if (u.searchParams.get('follow') !== 'true') {
      res.end();
      return;
    }
    this.followers.add(res);
    this.follows++;
    res.on('close', () => this.followers.delete(res));
    for (const w of this.followWaiters.splice(0)) w();
  }

  /** Resolves once `n` follow requests have come in (in all). */
  async followed(n: number): Promise<void> {
    while (this.follows < n) await new Promise<void>((resolve) => this.followWaiters.push(resolve));
  }

  /** A new line for every follower. */
  append(line: string): void {
    for (const res of this.followers) res.write(`${line}\n`);
  }

  endFollowers(): void {
    for (const res of this.followers) res.end();
  }

  async close(): Promise<void> {
    for (const res of this.followers) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
