// The agent's HTTP API (fleetd --http-addr, published as the machine's `agentUrl`): what fleetctl
// asks a machine directly, without SSH: a unit's journal (`?lines=N`, `&follow=true` streams new
// lines until the client hangs up), its status, its running processes (systemctl status's CGroup
// lines), and the machine's record. Other handlers (the discovery helper's Consul-style API) are
// mounted on the same server.
import http from 'node:http';
import type { MachineRecord } from '../registry/index.js';
import { journalLine } from './journal-lines.js';
import type { LocalUnit } from './reconciler.js';
import type { AgentRunner } from './runner-port.js';

/** What the API reads: the machine's record, the units held here, and the runner that runs them. */
export interface AgentApiSource {
  machine(): MachineRecord;
  unit(name: string): LocalUnit | undefined;
  units(): LocalUnit[];
  readonly runner: AgentRunner;
}

/** A mounted handler answers a request it recognizes (and returns true) or leaves it (false). */
export type MountedHandler = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

/** `fleetctl journal` shows 10 lines unless told otherwise, as journalctl -n does. */
export const DEFAULT_JOURNAL_LINES = 10;
const MAX_JOURNAL_LINES = 1_000_000;

const UNIT_PATH = /^\/fleet\/v1\/units\/([^/]+)\/(journal|status|processes)$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class AgentHttpApi {
  private readonly mounted: MountedHandler[] = [];
  private server: http.Server | undefined;
  private readonly follows = new Set<AbortController>();

  constructor(private readonly source: AgentApiSource) {}

  /** Adds a handler tried for every request outside `/fleet/`. */
  mount(handler: MountedHandler): void {
    this.mounted.push(handler);
  }

  /** The request listener (also usable on a server of one's own). */
  readonly handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void this.serve(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendError(res, e instanceof HttpError ? e : new HttpError(500, (e as Error).message));
      else res.destroy();
    });
  };

  /** Listens on host:port (port 0: any free one); resolves with the bound address. */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = http.createServer(this.handle);
    // A followed journal is a response that never ends by itself.
    server.requestTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const addr = server.address() as { address: string; port: number };
    return { host: addr.address, port: addr.port };
  }

  async close(): Promise<void> {
    for (const ac of this.follows) ac.abort();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    if (!url.pathname.startsWith('/fleet/')) {
      for (const h of this.mounted) if (h(req, res)) return;
      throw new HttpError(404, `no such endpoint: ${url.pathname}`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `method ${req.method} not allowed on ${url.pathname}`, { allow: 'GET, HEAD' });
    if (url.pathname === '/fleet/v1/machine') return sendJson(res, 200, this.source.machine());
    if (url.pathname === '/fleet/v1/units') return sendJson(res, 200, { units: this.source.units().map((u) => this.statusOf(u)) });
    const m = UNIT_PATH.exec(url.pathname);
    if (!m) throw new HttpError(404, `no such endpoint: ${url.pathname}`);
    let name: string;
    try {
      name = decodeURIComponent(m[1]!);
    } catch {
      throw new HttpError(400, `bad unit name in the path: ${m[1]}`);
    }
    const unit = this.source.unit(name);
    if (!unit) throw new HttpError(404, `unit ${name} is not on this machine`);
    if (m[2] === 'status') return sendJson(res, 200, this.statusOf(unit));
    if (m[2] === 'processes') return sendJson(res, 200, this.processesOf(unit));
    await this.journal(req, res, unit, url.searchParams);
  }

  private statusOf(u: LocalUnit): Record<string, unknown> {
    const st = u.load === 'loaded' ? this.source.runner.status(u.name) : undefined;
    const out: Record<string, unknown> = {
      name: u.name,
      machine: this.source.machine().id,
      hash: u.hash,
      load: u.load,
      active: st?.active ?? 'inactive',
      sub: st?.sub ?? 'dead',
      ...st,
    };
    if (u.loadError !== undefined) out.loadError = u.loadError;
    return out;
  }

  private processesOf(u: LocalUnit): Record<string, unknown> {
    const p = u.load === 'loaded' ? this.source.runner.processes(u.name) : undefined;
    return { name: u.name, machine: this.source.machine().id, cgroup: p?.cgroup ?? null, processes: p?.processes ?? [] };
  }

  private async journal(req: http.IncomingMessage, res: http.ServerResponse, unit: LocalUnit, q: URLSearchParams): Promise<void> {
    const lines = parseLines(q.get('lines'));
    const follow = parseBool('follow', q.get('follow'));
    const journal = unit.load === 'loaded' ? this.source.runner.journal(unit.name) : undefined;
    const machineId = this.source.machine().id;
    const head = (journal?.tail(lines) ?? []).map((e) => journalLine(unit.name, machineId, e)).join('');
    if (!follow || !journal) {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(head) });
      res.end(req.method === 'HEAD' ? undefined : head);
      return;
    }
    const ac = new AbortController();
    this.follows.add(ac);
    // Subscribe in the same step as the tail was read: no line falls between the two.
    const lines$ = journal.follow(ac.signal);
    const hangUp = (): void => ac.abort();
    res.on('close', hangUp);
    try {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
      // Headers go out now, so that a client sees the stream open even before the first line.
      res.flushHeaders();
      if (head !== '') await write(res, head);
      for await (const entry of lines$) {
        if (!(await write(res, journalLine(unit.name, machineId, entry)))) break;
      }
      if (!res.destroyed) res.end();
    } finally {
      res.off('close', hangUp);
      ac.abort();
      this.follows.delete(ac);
    }
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: http.ServerResponse, e: HttpError): void {
  const text = JSON.stringify({ error: e.message }) + '\n';
  res.writeHead(e.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...e.headers });
  res.end(text);
}

/** Writes a chunk, waiting for the socket to drain; false once the client is gone. */
function write(res: http.ServerResponse, chunk: string): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

function parseLines(v: string | null): number {
  if (v === null) return DEFAULT_JOURNAL_LINES;
  if (!/^\d+$/.test(v) || Number(v) > MAX_JOURNAL_LINES) throw new HttpError(400, `lines must be an integer from 0 to ${MAX_JOURNAL_LINES} (got ${JSON.stringify(v)})`);
  return Number(v);
}

function parseBool(name: string, v: string | null): boolean {
  if (v === null || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1' || v === '') return true;
  throw new HttpError(400, `${name} must be true or false (got ${JSON.stringify(v)})`);
}
