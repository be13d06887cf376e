// The fleetd process: one machine's agent (presence, reconciler, runner, HTTP API, the service
// instances of its units), its engine candidate, and the service discovery front ends (the
// Consul-shaped /v1/ API on the agent's HTTP server, the DNS server) over one catalog, all on one
// client and one registry view. bin/fleetd.ts only parses flags and calls startFleetd();
// bin/flotilla.ts runs one beside an in-process kvd.
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Client } from '../client/index.js';
import { catalogView, createHttpHandler, DnsServer, register, ServiceCatalog } from '../discovery/index.js';
import { componentLogger, rootLogger } from '../util/log.js';
import { Agent } from './agent/agent.js';
import { systemClock, type Clock } from '../util/clock.js';
import { AgentHttpApi } from './agent/http-api.js';
import { loadMachineId } from './agent/machine-id.js';
import { MachineInfo, type FactsReader } from './agent/machine-info.js';
import { FLEETD_VERSION, type FleetdConfig, type HostPort } from './config.js';
import { Engine } from './engine/index.js';
import { Registry, RegistryView } from './registry/index.js';
import { Runner, sweepEmptyCommandCgroups } from './runner/index.js';

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
  /** Every service instance, kept current by a watch: what the /v1/ API and DNS answer from. */
  catalog: ServiceCatalog;
  /** The DNS server (undefined when turned off). */
  dns: DnsServer | undefined;
  /** The DNS server's address as bound (UDP and TCP on the same port). */
  dnsAddress: HostPort | undefined;
  /** Resolves once the machine is announced, the registry view is loaded and the catalog is read. */
  ready(): Promise<void>;
  /**
   * Graceful stop: the engine, then every unit (its service instance deregistered), then the
   * lease (revoked), then the DNS and HTTP servers and the connections.
   */
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

  const client = new Client({ endpoints: config.endpoints, tls: config.tls, logger: componentLogger('client', { machine: machineId.slice(0, 8) }) });
  const registry = new Registry(client, config.prefix);
  const view = new RegistryView(registry);
  // Units learn which machine runs them (systemd's %m, which our specifiers do not resolve).
  const runner = new Runner({ stateDir: config.stateDir, baseEnv: { ...(deps.baseEnv ?? baseEnvironment()), FLOTILLA_MACHINE_ID: machineId } });
  // Command cgroups an earlier run's watchdogs could not remove would otherwise pile up.
  const swept = sweepEmptyCommandCgroups();
  if (swept.length > 0) log.info({ cgroups: swept.length }, 'fleetd: removed empty command cgroups left by an earlier run');

  const catalog = new ServiceCatalog(client, { logger: componentLogger('discovery', { machine: machineId.slice(0, 8) }) });

  let agent: Agent | undefined;
  let machine: MachineInfo | undefined;
  let http: AgentHttpApi | undefined;
  let httpAddress: HostPort | undefined;
  let dns: DnsServer | undefined;
  let dnsAddress: HostPort | undefined;
  let agentUrl = '';
  try {
    if (config.httpAddr) {
      http = new AgentHttpApi({
        machine: () => machine!.record,
        unit: (name) => agent?.reconciler.unit(name),
        units: () => agent?.reconciler.units() ?? [],
        runner,
      });
      http.mount(createHttpHandler(catalog));
      httpAddress = await listenOn('http-addr', config.httpAddr, (a) => http!.listen(a.host, a.port));
      agentUrl = `http://${urlHost(isWildcard(httpAddress.host) ? config.publicIp : httpAddress.host)}:${httpAddress.port}`;
    }
    if (config.dnsAddr) {
      const server = new DnsServer(catalogView(catalog), {
        host: config.dnsAddr.host,
        port: config.dnsAddr.port,
        domain: config.dnsDomain,
        logger: componentLogger('dns', { machine: machineId.slice(0, 8) }),
      });
      dnsAddress = await listenOn('dns-addr', config.dnsAddr, async (a) => ({ host: a.host, port: await server.listen() }));
      dns = server;
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
    agent = new Agent({
      registry,
      view,
      runner,
      machine,
      ttlSec: config.agentTtlSec,
      clock,
      logger: mlog,
      services: {
        // Bound to the machine's lease: a dead machine's instances vanish with it.
        register: (def, lease) => register(client, def, { lease, node: machineId }),
        address: config.publicIp,
        hostname: hostname(),
      },
    });
  } catch (e) {
    await dns?.close();
    await http?.close();
    client.close();
    throw e;
  }
  // Read in the background, retried until the store answers (as the registry view is).
  let stopping: Promise<void> | undefined;
  const catalogRead = catalog.start();
  catalogRead.catch((e: Error) => {
    if (!stopping) log.error({ err: e.message }, 'fleetd: the service catalog could not be read');
  });
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
  log.info(
    { machine: machineId, endpoints: config.endpoints, agentUrl, dns: dnsAddress && `${urlHost(dnsAddress.host)}:${dnsAddress.port}`, stateDir: config.stateDir },
    'fleetd: started',
  );

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
    catalog,
    dns,
    dnsAddress,
    async ready() {
      await Promise.all([present, a.ready(), catalogRead]);
    },
    stop() {
      stopping ??= (async () => {
        await engine.stop();
        await a.stop();
        await dns?.close();
        await http?.close();
        await catalog.close();
        await view.stop();
        client.close();
        log.info({ machine: machineId }, 'fleetd: stopped');
      })();
      return stopping;
    },
  };
}

/** A listener that could not be bound, named by its flag and address (`--dns-addr 127.0.0.1:8600: address in use`). */
export class ListenError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'ListenError';
  }
}

const LISTEN_PROBLEMS: Record<string, string> = {
  EADDRINUSE: 'address in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'address not available on this machine',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'unknown host',
};

async function listenOn(flag: string, addr: HostPort, listen: (addr: HostPort) => Promise<HostPort>): Promise<HostPort> {
  try {
    return await listen(addr);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = (code !== undefined && LISTEN_PROBLEMS[code]) || (e as Error).message;
    throw new ListenError(`--${flag} ${urlHost(addr.host)}:${addr.port}: ${why}`, code);
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
