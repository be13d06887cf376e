#!/usr/bin/env node
// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): where the time went, by area (our source
// folders, node_modules packages, Node internals, GC) and by function (self and inclusive time).
//
//   node bench/cpuprofile.mjs FILE.cpuprofile [--top 30] [--from-ms T0 --to-ms T1]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** The area a frame belongs to, for the "where the time goes" table. */
export function areaOf(cf) {
  const url = cf.url ?? '';
  const fn = cf.functionName;
  if (!url) {
    if (fn === '(garbage collector)') return 'GC';
    if (fn === '(idle)') return 'idle';
    if (fn === '(program)') return 'program (V8/native, unattributed)';
    return `native: ${fn || '(anonymous)'}`;
  }
  let m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return `npm: ${m[1]}`;
  m = /\/dist\/(src\/[^/]+(?:\/[^/.]+)?)\//.exec(url);
  if (m) return m[1];
  m = /\/dist\/(src\/[^/]+)\//.exec(url);
  if (m) return m[1];
  m = /\/dist\/(src\/[^/]+\.js|bin\/[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.startsWith('node:')) {
    const mod = url.slice(5);
    if (/_http_|internal\/http|http_parser/.test(mod)) return 'node: http';
    if (/^net$|internal\/net|internal\/stream_base_commons|^stream$|internal\/streams/.test(mod)) return 'node: net/streams';
    if (/timers|process\/task_queues|internal\/async_hooks|events/.test(mod)) return 'node: timers/events/async';
    if (/buffer|internal\/buffer|string_decoder/.test(mod)) return 'node: buffer';
    if (/fs/.test(mod)) return 'node: fs';
    return `node: ${mod.replace(/^internal\//, '')}`;
  }
  return url.replace(/^file:\/\//, '');
}

export function summarize(profile, opts = {}) {
  const byId = new Map();
  const parent = new Map();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map(); // node id -> µs
  let t = profile.startTime;
  const from = opts.fromUs ?? -Infinity;
  const to = opts.toUs ?? Infinity;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const rel = t - profile.startTime;
    if (rel < from || rel > to) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + Math.max(0, dt));
  }
  let total = 0;
  let idle = 0;
  const areas = new Map();
  const fnSelf = new Map();
  const fnIncl = new Map();
  for (const [id, us] of self) {
    const n = byId.get(id);
    const cf = n.callFrame;
    total += us;
    const area = areaOf(cf);
    if (area === 'idle') {
      idle += us;
      continue;
    }
    areas.set(area, (areas.get(area) ?? 0) + us);
    const key = `${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
    fnSelf.set(key, (fnSelf.get(key) ?? 0) + us);
    // Inclusive: every distinct function on the stack gets the sample once.
    const seen = new Set();
    for (let p = id; p !== undefined; p = parent.get(p)) {
      const pc = byId.get(p).callFrame;
      const k = `${pc.functionName || '(anonymous)'} ${shortUrl(pc.url)}:${pc.lineNumber + 1}`;
      if (seen.has(k) || pc.functionName === '(root)') continue;
      seen.add(k);
      fnIncl.set(k, (fnIncl.get(k) ?? 0) + us);
    }
  }
  const busy = total - idle;
  const sort = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return { totalMs: total / 1000, busyMs: busy / 1000, areas: sort(areas), fnSelf: sort(fnSelf), fnIncl: sort(fnIncl) };
}

function shortUrl(url) {
  if (!url) return '';
  return url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/').replace(/^dist\//, '');
}

export function report(s, top = 30) {
  const pctOf = (us) => ((100 * us) / 1000 / s.busyMs).toFixed(1).padStart(5);
  const lines = [];
  lines.push(`busy ${s.busyMs.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms sampled`);
  lines.push('', 'by area (% of busy time):');
  for (const [a, us] of s.areas.slice(0, top)) lines.push(`  ${pctOf(us)}%  ${a}`);
  lines.push('', 'by function, self time:');
  for (const [f, us] of s.fnSelf.slice(0, top)) lines.push(`  ${pctOf(us)}%  ${f}`);
  lines.push('', 'by function, inclusive time:');
  for (const [f, us] of s.fnIncl.slice(0, top)) lines.push(`  ${pctOf(us)}%  ${f}`);
  return lines.join('\n');
}

const isMain = process.argv[1] && import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' }, 'from-ms': { type: 'string' }, 'to-ms': { type: 'string' } } });
  for (const f of positionals) {
    const p = JSON.parse(readFileSync(f, 'utf8'));
    const s = summarize(p, { fromUs: values['from-ms'] ? Number(values['from-ms']) * 1000 : undefined, toUs: values['to-ms'] ? Number(values['to-ms']) * 1000 : undefined });
    process.stdout.write(`== ${f}\n${report(s, Number(values.top))}\n`);
  }
}
