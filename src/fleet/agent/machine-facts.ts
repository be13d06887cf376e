// What the machine's specifiers (`%m %b %H %l`) stand for in the units this machine runs.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { MachineFacts } from '../unit/index.js';

const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/**
 * The kernel's boot id as systemd prints `%b`: 32 hex digits without dashes. Where the file does
 * not exist (not Linux) it is 32 zeros, systemd's "null" id, rather than a failure to run units.
 */
export function kernelBootId(file = BOOT_ID_FILE): string {
  try {
    const id = readFileSync(file, 'utf8').trim().replace(/-/g, '');
    return /^[0-9a-f]{32}$/.test(id) ? id : '0'.repeat(32);
  } catch {
    return '0'.repeat(32);
  }
}

/** `%m` fleet's machine id (FLOTILLA_MACHINE_ID), `%b` the boot id, `%H` the host name (default: this host's). */
export function machineFacts(machineId: string, host: string = hostname(), bootIdFile?: string): MachineFacts {
  return { machineId, bootId: kernelBootId(bootIdFile), hostname: host };
}
