// Consul's read API for services, on fleetd's HTTP server, so that tools that read Consul's health
// and catalog endpoints read ours:
//   GET /v1/health/service/NAME[?passing][&tag=T]...   instances with their checks
//   GET /v1/catalog/services                           name → tags
//   GET /v1/catalog/service/NAME[?tag=T]               catalog entries
// with X-Consul-Index (the store revision of the service's last change) and blocking queries
// (`?index=N&wait=5s`: the answer waits until the index passes N, or for `wait`). Answers come
// from the ServiceCatalog, which a watch keeps current.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CatalogEntry, ServiceCatalog } from './catalog.js';
import { parseDuration } from '../util/duration.js';
import { isServiceName, type ServiceInstance } from './schema.js';

export interface HttpApiOptions {
  /** Datacenter name in the answers; default `flotilla`. */
  datacenter?: string;
  /** Longest `wait` of a blocking query (ms); default 10 min, as Consul. */
  maxWaitMs?: number;
  /** `wait` when a blocking query gives none (ms); default 5 min, as Consul. */
  defaultWaitMs?: number;
}

/** A request handler for fleetd's server: handles /v1/ and returns true, or returns false. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, index?: number): void {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (index !== undefined) {
    headers['x-consul-index'] = String(Math.max(1, index));
    headers['x-consul-knownleader'] = 'true';
    headers['x-consul-lastcontact'] = '0';
  }
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}

/** Consul's boolean query flags: present (`?passing`, `?passing=true`) unless `=false`. */
function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && v !== 'false' && v !== '0';
}

function serviceView(i: ServiceInstance, e: CatalogEntry) {
  return {
    ID: i.ID,
    Service: i.Service,
    Tags: i.Tags,
    Address: i.Address,
    Meta: i.Meta,
    Port: i.Port,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    CreateIndex: e.createRevision,
    ModifyIndex: e.modRevision,
  };
}

function healthView(e: CatalogEntry, dc: string) {
  const i = e.instance;
  return {
    Node: { ID: '', Node: i.Node, Address: i.Address, Datacenter: dc, TaggedAddresses: {}, Meta: {}, CreateIndex: e.createRevision, ModifyIndex: e.modRevision },
    Service: serviceView(i, e),
    Checks: i.Checks.map((c) => ({
      Node: i.Node,
      CheckID: c.CheckID,
      Name: c.Name,
      Status: c.Status,
      Notes: '',
      Output: c.Output,
      ServiceID: i.ID,
      ServiceName: i.Service,
      ServiceTags: i.Tags,
      Type: c.Type,
      Definition: c.Type === 'ttl' ? { TTL: c.Interval } : { Interval: c.Interval, Timeout: c.Timeout, ...(c.Type === 'http' ? { HTTP: c.Target } : c.Type === 'tcp' ? { TCP: c.Target } : { Args: c.Target }) },
      CreateIndex: e.createRevision,
      ModifyIndex: e.modRevision,
    })),
  };
}

function catalogView(e: CatalogEntry, dc: string) {
  const i = e.instance;
  return {
    ID: '',
    Node: i.Node,
    Address: i.Address,
    Datacenter: dc,
    TaggedAddresses: {},
    NodeMeta: {},
    ServiceID: i.ID,
    ServiceName: i.Service,
    ServiceTags: i.Tags,
    ServiceAddress: i.Address,
    ServicePort: i.Port,
    ServiceMeta: i.Meta,
    ServiceWeights: { Passing: 1, Warning: 1 },
    ServiceEnableTagOverride: false,
    CreateIndex: e.createRevision,
    ModifyIndex: e.modRevision,
  };
}

export function createHttpHandler(catalog: ServiceCatalog, opts: HttpApiOptions = {}): HttpHandler {
  const dc = opts.datacenter ?? 'flotilla';
  const maxWait = opts.maxWaitMs ?? 600_000;
  const defaultWait = opts.defaultWaitMs ?? 300_000;

  /** Waits as a blocking query asks (`index`, `wait`); resolves at once without `index`. */
  async function block(q: URLSearchParams, service: string | undefined, req: IncomingMessage): Promise<void> {
    const index = q.get('index');
    if (index === null) return;
    if (!/^\d+$/.test(index)) throw new HttpProblem(400, `Invalid index: ${JSON.stringify(index)} is not a number`);
    let waitMs = defaultWait;
    const wait = q.get('wait');
    if (wait !== null) {
      try {
        waitMs = parseDuration(wait);
      } catch (e) {
        throw new HttpProblem(400, `Invalid wait time: ${(e as Error).message}`);
      }
    }
    const ac = new AbortController();
    const onClose = () => ac.abort();
    req.socket.once('close', onClose);
    try {
      await catalog.waitForChange(service, Number(index), Math.min(waitMs, maxWait), ac.signal);
    } finally {
      req.socket.off('close', onClose);
    }
  }

  function serviceName(raw: string): string {
    let name: string;
    try {
      name = decodeURIComponent(raw);
    } catch {
      throw new HttpProblem(400, `Bad service name: ${JSON.stringify(raw)} is not URL-encoded text`);
    }
    if (name === '') throw new HttpProblem(400, 'Missing service name');
    return name;
  }

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const q = url.searchParams;
    const tags = q.getAll('tag');
    let m: RegExpExecArray | null;
    if ((m = /^\/v1\/health\/service\/([^/]*)$/.exec(path))) {
      const name = serviceName(m[1]!);
      await block(q, name, req);
      const passing = flag(q, 'passing');
      const list = isServiceName(name) ? catalog.entries(name, { passingOnly: passing }).filter((e) => tags.every((t) => e.instance.Tags.includes(t))) : [];
      return send(res, 200, list.map((e) => healthView(e, dc)), catalog.index(name));
    }
    if ((m = /^\/v1\/catalog\/service\/([^/]*)$/.exec(path))) {
      const name = serviceName(m[1]!);
      await block(q, name, req);
      const list = isServiceName(name) ? catalog.entries(name).filter((e) => tags.every((t) => e.instance.Tags.includes(t))) : [];
      return send(res, 200, list.map((e) => catalogView(e, dc)), catalog.index(name));
    }
    if (path === '/v1/catalog/services') {
      await block(q, undefined, req);
      const out: Record<string, string[]> = {};
      for (const name of catalog.serviceNames()) {
        const set = new Set<string>();
        for (const i of catalog.instances(name)) for (const t of i.Tags) set.add(t);
        out[name] = [...set].sort();
      }
      return send(res, 200, out, catalog.index());
    }
    throw new HttpProblem(404, `Unsupported path: ${path} (this agent serves GET /v1/health/service/NAME, /v1/catalog/services and /v1/catalog/service/NAME)`);
  }

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/v1' && !url.pathname.startsWith('/v1/')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET');
      sendText(res, 405, `method ${req.method} not allowed: the service API is read-only (register through kvctl, the library or unit files)`);
      return true;
    }
    route(req, res, url).catch((e: unknown) => {
      if (res.headersSent) return;
      if (e instanceof HttpProblem) sendText(res, e.status, e.message);
      else sendText(res, 500, (e as Error)?.message ?? String(e));
    });
    return true;
  };
}
