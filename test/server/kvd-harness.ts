// Real kvd processes on loopback for integration tests: free ports, temporary data directories,
// a tiny JSON-gateway client, and kill -9. Every process started here is killed at close().
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { freePort, tempDir } from '../raft/cluster.js';

const kvdScript = fileURLToPath(new URL('../../dist/bin/kvd.js', import.meta.url));

export const b64 = (s: string): string => Buffer.from(s).toString('base64');
export const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString();

export interface KvdSpec {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  /** The client URLs are https:// (kvd's TLS flags among the cluster's flags); the harness's calls trust `ca`. */
  tls?: HarnessTls;
  /** The peer URLs are https:// (kvd's --peer-cert-file and friends among the cluster's flags). */
  peerTls?: boolean;
}

/** What the harness's own calls to an https member use: its authority, and a client certificate if it asks for one. */
export interface HarnessTls {
  /** Absent: the member's certificate is not checked (its own self-signed one, --auto-tls). */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export class KvdProc {
  child: ChildProcess | undefined;
  readonly log: string[] = [];
  exited: Promise<void> = Promise.resolve();

  constructor(
    readonly spec: KvdSpec,
    readonly args: () => string[],
    private readonly onStarted: () => void = () => undefined,
  ) {}

  get url(): string {
    return `${this.spec.tls ? 'https' : 'http'}://127.0.0.1:${this.spec.clientPort}`;
  }

  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(extra: string[] = []): Promise<void> {
    const child = spawn(process.execPath, [kvdScript, ...this.args(), ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KVD_LOG_LEVEL: process.env.KVD_TEST_LOG_LEVEL ?? 'warn' },
    });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => this.log.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => this.log.push(d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    // Serving once the start line is printed (the listeners are bound by then).
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        if (d.toString().includes('serving clients')) {
          child.stderr!.off('data', onData);
          resolve();
        }
      };
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`kvd ${this.spec.name} exited with ${code}: ${this.log.join('')}`)));
    });
    this.onStarted();
  }

  /** Resolves once the member's output contains `pattern` (it may have already). */
  waitForLog(pattern: RegExp, timeoutMs = 10000): Promise<void> {
    if (pattern.test(this.log.join(''))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pattern.test(this.log.join(''))) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.spec.name}: no log line matching ${pattern}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.child?.stdout?.off('data', check);
        this.child?.stderr?.off('data', check);
      };
      this.child?.stdout?.on('data', check);
      this.child?.stderr?.on('data', check);
    });
  }

  kill9(): Promise<void> {
    this.child?.kill('SIGKILL');
    return this.exited;
  }

  stop(): Promise<void> {
    this.child?.kill('SIGTERM');
    return this.exited;
  }

  /** POST a JSON gateway request; resolves with the HTTP status and the parsed body. */
  async call<T = Record<string, unknown>>(path: string, body: unknown = {}, timeoutMs = 10000): Promise<{ status: number; body: T }> {
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    const { status, text } = this.spec.tls
      ? await httpsPost(`${this.url}${path}`, payload, this.spec.tls, timeoutMs)
      : await fetch(`${this.url}${path}`, { method: 'POST', body: payload, signal: AbortSignal.timeout(timeoutMs) }).then(async (r) => ({ status: r.status, text: await r.text() }));
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* plain text bodies stay strings */
    }
    return { status, body: parsed as T };
  }
}

