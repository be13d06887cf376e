// One machine's agent: its presence (lease, announcement, fencing), the reconciler that runs the
// units the registry gives it, the machine facts it keeps announcing, and (with `services`) the
// service instances of its units' [X-Service] sections. This file only wires them: each decides on
// its own.
import type { Logger } from '../../util/log.js';
import type { Registry, RegistryView } from '../registry/index.js';
import { systemClock, type Clock } from '../../util/clock.js';
import type { MachineInfo } from './machine-info.js';
import { clientPresenceStore, Presence, type PresenceStore } from './presence.js';
import { machineFacts } from './machine-facts.js';
import { Reconciler } from './reconciler.js';
import type { AgentRunner } from './runner-port.js';
import { ServiceRegistrations, type RegisterService } from './service-registrations.js';

/** Service discovery for the units' [X-Service] sections. */
export interface AgentServicesOptions {
  register: RegisterService;
  /** The instances' default address (the machine's public IP). */
  address: string;
  /** For `%H` in [X-Service], and in [Unit] and [Service] (default: this host's name). */
  hostname?: string;
  /** Pause before a failed registration is tried again (ms); default 1000. */
  retryMs?: number;
}

export interface AgentOptions {
  registry: Registry;
  /** The registry mirror (shared with the engine); the agent starts it if it is not started. */
  view: RegistryView;
  runner: AgentRunner;
  machine: MachineInfo;
  ttlSec: number;
  clock?: Clock;
  logger: Logger;
  /** Default: the registry's client. */
  presenceStore?: PresenceStore;
  /** Pause between attempts to read the registry at start (ms); default 1000. */
  retryMs?: number;
  /** Registers the units' [X-Service] instances while they are active (none without it). */
  services?: AgentServicesOptions;
}

export class Agent {
  readonly presence: Presence;
  readonly reconciler: Reconciler;
  readonly services: ServiceRegistrations | undefined;
  private readonly log: Logger;
  private readonly clock: Clock;
  private stopped = false;
  private viewStart: Promise<void> | undefined;

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.logger;
    this.clock = opts.clock ?? systemClock;
    this.presence = new Presence({
      store: opts.presenceStore ?? clientPresenceStore(opts.registry),
      machine: () => opts.machine.record,
      ttlSec: opts.ttlSec,
      clock: this.clock,
    });
    // One set of facts for the specifiers of every section the agent reads.
    const facts = machineFacts(opts.machine.id, opts.services?.hostname);
    this.reconciler = new Reconciler({
      view: opts.view,
      states: opts.registry,
      runner: opts.runner,
      machine: { id: opts.machine.id, metadata: opts.machine.metadata },
      clock: this.clock,
      log: this.log,
      serviceProblem: (name, hash, file) => this.services?.problem(name, hash, file),
      facts,
    });
    this.services = opts.services
      ? new ServiceRegistrations({
          ...opts.services,
          runner: opts.runner,
          units: this.reconciler,
          machineId: opts.machine.id,
          facts,
          clock: this.clock,
          log: this.log,
        })
      : undefined;
    this.presence.on('present', (lease, revision) => {
      this.log.info({ lease: lease.toString(16), revision }, 'agent: machine announced');
      this.reconciler.setLease(lease, revision);
      this.services?.setLease(lease);
    });
    this.presence.on('fenced', (reason) => {
      this.log.warn({ reason }, 'agent: lease lost: killing every unit (fencing)');
      this.services?.fence();
      this.reconciler.fence().catch((e: Error) => this.log.error({ err: e.message }, 'agent: fencing failed'));
    });
    this.presence.on('warning', (e) => this.log.warn({ err: e.message }, 'agent: presence'));
    this.reconciler.on('warning', (e) => this.log.warn({ err: e.message }, 'agent: reconciler'));
    opts.machine.on('change', () => void this.presence.reannounce());
    opts.machine.on('warning', (e) => this.log.warn({ err: e.message }, 'agent: machine facts'));
    opts.view.on('error', (e) => this.log.warn({ err: e.message }, 'agent: registry view'));
  }

  /**
   * Reads the machine's facts, then acquires a lease and reads the registry, both in the
   * background, retrying until the store answers: a fleetd started before its store waits for it.
   */
  async start(): Promise<void> {
    await this.opts.machine.start();
    this.services?.start();
    this.presence.start();
    this.viewStart = this.startView();
  }

  /** Resolves once the registry view is loaded and the reconciler runs. */
  async ready(): Promise<void> {
    await this.viewStart;
  }

  /**
   * Graceful stop: reconciling stops, every unit is stopped (ExecStop, SIGTERM, then SIGKILL after
   * its TimeoutStopSec), and the lease is revoked so the machine leaves the registry at once.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.opts.machine.stop();
    await this.viewStart;
    this.reconciler.stop();
    // Stopping the units also ends starts in flight (an ExecStartPre that never ends), which the
    // reconciler's work may be waiting on.
    await this.opts.runner.stopAll();
    await this.reconciler.settled();
    // Stopped units were deregistered as they stopped; what is left goes before the lease does.
    await this.services?.close();
    await this.presence.stop({ revoke: true });
  }

  private async startView(): Promise<void> {
    const view = this.opts.view;
    while (!this.stopped && !view.started) {
      try {
        await view.start();
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'agent: cannot read the registry yet; trying again');
        await new Promise<void>((resolve) => this.clock.setTimeout(resolve, this.opts.retryMs ?? 1000));
      }
    }
    if (!this.stopped) this.reconciler.start();
  }
}
