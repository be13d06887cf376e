// The machine's identity: 32 lowercase hex digits, like systemd's /etc/machine-id, generated once
// from crypto randomness and kept in `<state-dir>/machine-id` so that a restarted fleetd is the same
// machine to the engine (its placements and Global units stay where they are).
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const MACHINE_ID_FILE = 'machine-id';
const MACHINE_ID = /^[0-9a-f]{32}$/;

export class MachineIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MachineIdError';
  }
}

/** Returns the id when it is 32 lowercase hex digits; throws a MachineIdError naming `source` otherwise. */
export function validateMachineId(id: string, source = '--machine-id'): string {
  if (!MACHINE_ID.test(id)) {
    throw new MachineIdError(`${source}: machine id must be 32 lowercase hexadecimal digits (got ${JSON.stringify(id)})`);
  }
  return id;
}

export function newMachineId(random: (n: number) => Uint8Array = randomBytes): string {
  return Buffer.from(random(16)).toString('hex');
}

/**
 * The machine id: `override` when given (validated; the state directory is left as it is), else the
 * one persisted in the state directory, else a new one, written there first (atomically: a crash
 * never leaves a half-written id behind).
 */
export async function loadMachineId(stateDir: string, override?: string, random?: (n: number) => Uint8Array): Promise<string> {
  if (override !== undefined) return validateMachineId(override);
  const file = join(stateDir, MACHINE_ID_FILE);
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new MachineIdError(`${file}: cannot read the machine id: ${(e as Error).message}`);
  }
  if (text !== undefined) return validateMachineId(text.trim(), file);
  const id = newMachineId(random);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${id}\n`, { mode: 0o644 });
  await rename(tmp, file);
  return id;
}
