// Exec check, as Consul's script checks: exit 0 is passing, 1 warning, anything else critical.
// The command runs in its own process group, so that a timeout kills the whole group (a shell
// script's children too) and no process is left behind.
import { spawn } from 'node:child_process';
import { capOutput, MAX_OUTPUT, type CheckResult, type Probe } from './types.js';

export function execProbe(argv: string[]): Probe {
  return (signal) =>
    new Promise<CheckResult>((resolve) => {
      let output = '';
      const collect = (d: Buffer) => {
        if (output.length <= MAX_OUTPUT) output += d.toString();
      };
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const kill = () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      };
      if (signal.aborted) kill();
      else signal.addEventListener('abort', kill, { once: true });
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      child.once('error', (e) => {
        signal.removeEventListener('abort', kill);
        resolve({ status: 'critical', output: `exec ${argv[0]}: ${e.message}` });
      });
      child.once('close', (code, sig) => {
        signal.removeEventListener('abort', kill);
        if (sig !== null) return resolve({ status: 'critical', output: capOutput(`killed by ${sig}\n${output}`) });
        const status = code === 0 ? 'passing' : code === 1 ? 'warning' : 'critical';
        resolve({ status, output: capOutput(code === 0 || code === 1 ? output : `exit status ${code}\n${output}`) });
      });
    });
}
