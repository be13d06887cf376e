// Helpers for the agent's tests: waits on a registry view and on events,
// and unit files that run real (short, loopback-free) processes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegistrySnapshot, RegistryView } from '../../../src/fleet/registry/index.js';

/** Lets pending promise callbacks run (several rounds of the microtask queue and one macrotask). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

/** Resolves with the view's snapshot once `cond` holds on it (checked now and after each change). */
export function untilView(view: RegistryView, cond: (s: RegistrySnapshot) => boolean, what = 'condition', timeoutMs = 20000): Promise<RegistrySnapshot> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!cond(view.current)) return;
      cleanup();
      resolve(view.current);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`registry view: ${what} not reached in ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      view.off('change', check);
    };
    view.on('change', check);
    check();
  });
}

/** Resolves with an event's arguments; rejects after `timeoutMs`. */
export function nextEvent<T extends unknown[]>(
  emitter: { once(event: string, fn: (...args: T) => void): unknown; off(event: string, fn: (...args: T) => void): unknown },
  event: string,
  timeoutMs = 20000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (...args: T) => {
      clearTimeout(timer);
      resolve(args);
    };
    const timer = setTimeout(() => {
      emitter.off(event, fn);
      reject(new Error(`no '${event}' event in ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.once(event, fn);
  });
}

/** Polls `cond` (for state outside the registry: a process's existence, a runner's status). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function tempDir(prefix = 'flotilla-agent-'): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A unit that says hello (with a tag, to tell versions apart) and then sleeps until stopped. */
export function sleeperUnit(tag: string, extra = ''): string {
  return `[Unit]\nDescription=test ${tag}\n\n[Service]\nExecStart=/bin/sh -c 'echo hello ${tag}; exec sleep 1000'\nTimeoutStopSec=5\n${extra}`;
}

/** Whether a process exists. */
export function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
