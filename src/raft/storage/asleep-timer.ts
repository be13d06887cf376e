// How long a synchronous call kept the calling thread asleep: blocked (on a disk flush, say), as
// opposed to running or waiting for a core. It is the wall time of the call minus the thread's
// time on a CPU and in the run queue, both read from Linux's /proc/thread-self/schedstat (which
// gives them in nanoseconds, whatever the clock tick). Where that file cannot be read, it is the
// whole wall time.
//
// Why not the wall time alone: on a machine whose cores are busy, a fast fsync can take
// milliseconds of wall time waiting for a core after the disk has answered. That time would have
// gone to other processes either way; only the time asleep is time the event loop could have used.
import { closeSync, openSync, readSync } from 'node:fs';

const SCHEDSTAT = '/proc/thread-self/schedstat';

export class AsleepTimer {
  private fd: number;
  private readonly buf = Buffer.alloc(96);

  /** Opens the calling thread's schedstat: time only calls made on this same thread. */
  constructor(path = SCHEDSTAT) {
    let fd = -1;
    try {
      fd = openSync(path, 'r');
      if (this.read(fd) === undefined) {
        closeSync(fd);
        fd = -1;
      }
    } catch {
      fd = -1;
    }
    this.fd = fd;
  }

  /** Whether the time asleep is measured (otherwise the wall time stands in for it). */
  get precise(): boolean {
    return this.fd >= 0;
  }

  /** Runs `fn` and returns the milliseconds its thread spent asleep in it. */
  time(fn: () => void): number {
    const before = this.fd >= 0 ? this.read(this.fd) : undefined;
    const t0 = performance.now();
    fn();
    const wall = performance.now() - t0;
    const after = before !== undefined ? this.read(this.fd) : undefined;
    if (before === undefined || after === undefined) return wall;
    return Math.max(0, wall - (after - before) / 1e6);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /** The thread's nanoseconds on a CPU plus in the run queue so far, or undefined if unreadable. */
  private read(fd: number): number | undefined {
    let n: number;
    try {
      n = readSync(fd, this.buf, 0, this.buf.length, 0);
    } catch {
      return undefined;
    }
    const text = this.buf.toString('latin1', 0, n);
    const sp1 = text.indexOf(' ');
    const sp2 = text.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 <= sp1) return undefined;
    const onCpu = Number(text.slice(0, sp1));
    const waiting = Number(text.slice(sp1 + 1, sp2));
    return Number.isFinite(onCpu) && Number.isFinite(waiting) ? onCpu + waiting : undefined;
  }
}
