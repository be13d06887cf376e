// A streaming watch client for the v3 JSON gateway (POST /v3/watch, newline-delimited
// {"result": ...} back), used by the watch figure: it records every event's revision, its arrival
// time, and the send time kvload --stamp put at the start of the value ("t=<epoch ms>;").
import http from 'node:http';
import { b64, nowMs } from './lib.mjs';

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
