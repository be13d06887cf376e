// A tiny client of kvd's JSON gateway (node:http, keep-alive), so that the workload controls its own
// timeouts and knows exactly when an outcome is unknown. It does not use src/client on purpose.

import http from 'node:http';

export const b64 = (s: string): string => Buffer.from(s).toString('base64');
export const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString();

export type CallResult =
  /** The member answered (any HTTP status). */
  | { kind: 'answer'; status: number; body: any }
  /** No answer: the request may or may not have been received and acted upon. */
  | { kind: 'no-answer'; reason: string };

const agents = new Map<string, http.Agent>();

function agentFor(url: URL): http.Agent {
  let a = agents.get(url.host);
  if (!a) {
    a = new http.Agent({ keepAlive: true, maxSockets: 64, keepAliveMsecs: 1000 });
    agents.set(url.host, a);
  }
  return a;
}

/** Drops the kept-alive connections to every member (after a run). */
export function closeAgents(): void {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}

/** POSTs `body` as JSON to `base + path`; never throws. */
export function post(base: string, path: string, body: unknown, timeoutMs: number): Promise<CallResult> {
  const url = new URL(path, base);
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: CallResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: agentFor(url),
        headers: { 'content-type': 'application/json', 'content-length': data.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => finish({ kind: 'no-answer', reason: err.message }));
        res.on('aborted', () => finish({ kind: 'no-answer', reason: 'response aborted' }));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* keep the text */
          }
          finish({ kind: 'answer', status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    const timer = setTimeout(() => {
      finish({ kind: 'no-answer', reason: `timeout after ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err: Error & { code?: string }) => finish({ kind: 'no-answer', reason: err.code ?? err.message }));
    req.end(data);
  });
}

/** The error text of a gateway error answer. */
export function errorText(r: CallResult): string {
  if (r.kind === 'no-answer') return r.reason;
  const b = r.body as { error?: unknown; message?: unknown } | string;
  if (typeof b === 'string') return `HTTP ${r.status}: ${b.slice(0, 120)}`;
  return `HTTP ${r.status}: ${String(b?.message ?? b?.error ?? JSON.stringify(b)).slice(0, 120)}`;
}

export interface StreamHandle {
  close(): void;
}

/**
 * Opens a streaming POST (a watch) and calls `onLine` with each JSON line of the answer; `onEnd`
 * once, when the stream ends for any reason. The request body is `body` and stays open, as a watch
 * client's would; `send` writes more messages to it.
 */
export function openStream(
  base: string,
  path: string,
  body: unknown,
  onLine: (msg: any) => void,
  onEnd: (reason: string) => void,
): StreamHandle & { send(msg: unknown): void } {
  const url = new URL(path, base);
  let ended = false;
  const end = (reason: string) => {
    if (ended) return;
    ended = true;
    onEnd(reason);
  };
  // A dedicated connection: a watch must not share a socket with requests.
  const req = http.request({
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'application/json' },
  });
  req.on('response', (res) => {
    if (res.statusCode !== 200) {
      res.resume();
      end(`HTTP ${res.statusCode}`);
      req.destroy();
      return;
    }
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          end(`bad line: ${line.slice(0, 80)}`);
          req.destroy();
          return;
        }
        if (!ended) onLine(msg);
      }
    });
    res.on('end', () => end('stream ended'));
    res.on('error', (err) => end(err.message));
    res.on('aborted', () => end('aborted'));
  });
  req.on('error', (err: Error & { code?: string }) => end(err.code ?? err.message));
  req.on('close', () => end('closed'));
  req.write(JSON.stringify(body) + '\n');
  return {
    send(msg: unknown) {
      if (!ended) req.write(JSON.stringify(msg) + '\n');
    },
    close() {
      end('closed by client');
      req.destroy();
    },
  };
}
