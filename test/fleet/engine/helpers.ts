// Helpers for the engine's tests against a real kvd: fake machines (records under a lease, as an
// agent writes them), a fake clock, and waits on events (a registry view's changes, an engine's passes).
import type { Engine, PassReport } from '../../../src/fleet/engine/index.js';
import type { MachineRecord, Registry, UnitStateRecord } from '../../../src/fleet/registry/index.js';
import type { ActiveState, DesiredState } from '../../../src/fleet/types.js';

export const SERVICE = '[Service]\nExecStart=/bin/sleep 1000\n';

export function machineRecord(id: string, metadata: Record<string, string> = {}): MachineRecord {
  return {
    id,
    publicIp: '127.0.0.1',
    metadata,
    agentUrl: '',
    cpus: 2,
    memTotal: 4e9,
    memFree: 2e9,
    load: 0,
    version: 'test',
    startedAt: 0,
  };
}

/** A machine as its agent would announce it: its record (and its unit states) under its own lease. */
export class FakeMachine {
  private constructor(
    private readonly registry: Registry,
    readonly id: string,
    readonly lease: bigint,
    public metadata: Record<string, string>,
  ) {}

  static async announce(registry: Registry, id: string, metadata: Record<string, string> = {}): Promise<FakeMachine> {
    const { ID } = await registry.client.leaseGrant(60);
    const m = new FakeMachine(registry, id, ID, metadata);
    await registry.announce(machineRecord(id, metadata), ID);
    return m;
  }

  async setMetadata(metadata: Record<string, string>): Promise<void> {
    this.metadata = metadata;
    await this.registry.announce(machineRecord(this.id, metadata), this.lease);
  }

  async report(name: string, active: ActiveState): Promise<void> {
    const state: UnitStateRecord = { name, machine: this.id, hash: 'x', load: 'loaded', active, sub: active === 'active' ? 'running' : 'dead', since: 0 };
    await this.registry.reportState(state, this.lease);
  }

  /** The lease expires (as when the agent dies): its machine key and states go. */
  async die(): Promise<void> {
    await this.registry.client.leaseRevoke(this.lease);
  }
}

export async function submit(registry: Registry, name: string, text: string, desired: DesiredState = 'launched'): Promise<void> {
  await registry.submit({ name, text, sections: [] }, { desired });
}


/** The next pass report of `engine` for which `cond` holds. */
export function untilPass(engine: Engine, cond: (r: PassReport) => boolean = () => true, what = 'pass', timeoutMs = 20000): Promise<PassReport> {
  return new Promise((resolve, reject) => {
    const on = (r: PassReport) => {
      if (!cond(r)) return;
      cleanup();
      resolve(r);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`engine ${engine.machineId}: ${what} not reached in ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      engine.off('pass', on);
    };
    engine.on('pass', on);
  });
}

export function once<T>(emitter: { once(event: string, fn: (arg: T) => void): unknown }, event: string, timeoutMs = 20000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (arg: T) => {
      clearTimeout(timer);
      resolve(arg);
    });
  });
}
