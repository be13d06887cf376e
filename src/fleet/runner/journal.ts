// A unit's journal: every line its processes write on stdout/stderr (with the writer's pid and a
// timestamp) and the runner's own lines about it ("Starting hello.service...", "Main process
// exited, ..."), as systemd's journal keeps them for `journalctl -u`.
//
// Bounded: the lines kept in memory never exceed `capBytes` (oldest dropped). Persisted: with a
// state directory every line is appended to `<stateDir>/journal/<unit>.log` (one JSON object per
// line, so any text survives), and once the file grows past 1.5 x the cap it is rewritten with just
// the lines kept in memory, so a unit's disk use stays under 1.5 x the cap while a crashed or
// restarted agent still finds the recent history. Writes are synchronous, one write per chunk read
// from a process, so the file always holds what was journaled before an agent is killed.
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

export type JournalStream = 'stdout' | 'stderr' | 'runner';

export interface JournalEntry {
  /** Milliseconds since the epoch. */
  ts: number;
  stream: JournalStream;
  /** The process that wrote the line; for the runner's own lines, the agent's pid. */
  pid: number;
  text: string;
}

export interface JournalOptions {
  /** The agent's state directory; without it the journal lives in memory only. */
  stateDir?: string;
  /** Bytes of lines kept (as stored, one JSON line each). Default 1 MiB. */
  capBytes?: number;
  /** A longer line without a newline is cut into pieces of this many characters (systemd's LineMax). */
  maxLineLength?: number;
  now?: () => number;
}

export const DEFAULT_JOURNAL_CAP_BYTES = 1024 * 1024;
export const DEFAULT_MAX_LINE_LENGTH = 48 * 1024;
/** The file is rewritten down to the cap once it holds this many times the cap. */
const REWRITE_FACTOR = 1.5;

/** Unit names as systemd allows them; they become file names, so nothing else may pass. */
const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]+$/;

export function assertUnitName(name: string): void {
  if (!UNIT_NAME.test(name) || name === '.' || name === '..' || name.length > 255) {
    throw new Error(`invalid unit name "${name}": only letters, digits and ":_.\\@-" are allowed`);
  }
}

interface Stored {
  entry: JournalEntry;
  bytes: number;
}

interface Follower {
  push(entry: JournalEntry, bytes: number): void;
  end(): void;
}

export class Journal {
  readonly unit: string;
  /** The file the journal is persisted to, when it has a state directory. */
  readonly path: string | undefined;
  /** The last error writing the file (the journal keeps working in memory). */
  writeError: Error | undefined;
  private readonly capBytes: number;
  private readonly maxLineLength: number;
  private readonly now: () => number;
  private lines: Stored[] = [];
  private head = 0; // lines before `head` are dropped; compacted now and then
  private bytes = 0;
  private diskBytes = 0;
  private readonly followers = new Set<Follower>();

  constructor(unit: string, opts: JournalOptions = {}) {
    assertUnitName(unit);
    this.unit = unit;
    this.capBytes = opts.capBytes ?? DEFAULT_JOURNAL_CAP_BYTES;
    if (!(this.capBytes > 0)) throw new Error(`journal cap must be positive, got ${this.capBytes}`);
    this.maxLineLength = opts.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    this.now = opts.now ?? Date.now;
    if (opts.stateDir !== undefined) {
      const dir = join(opts.stateDir, 'journal');
      mkdirSync(dir, { recursive: true });
      this.path = join(dir, `${unit}.log`);
      this.load();
    }
  }

  /** Lines kept, oldest first. */
  get size(): number {
    return this.lines.length - this.head;
  }

  /** Bytes the kept lines take (their stored form). */
  get storedBytes(): number {
    return this.bytes;
  }

  /** Records one complete line. */
  append(stream: JournalStream, pid: number, text: string): JournalEntry {
    const entry = { ts: this.now(), stream, pid, text };
    this.store([entry]);
    return entry;
  }

  /** A line from the runner itself about the unit (systemd's own messages). */
  note(text: string): JournalEntry {
    return this.append('runner', process.pid, text);
  }

  /**
   * Journals everything `source` yields, one entry per line; a last line without a newline is
   * recorded when the source ends (the process exited and closed its end). Resolves then.
   */
  capture(source: Readable, stream: 'stdout' | 'stderr', pid: number): Promise<void> {
    const decoder = new StringDecoder('utf8');
    let partial = '';
    const take = (text: string, final: boolean): void => {
      partial += text;
      const complete = partial.split('\n');
      partial = complete.pop()!;
      while (partial.length > this.maxLineLength) {
        complete.push(partial.slice(0, this.maxLineLength));
        partial = partial.slice(this.maxLineLength);
      }
      if (final && partial !== '') {
        complete.push(partial);
        partial = '';
      }
      if (complete.length === 0) return;
      const ts = this.now();
      this.store(complete.map((line) => ({ ts, stream, pid, text: line })));
    };
    return new Promise((resolve) => {
      source.on('data', (chunk: Buffer | string) => take(typeof chunk === 'string' ? chunk : decoder.write(chunk), false));
      // 'close' also covers a stream destroyed without 'end' (the pipe broke).
      source.once('close', () => {
        take(decoder.end(), true);
        resolve();
      });
      source.once('error', () => {});
    });
  }