/** fetch cannot be given an authority of its own: node's https for the TLS members. */
function httpsPost(url: string, body: string, tls: HarnessTls, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.ca !== undefined, agent: false, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export class KvdCluster {
  readonly members: KvdProc[] = [];
  private startWaiters: (() => void)[] = [];

  /** Resolves when any member (re)starts. */
  nextStart(): Promise<void> {
    return new Promise((resolve) => this.startWaiters.push(resolve));
  }

  notifyStarted(): void {
    const ws = this.startWaiters;
    this.startWaiters = [];
    for (const w of ws) w();
  }
  private dirs: string[] = [];
  token = `test-${process.pid}-${Math.floor(Math.random() * 1e9)}`;

  static async create(n: number, flags: string[] = [], opts: { tls?: HarnessTls; peerTls?: boolean } = {}): Promise<KvdCluster> {
    const c = new KvdCluster();
    const specs: KvdSpec[] = [];
    for (let i = 1; i <= n; i++) {
      const dataDir = await tempDir('flotilla-kvd-');
      c.dirs.push(dataDir);
      specs.push({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort(), dataDir, tls: opts.tls, peerTls: opts.peerTls });
    }
    const initial = specs.map((s) => `${s.name}=${peerUrl(s)}`).join(',');
    for (const s of specs) {
      c.members.push(
        new KvdProc(s, () => [...memberArgs(s), '--initial-cluster', initial, '--initial-cluster-token', c.token, ...flags], () => c.notifyStarted()),
      );
    }
    await Promise.all(c.members.map((m) => m.start()));
    return c;
  }

  /** A new member's process, to be started after `member add` (joins with --initial-cluster-state existing). */
  async newMember(name: string, flags: string[] = []): Promise<KvdProc> {
    const dataDir = await tempDir('flotilla-kvd-');
    this.dirs.push(dataDir);
    const like = this.members[0]?.spec;
    const spec: KvdSpec = { name, clientPort: await freePort(), peerPort: await freePort(), dataDir, tls: like?.tls, peerTls: like?.peerTls };
    const others = this.members.filter((m) => m.alive);
    const proc = new KvdProc(spec, () => [
      ...memberArgs(spec),
      '--initial-cluster',
      [...others, { spec }].map((m) => `${m.spec.name}=${peerUrl(m.spec)}`).join(','),
      '--initial-cluster-state',
      'existing',
      '--initial-cluster-token',
      this.token,
      ...flags,
    ], () => this.notifyStarted());
    this.members.push(proc);
    return proc;
  }

  /** The member every live member names as leader (polling status, which is cheap). */
  async leader(timeoutMs = 15000): Promise<KvdProc> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const live = this.members.filter((m) => m.alive);
      const views = await Promise.all(
        live.map((m) => m.call<{ leader?: string; header: { member_id: string } }>('/v3/maintenance/status', {}, 2000).catch(() => undefined)),
      );
      const leaders = new Set(views.map((v) => v?.body.leader ?? '0'));
      if (leaders.size === 1 && !leaders.has('0')) {
        const id = [...leaders][0];
        const m = live.find((_, i) => views[i]!.body.header.member_id === id);
        if (m) return m;
      }
      if (Date.now() > deadline) {
        // Each member's view, and the end of its log: a member that did not answer says why there.
        const seen = live.map((m, i) => `${m.spec.name}: ${views[i] ? `leader ${views[i]!.body.leader ?? '0'}` : 'no answer'}; log ends ${JSON.stringify(m.log.join('').slice(-600))}`);
        throw new Error(`no agreed leader: ${[...leaders].join(',')}\n${seen.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    for (const m of this.members) if (m.alive) m.child!.kill('SIGKILL');
    await Promise.all(this.members.map((m) => m.exited));
    for (const d of this.dirs) await rm(d, { recursive: true, force: true });
  }
}

/** The member's peer URL, as the others are told it. */
export function peerUrl(s: KvdSpec): string {
  return `${s.peerTls ? 'https' : 'http'}://127.0.0.1:${s.peerPort}`;
}

function memberArgs(s: KvdSpec): string[] {
  const scheme = s.tls ? 'https' : 'http';
  return [
    '--name', s.name,
    '--data-dir', s.dataDir,
    '--listen-client-urls', `${scheme}://127.0.0.1:${s.clientPort}`,
    '--advertise-client-urls', `${scheme}://127.0.0.1:${s.clientPort}`,
    '--listen-peer-urls', peerUrl(s),
    '--initial-advertise-peer-urls', peerUrl(s),
  ];
}

/** Opens a watch over HTTP and returns a reader of its newline-delimited messages. */
export async function openWatch(m: KvdProc, create: Record<string, unknown>) {
  const ac = new AbortController();
  const res = await fetch(`${m.url}/v3/watch`, { method: 'POST', body: JSON.stringify({ create_request: create }), signal: ac.signal });
  const reader = res.body!.getReader();
  let buf = '';
  return {
    async next(): Promise<Record<string, any>> {
      for (;;) {
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) return JSON.parse(line);
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('watch ended');
        buf += Buffer.from(value).toString();
      }
    },
    close: () => ac.abort(),
  };
}

/**
 * Every member's HashKV (etcd's consistency check) at the newest revision all of them applied: a
 * linearizable read on each returns once that member applied everything committed before it, and
 * its header names the member's revision.
 */
export async function hashesAtCommonRevision(c: KvdCluster): Promise<{ rev: number; hashes: number[] }> {
  const revs: number[] = [];
  for (const m of c.members) revs.push(Number((await m.call<{ header: { revision?: string } }>('/v3/kv/range', { key: b64('\0') })).body.header.revision));
  const rev = Math.min(...revs);
  const hashes: number[] = [];
  for (const m of c.members) {
    const r = await m.call<{ hash: number }>('/v3/maintenance/hashkv', { revision: rev });
    if (r.status !== 200) throw new Error(`${m.spec.name}: hashkv at ${rev}: ${JSON.stringify(r.body)}`);
    hashes.push(r.body.hash);
  }
  return { rev, hashes };
}
