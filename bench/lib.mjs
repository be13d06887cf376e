// Shared helpers of the benchmark scripts (Node built-ins only): small HTTP calls to the v3 JSON
// gateway, process CPU and RSS from /proc, wait_quiet, statistics.
import http from 'node:http';
import https from 'node:https';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = dirname(BENCH_DIR);

/**
 * The load generator, the etcd helper and quiet.sh: the copies in bench/ (those of ../shared/bench,
 * kept here so that the benchmark runs from the repository alone), else the shared ones.
 */
export function sharedTool(name) {
  const local = join(BENCH_DIR, name);
  return existsSync(local) ? local : join(REPO_DIR, '..', 'shared', 'bench', name);
}

/**
 * Untimed requests before every load figure's timed phase, the same for kvd and etcd (override:
 * run.mjs --warmup N). A fresh kvd member runs its code in V8's interpreter and baseline tiers
 * until the optimizing compiler has seen enough of it; `node bench/warm-up.mjs` measured how many
 * requests that takes on a fresh cluster (docs/benchmarks.md, "Warm-up"): from 16 clients up
 * the members' CPU per request falls by 35-60% over the first 20,000-30,000 requests (puts and
 * ranges alike) and then holds; at 1 client it holds from about 7,500 puts. Until session 17
 * every figure had 3,000, which timed most of that ramp at 16 clients and above.
 */
export function warmupFor(clients) {
  return clients <= 1 ? 10000 : 30000;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const nowMs = () => performance.timeOrigin + performance.now();
export const b64 = (s) => Buffer.from(s).toString('base64');

const agent = new http.Agent({ keepAlive: false });
/** The authority of the members' certificates, for https:// endpoints (run.mjs --tls). */
let trustedCa;
export function trustCa(pem) {
  trustedCa = pem;
}

/**
 * POST a JSON body; resolves with { status, body } (body parsed when JSON), never rejects on HTTP
 * status. A new connection per request unless a keep-alive `via` agent is given (a request loop).
 */
export function postJson(url, path, obj, timeoutMs = 3000, via = agent) {
  const u = new URL(url);
  const payload = JSON.stringify(obj ?? {});
  return new Promise((resolve, reject) => {
    const options = { method: 'POST', host: u.hostname, port: u.port, path, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } };
    const req = (u.protocol === 'https:' ? https : http).request(
      u.protocol === 'https:' ? { ...options, agent: via === agent ? false : via, ca: trustedCa } : { ...options, agent: via },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let body = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode, body });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

/** /v3/maintenance/status of one endpoint, or undefined when it does not answer. */
export async function status(url, timeoutMs = 1000) {
  try {
    const r = await postJson(url, '/v3/maintenance/status', {}, timeoutMs);
    return r.status === 200 ? r.body : undefined;
  } catch {
    return undefined;
  }
}

/** The endpoint of the member that says it leads (compares ids as strings: uint64 in JSON). */
export async function findLeader(endpoints) {
  for (const ep of endpoints) {
    const s = await status(ep);
    if (s && s.leader !== undefined && String(s.leader) === String(s.header?.member_id)) return ep;
  }
  return undefined;
}

/** Waits until every endpoint answers status with the same leader and a put succeeds. */
export async function waitReady(endpoints, timeoutMs = 30000) {
  const t0 = Date.now();
  for (;;) {
    const ss = await Promise.all(endpoints.map((e) => status(e)));
    const leaders = new Set(ss.map((s) => (s ? String(s.leader ?? '0') : 'x')));
    if (leaders.size === 1 && !leaders.has('x') && !leaders.has('0')) {
      try {
        const r = await postJson(endpoints[0], '/v3/kv/put', { key: b64('__bench_ready'), value: b64('1') }, 3000);
        if (r.status === 200) return;
      } catch {
        /* retry */
      }
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`cluster not ready within ${timeoutMs} ms: ${JSON.stringify(ss)}`);
    await sleep(100);
  }
}

/** utime+stime of a process in ms (USER_HZ 100), or undefined when it is gone. */
export function cpuMsOf(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in MiB (VmRSS), or undefined. */
export function rssMiB(pid) {
  return statusMiB(pid, 'VmRSS');
}

/** The highest RSS the process has had since it started (the kernel's VmHWM), in MiB. */
export function peakRssMiB(pid) {
  return statusMiB(pid, 'VmHWM');
}

function statusMiB(pid, field) {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where a process's resident memory is, from /proc/<pid>/smaps, in MiB: `v8` is anonymous 256 KiB
 * mappings (V8 allocates its heap pages so; an estimate), `malloc` the main thread's malloc arena
 * ([heap]: ArrayBuffer backing stores, LevelDB, freed memory glibc has not given back), `anon` the
 * other anonymous mappings (thread arenas, V8's larger pages), `files` mapped files. Undefined when
 * the process is gone.
 */
export function memoryBreakdown(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  const out = { v8: 0, malloc: 0, anon: 0, files: 0 };
  let kind = 'anon';
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[1];
      kind = name === '[heap]' ? 'malloc' : name.startsWith('/') ? 'files' : 'anon';
      const [lo, hi] = line.split(' ')[0].split('-').map((h) => parseInt(h, 16));
      if (kind === 'anon' && name === '' && hi - lo === 256 * 1024) kind = 'v8';
    } else if (line.startsWith('Rss:')) {
      out[kind] += Number(line.split(/\s+/)[1]) / 1024;
    }
  }
  return out;
}

/** Runs quiet.sh's wait_quiet; resolves with { busy, quiet } (quiet false when it gave up). */
export function waitQuiet(opts = {}) {
  const quiet = sharedTool('quiet.sh');
  const env = { ...process.env, QUIET_MAX: String(opts.max ?? process.env.QUIET_MAX ?? 8), QUIET_WAIT: String(opts.wait ?? process.env.QUIET_WAIT ?? 300) };
  return new Promise((resolve) => {
    execFile('bash', ['-c', `source "${quiet}"; wait_quiet`], { env }, (err, stdout, stderr) => {
      if (stderr && opts.log) opts.log(stderr.trim().split('\n').pop());
      resolve({ busy: Number(String(stdout).trim().split('\n').pop()), quiet: !err });
    });
  });
}

export function median(xs) {
  const s = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function range(xs) {
  const s = xs.filter((x) => x != null && Number.isFinite(x));
  if (s.length === 0) return undefined;
  return [Math.min(...s), Math.max(...s)];
}

export function pct(sorted, p) {
  if (sorted.length === 0) return undefined;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** A number for a table: 3 significant digits, thousands separated. */
export function fmt(x, digits = 3) {
  if (x == null || !Number.isFinite(x)) return '–';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return Number(x.toPrecision(digits)).toString();
}

export function runFile(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, ...opts }, (err, stdout, stderr) => {
      if (err && !opts.allowFail) {
        err.message += `\n${stderr}`;
        reject(err);
        return;
      }
      resolve({ code: err ? (err.code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