  /** The last `n` lines (all lines when n is omitted), oldest first. */
  tail(n?: number): JournalEntry[] {
    const from = n === undefined ? this.head : Math.max(this.head, this.lines.length - Math.max(0, n));
    return this.lines.slice(from).map((s) => s.entry);
  }

  /**
   * The lines journaled from now on, until `signal` aborts or the journal is closed (lines not yet
   * read are then dropped). The
   * subscription starts when follow() is called, so `tail()` then `follow()` misses nothing. A
   * follower more than the cap behind loses its oldest pending lines, as a reader of the file would.
   */
  follow(signal?: AbortSignal): AsyncIterableIterator<JournalEntry> {
    const pending: Stored[] = [];
    let pendingHead = 0;
    let pendingBytes = 0;
    let waiter: ((r: IteratorResult<JournalEntry>) => void) | undefined;
    let ended = false;
    const follower: Follower = {
      push: (entry, bytes) => {
        if (waiter) {
          const w = waiter;
          waiter = undefined;
          w({ value: entry, done: false });
          return;
        }
        pending.push({ entry, bytes });
        pendingBytes += bytes;
        while (pendingBytes > this.capBytes && pending.length - pendingHead > 1) {
          pendingBytes -= pending[pendingHead++]!.bytes;
        }
      },
      end: () => {
        if (ended) return;
        ended = true;
        // Stopped means stopped: lines not yet taken are not delivered after an abort.
        pending.length = 0;
        pendingHead = 0;
        this.followers.delete(follower);
        signal?.removeEventListener('abort', onAbort);
        if (waiter) {
          const w = waiter;
          waiter = undefined;
          w({ value: undefined, done: true });
        }
      },
    };
    const onAbort = (): void => follower.end();
    this.followers.add(follower);
    if (signal?.aborted) follower.end();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const iterator: AsyncIterableIterator<JournalEntry> = {
      next: () => {
        if (pendingHead < pending.length) {
          const s = pending[pendingHead++]!;
          pendingBytes -= s.bytes;
          if (pendingHead === pending.length) {
            pending.length = 0;
            pendingHead = 0;
          }
          return Promise.resolve({ value: s.entry, done: false });
        }
        if (ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          waiter = resolve;
        });
      },
      return: () => {
        follower.end();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** Ends every follower. The journal can still be appended to (a closed journal is just unwatched). */
  close(): void {
    for (const f of [...this.followers]) f.end();
  }

  private store(entries: JournalEntry[]): void {
    let text = '';
    for (const entry of entries) {
      const line = JSON.stringify(entry) + '\n';
      const bytes = Buffer.byteLength(line);
      text += line;
      this.keep(entry, bytes);
      for (const f of this.followers) f.push(entry, bytes);
    }
    this.persist(text);
  }

  private keep(entry: JournalEntry, bytes: number): void {
    this.lines.push({ entry, bytes });
    this.bytes += bytes;
    // The newest line is always kept, even alone over the cap.
    while (this.bytes > this.capBytes && this.lines.length - this.head > 1) {
      this.bytes -= this.lines[this.head++]!.bytes;
    }
    if (this.head > 1024 && this.head * 2 > this.lines.length) {
      this.lines = this.lines.slice(this.head);
      this.head = 0;
    }
  }

  private persist(text: string): void {
    if (this.path === undefined || text === '') return;
    try {
      appendFileSync(this.path, text);
      this.diskBytes += Buffer.byteLength(text);
      if (this.diskBytes > this.capBytes * REWRITE_FACTOR) this.rewrite();
      this.writeError = undefined;
    } catch (err) {
      this.writeError = err as Error;
    }
  }

  /** Replaces the file with the kept lines (write aside, then rename: never a half-written file). */
  private rewrite(): void {
    const path = this.path!;
    const text = this.lines
      .slice(this.head)
      .map((s) => JSON.stringify(s.entry) + '\n')
      .join('');
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, path);
    this.diskBytes = Buffer.byteLength(text);
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.path!, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    this.diskBytes = Buffer.byteLength(text);
    for (const line of text.split('\n')) {
      const entry = parseEntry(line);
      // A line cut by a crash mid-write, or not ours, is skipped rather than failing the agent.
      if (entry) this.keep(entry, Buffer.byteLength(line) + 1);
    }
    // Lines were dropped (over the cap, or unreadable): shrink the file to what is kept.
    if (this.diskBytes !== this.bytes) {
      try {
        this.rewrite();
      } catch (err) {
        this.writeError = err as Error;
      }
    }
  }
}

function parseEntry(line: string): JournalEntry | undefined {
  if (line === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { ts, stream, pid, text } = v as Record<string, unknown>;
  if (typeof ts !== 'number' || typeof pid !== 'number' || typeof text !== 'string') return undefined;
  if (stream !== 'stdout' && stream !== 'stderr' && stream !== 'runner') return undefined;
  return { ts, stream, pid, text };
}

/** One entry as `journalctl -o short-iso` prints it: `2024-05-30T10:00:00.000Z hello.service[42]: text`. */
export function formatJournalEntry(unit: string, entry: JournalEntry): string {
  const who = entry.stream === 'runner' ? 'fleetd' : unit;
  return `${new Date(entry.ts).toISOString()} ${who}[${entry.pid}]: ${entry.text}`;
}
