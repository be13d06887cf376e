// Benchmark (not a test): the client's overhead against raw HTTP on real kvd processes.
//   npm run build && node --import=file://$PWD/node_modules/@tapjs/typescript/dist/esm/import.mjs test/client/bench-client.ts [members=1] [n=2000]
// Puts and linearizable ranges, 1 and 16 in flight, through: a bare node:http keep-alive agent,
// undici's fetch, and the Client; then the delivery of a watch (put-to-event latency).
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { Client } from '../../src/client/index.js';
import { KvdCluster } from '../server/kvd-harness.js';

const members = Number(process.argv[2] ?? 1);
const n = Number(process.argv[3] ?? 2000);
const c = await KvdCluster.create(members);
const leader = await c.leader();
const url = new URL(leader.url);
const agent = new http.Agent({ keepAlive: true });

function rawHttp(path: string, body: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function rawFetch(path: string, body: string): Promise<unknown> {
  const r = await fetch(leader.url + path, { method: 'POST', body });
  return r.json();
}

const client = new Client({ endpoints: [leader.url], autoSyncMembers: false });
const value = 'x'.repeat(256);
const b64v = Buffer.from(value).toString('base64');

type Op = (i: number) => Promise<unknown>;
async function measure(name: string, op: Op, total: number, conc: number): Promise<void> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      for (let i = next++; i < total; i = next++) {
        const s = performance.now();
        await op(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const dt = performance.now() - t0;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]!.toFixed(2);
  console.log(`${name.padEnd(28)} conc ${String(conc).padStart(2)}  ${String(Math.round((total / dt) * 1000)).padStart(6)} req/s  p50 ${q(0.5)} ms  p99 ${q(0.99)} ms`);
}

const key = (i: number) => `bench/${(i % 1000).toString().padStart(4, '0')}`;
const keyB64 = (i: number) => Buffer.from(key(i)).toString('base64');
const ops: [string, Op][] = [
  ['put  raw http', (i) => rawHttp('/v3/kv/put', `{"key":"${keyB64(i)}","value":"${b64v}"}`)],
  ['put  fetch', (i) => rawFetch('/v3/kv/put', `{"key":"${keyB64(i)}","value":"${b64v}"}`)],
  ['put  Client', (i) => client.put(key(i), value)],
  ['range raw http', (i) => rawHttp('/v3/kv/range', `{"key":"${keyB64(i)}"}`)],
  ['range fetch', (i) => rawFetch('/v3/kv/range', `{"key":"${keyB64(i)}"}`)],
  ['range Client', (i) => client.get(key(i))],
];
console.log(`kvd: ${members} member(s), ${n} requests per run, 256-byte values`);
for (const conc of [1, 16]) {
  for (let round = 0; round < 2; round++) for (const [name, op] of ops) await measure(name, op, conc === 1 ? n / 2 : n, conc);
}

// Watch delivery: put-to-event latency through a Client watch on a follower (or the member).
const follower = c.members.find((m) => m !== leader) ?? leader;
const watcher = new Client({ endpoints: [follower.url], autoSyncMembers: false });
const w = watcher.watch('wb/', { prefix: true });
await w.ready();
const sentAt = new Map<number, number>();
const lat: number[] = [];
const consumer = (async () => {
  for await (const r of w) {
    for (const e of r.events) {
      const v = Number(Buffer.from(e.kv.value).toString());
      lat.push(performance.now() - sentAt.get(v)!);
    }
    if (lat.length >= n) break;
  }
})();
const t0 = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: 16 }, async () => {
    for (let i = next++; i < n; i = next++) {
      sentAt.set(i, performance.now());
      await client.put(`wb/${i}`, String(i));
    }
  }),
);
await consumer;
const dt = performance.now() - t0;
lat.sort((a, b) => a - b);
console.log(`watch: ${n} events at 16 writers in ${dt.toFixed(0)} ms; put-to-event p50 ${lat[lat.length >> 1]!.toFixed(2)} ms p99 ${lat[Math.floor(lat.length * 0.99)]!.toFixed(2)} ms`);
watcher.close();
client.close();
agent.destroy();
await c.close();
