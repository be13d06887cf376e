// HTTP check, as Consul's: GET the URL; 2xx is passing, 429 (Too Many Requests) warning, anything
// else critical, and so is a connection failure. Redirects are not followed (a 3xx is critical).
// No keep-alive: each run opens its own connection, so a dead server is noticed at once.
import http from 'node:http';
import https from 'node:https';
import { capOutput, MAX_OUTPUT, type CheckResult, type Probe } from './types.js';

export function httpProbe(url: string): Probe {
  const target = new URL(url);
  const mod = target.protocol === 'https:' ? https : http;
  return (signal) =>
    new Promise<CheckResult>((resolve) => {
      const req = mod.request(target, {
        method: 'GET',
        agent: false,
        signal,
        headers: { 'user-agent': 'Flotilla Health Check', accept: 'text/plain, text/*, */*' },
      });
      req.on('error', (e) => resolve({ status: 'critical', output: `HTTP GET ${url}: ${e.message}` }));
      req.on('response', (res) => {
        let body = '';
        let settled = false;
        const finish = () => {
          if (settled) return;
          settled = true;
          const code = res.statusCode ?? 0;
          const status = code >= 200 && code < 300 ? 'passing' : code === 429 ? 'warning' : 'critical';
          resolve({ status, output: capOutput(`HTTP GET ${url}: ${code} ${res.statusMessage ?? ''} Output: ${body}`) });
          res.destroy();
        };
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
          if (body.length > MAX_OUTPUT) finish();
        });
        res.on('end', finish);
        res.on('error', finish);
      });
      req.end();
    });
}
