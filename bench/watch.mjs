// A streaming watch client for the v3 JSON gateway (POST /v3/watch, newline-delimited
// {"result": ...} back), used by the watch figure: it records every event's revision, its arrival
// time, and the send time kvload --stamp put at the start of the value ("t=<epoch ms>;").
import http from 'node:http';
import { b64, findLeader, nowMs, pct, runFile, sleep, status } from './lib.mjs';

/**
 * Opens a watch on every key (key "\0", range_end "\0") from `startRevision` (0: from now).
 * Resolves once the watch is created, with { createdRevision, events, close() }; `events` grows
 * as events arrive: { rev, at, stamp } (stamp undefined when the value carries none).
 */
export function openWatch(url, { startRevision = 0, onEvent } = {}) {
  const u = new URL(url);
  const events = [];
  let buf = '';
  return new Promise((resolve, reject) => {
    const req = http.request({ method: 'POST', host: u.hostname, port: u.port, path: '/v3/watch', headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`watch: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('latin1');
      let created;
      res.on('data', (chunk) => {
        const at = nowMs();
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const msg = JSON.parse(line);
          const r = msg.result;
          if (!r) {
            if (!created) reject(new Error(`watch: ${line.slice(0, 200)}`));
            continue;
          }
          if (r.created && !created) {
            created = { createdRevision: Number(r.header?.revision ?? 0), events, close: () => req.destroy() };
            resolve(created);
          }
          for (const ev of r.events ?? []) {
            const rev = Number(ev.kv?.mod_revision ?? 0);
            let stamp;
            if (ev.kv?.value) {
              const head = Buffer.from(ev.kv.value.slice(0, 32), 'base64').toString('latin1');
              const m = /^t=([\d.]+);/.exec(head);
              if (m) stamp = Number(m[1]);
            }
            const e = { rev, at, stamp };
            events.push(e);
            onEvent?.(e);
          }
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => {
      if (!events.length) reject(err);
    });
    const create = { key: b64('\0'), range_end: b64('\0') };
    if (startRevision > 0) create.start_revision = String(startRevision);
    // The body stays open: the watch lasts as long as the request.
    req.write(JSON.stringify({ create_request: create }) + '\n');
  });
}

/**
 * The watch figure on a running 3-member cluster (kvd or etcd): a watch on every key on a
 * follower while `puts` puts run at 64 clients against the leader (each value stamped with its
 * send time by `kvload --stamp`); then a second watch replays the same events from history.
 * `warmup` untimed puts go first, with the watch already open, and the figure counts only the
 * events after them (see lib.mjs, warmupFor).
 * Returns events/s as received, missed and duplicated revisions (against the leader's revision at
 * the end), put-to-event latency p50/p99 in ms, and the replay's events/s.
 */
export async function watchFigure(endpoints, kvload, { puts = 20000, warmup = 0, kvloadArgs = [] } = {}) {
  const leader = await findLeader(endpoints);
  const follower = endpoints.find((e) => e !== leader);
  const w = await openWatch(follower);
  let from = w.createdRevision;
  if (warmup > 0) {
    const wr = await runFile('node', [kvload, '--endpoints', leader, '--op', 'put', '--clients', '64', '--total', String(warmup), '--warmup', '0', ...kvloadArgs, '--quiet'], { allowFail: true });
    if (!wr.stdout.trim()) throw new Error(`watch warm-up: kvload failed: ${wr.stderr.slice(0, 500)}`);
    from = Number((await status(leader)).header.revision);
    await eventsReach(w, from, 15000);
  }
  const r = await runFile('node', [kvload, '--endpoints', leader, '--op', 'put', '--clients', '64', '--total', String(puts), '--warmup', '0', '--stamp', ...kvloadArgs, '--quiet'], { allowFail: true });
  const res = JSON.parse(r.stdout.trim().split('\n').pop());
  const end = Number((await status(leader)).header.revision);
  const want = end - from;
  await eventsReach(w, end, 15000);
  await sleep(200);
  w.close();
  const seen = new Set();
  let dups = 0;
  const timed = w.events.filter((e) => e.rev > from);
  for (const e of timed) {
    if (e.rev > end) continue;
    if (seen.has(e.rev)) dups++;
    seen.add(e.rev);
  }
  const lat = timed.filter((e) => e.stamp !== undefined).map((e) => e.at - e.stamp).sort((a, b) => a - b);
  const span = (timed[timed.length - 1]?.at ?? 0) - (timed[0]?.at ?? 0);
  // Replay: the same revisions again, from history, on a new watch.
  const t0 = nowMs();
  let doneAt;
  let count = 0;
  const rw = await openWatch(follower, {
    startRevision: from + 1,
    onEvent: (e) => {
      if (e.rev <= end) count++;
      if (e.rev >= end && doneAt === undefined) doneAt = nowMs();
    },
  });
  for (let t1 = Date.now(); doneAt === undefined && Date.now() - t1 < 30000; ) await sleep(5);
  rw.close();
  return {
    puts: res.ok, putErrors: res.errors, putRps: res.rps, expected: want, received: seen.size, missed: want - seen.size, duplicates: dups,
    eventsPerS: span > 0 ? (timed.length * 1000) / span : undefined, p50: pct(lat, 50), p99: pct(lat, 99),
    replayEvents: count, replayPerS: doneAt ? (count * 1000) / (doneAt - t0) : undefined,
  };
}

/** Waits (polling, up to `ms`) until the watch has delivered revision `rev`. */
async function eventsReach(w, rev, ms) {
  for (let t0 = Date.now(); Date.now() - t0 < ms; ) {
    if (w.events.length && w.events[w.events.length - 1].rev >= rev) return;
    await sleep(20);
  }
}
