// A unit's journal as `journalctl -u` prints it by default (its "short" format), which is what
// `fleetctl journal` shows: `Nov 29 17:07:14 3f2a1b0c hello.service[1234]: text`, with the machine's
// short id where journalctl has the host name. The runner's own lines about a unit come from fleetd,
// as systemd's come from `systemd[1]`.
import type { JournalEntry } from './runner-port.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const two = (n: number): string => String(n).padStart(2, '0');

/** `Nov 29 17:07:14` in the machine's local time, as journalctl prints it. */
export function journalTime(ms: number): string {
  const d = new Date(ms);
  return `${MONTHS[d.getMonth()]} ${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export function journalLine(unit: string, machineId: string, entry: JournalEntry): string {
  const who = entry.stream === 'runner' ? 'fleetd' : unit;
  return `${journalTime(entry.ts)} ${machineId.slice(0, 8)} ${who}[${entry.pid}]: ${entry.text}\n`;
}
