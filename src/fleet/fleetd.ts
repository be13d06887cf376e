// The fleetd process: one machine's agent (presence, reconciler, runner, HTTP API) and its engine
// candidate, over one client and one registry view. bin/fleetd.ts only parses flags and calls
// startFleetd(); bin/flotilla.ts runs one beside an in-process kvd.
import { mkdir } from 'node:fs/promises';
import { Client } from '../client/index.js';
import { componentLogger, rootLogger } from '../util/log.js';
import { Agent } from './agent/agent.js';
import { systemClock, type Clock } from './agent/clock.js';
import { AgentHttpApi } from './agent/http-api.js';
import { loadMachineId } from './agent/machine-id.js';
import { MachineInfo, type FactsReader } from './agent/machine-info.js';
import { FLEETD_VERSION, type FleetdConfig, type HostPort } from './config.js';
import { Engine } from './engine/index.js';
import { Registry, RegistryView } from './registry/index.js';
import { Runner } from './runner/index.js';

export interface FleetdDeps {
  clock?: Clock;
  /** The machine's facts (default: systeminformation). */
  readFacts?: FactsReader;
  /** The environment units start from (default: PATH, LANG, ... of this process). */
  baseEnv?: Record<string, string>;
}

export interface RunningFleetd {
  machineId: string;
  /** The agent's HTTP API as bound (undefined when turned off). */
  httpAddress: HostPort | undefined;
  /** What the machine record publishes: `http://<public-ip>:<port>`, or ''. */
  agentUrl: string;
  config: FleetdConfig;
  client: Client;
  registry: Registry;
  view: RegistryView;
  runner: Runner;
  agent: Agent;
  engine: Engine;
  http: AgentHttpApi | undefined;
  /** Resolves once the machine is announced and the registry view is loaded. */
  ready(): Promise<void>;
  /** Graceful stop: the engine, then every unit, then the lease (revoked), then the connections. */
  stop(): Promise<void>;
}

/** What a unit inherits from fleetd's environment (systemd gives units a small, fixed one too). */
const INHERITED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TMPDIR'];

export function baseEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of INHERITED_ENV) {
    const v = env[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

export async function startFleetd(config: FleetdConfig, deps: FleetdDeps = {}): Promise<RunningFleetd> {
  rootLogger.level = config.logLevel;
  const log = componentLogger('fleetd');
  const clock = deps.clock ?? systemClock;
  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  const machineId = await loadMachineId(config.stateDir, config.machineId);
  const mlog = componentLogger('agent', { machine: machineId.slice(0, 8) });

  const client = new Client({ endpoints: config.endpoints, logger: componentLogger('client', { machine: machineId.slice(0, 8) }) });
  const registry = new Registry(client, config.prefix);
  const view = new RegistryView(registry);
  // Units learn which machine runs them (systemd's %m, which our specifiers do not resolve).
  const runner = new Runner({ stateDir: config.stateDir, baseEnv: { ...(deps.baseEnv ?? baseEnvironment()), FLOTILLA_MACHINE_ID: machineId } });

  let agent: Agent | undefined;
  let machine: MachineInfo | undefined;
  let http: AgentHttpApi | undefined;
  let httpAddress: HostPort | undefined;
  let agentUrl = '';
  try {
    if (config.httpAddr) {
      http = new AgentHttpApi({
        machine: () => machine!.record,
        unit: (name) => agent?.reconciler.unit(name),
        units: () => agent?.reconciler.units() ?? [],
        runner,
      });
      httpAddress = await http.listen(config.httpAddr.host, config.httpAddr.port);
      agentUrl = `http://${urlHost(isWildcard(httpAddress.host) ? config.publicIp : httpAddress.host)}:${httpAddress.port}`;
    }
    machine = new MachineInfo({
      id: machineId,
      publicIp: config.publicIp,
      metadata: config.metadata,
      agentUrl,
      version: FLEETD_VERSION,
      readFacts: deps.readFacts,
      clock,
    });
    agent = new Agent({ registry, view, runner, machine, ttlSec: config.agentTtlSec, clock, logger: mlog });
  } catch (e) {
    await http?.close();
    client.close();
    throw e;
  }
  const engine = new Engine({
    registry,
    machineId,
    ttlSeconds: config.agentTtlSec,
    reconcileIntervalMs: config.engineReconcileIntervalMs,
    holdOffMs: config.engineHoldOffMs,
    view,
    clock,
    logger: componentLogger('engine', { machine: machineId.slice(0, 8) }),
  });
  const present = new Promise<void>((resolve) => agent!.presence.once('present', () => resolve()));
  await agent.start();
  engine.start();
  log.info({ machine: machineId, endpoints: config.endpoints, agentUrl, stateDir: config.stateDir }, 'fleetd: started');

  let stopping: Promise<void> | undefined;
  const a = agent;
  return {
    machineId,
    httpAddress,
    agentUrl,
    config,
    client,
    registry,
    view,
    runner,
    agent: a,
    engine,
    http,
    async ready() {
      await Promise.all([present, a.ready()]);
    },
    stop() {
      stopping ??= (async () => {
        await engine.stop();
        await a.stop();
        await http?.close();
        await view.stop();
        client.close();
        log.info({ machine: machineId }, 'fleetd: stopped');
      })();
      return stopping;
    },
  };
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Stops gracefully on SIGTERM or SIGINT and exits 0 (1 if the stop failed). A second signal while
 * stopping exits at once, for an operator who will not wait for a unit's TimeoutStopSec.
 */
export function runUntilSignal(name: string, stop: () => Promise<void>, proc: NodeJS.Process = process): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      proc.stderr.write(`${name}: ${signal} again: exiting now\n`);
      proc.exit(1);
    }
    stopping = true;
    proc.stderr.write(`${name}: ${signal}: stopping\n`);
    stop().then(
      () => proc.exit(0),
      (err: unknown) => {
        proc.stderr.write(`${name}: stop failed: ${(err as Error).message}\n`);
        proc.exit(1);
      },
    );
  };
  proc.on('SIGINT', onSignal);
  proc.on('SIGTERM', onSignal);
}
