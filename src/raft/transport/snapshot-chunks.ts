// Snapshot chunking: a Snap message is sent as a sequence of CHUNK frames of at most
// `chunkBytes` bytes of snapshot data each and reassembled whole at the receiver.
import type { Message } from '../types.js';
import type { ChunkHeader, Codec } from './codec.js';
import { TransportError } from './errors.js';

/**
 * Produces the chunk frames of one Snap message, one at a time (so that frames are built lazily),
 * from its data or, when given, its pieces (read across piece boundaries).
 */
export class SnapshotChunker {
  readonly message: Message;
  private readonly pieces: readonly Uint8Array[];
  readonly total: number;
  private offset = 0;
  /** The piece holding `offset`, and where that piece starts. */
  private piece = 0;
  private pieceStart = 0;
  private started = false;
  chunksSent = 0;

  constructor(
    message: Message,
    private readonly codec: Codec,
    private readonly chunkBytes: number,
  ) {
    if (!message.snapshot) throw new TransportError('PROTOCOL', 'Snap message without a snapshot');
    this.message = message;
    this.pieces = message.snapshot.pieces ?? [message.snapshot.data];
    this.total = this.pieces.reduce((n, p) => n + p.length, 0);
  }

  /** True once the frame with `last` set was produced. */
  get done(): boolean {
    return this.started && this.offset >= this.total;
  }

  /** The next chunk frame, or undefined when all were produced. */
  next(): Buffer | undefined {
    if (this.done) return undefined;
    const meta = this.message.snapshot!.meta;
    const end = Math.min(this.offset + this.chunkBytes, this.total);
    const header: ChunkHeader = {
      snapIndex: meta.index,
      snapTerm: meta.term,
      offset: this.offset,
      total: this.total,
      last: end >= this.total,
    };
    if (this.offset === 0) header.message = this.message;
    const frame = this.codec.encodeChunk(header, this.slice(end));
    this.offset = end;
    this.started = true;
    this.chunksSent++;
    return frame;
  }

  /** The views of the pieces that cover [offset, end). */
  private slice(end: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let at = this.offset;
    while (at < end) {
      const p = this.pieces[this.piece]!;
      const from = at - this.pieceStart;
      const to = Math.min(p.length, end - this.pieceStart);
      if (to > from) out.push(p.subarray(from, to));
      at = this.pieceStart + to;
      if (to >= p.length) {
        this.pieceStart += p.length;
        this.piece++;
      }
    }
    return out;
  }
}

/** Reassembles the chunks arriving on one connection (one snapshot at a time per connection). */
export class SnapshotAssembler {
  private current:
    | { message: Message; index: number; term: number; total: number; received: number; buf: Uint8Array }
    | undefined;

  constructor(private readonly maxSnapshotBytes: number) {}

  /** True while a snapshot is partially received. */
  get inProgress(): boolean {
    return this.current !== undefined;
  }

  /**
   * Takes one chunk. Returns the whole Snap message after its last chunk, undefined before.
   * Throws TransportError('PROTOCOL' | 'TOO_LARGE') for a chunk that does not fit the sequence.
   */
  accept(header: ChunkHeader, data: Uint8Array): Message | undefined {
    if (header.offset === 0) {
      // A new snapshot (a sender that restarts a snapshot begins again at 0).
      if (!header.message) throw new TransportError('PROTOCOL', 'first snapshot chunk without its message');
      if (header.total > this.maxSnapshotBytes) {
        this.current = undefined;
        throw new TransportError('TOO_LARGE', `snapshot of ${header.total} bytes exceeds ${this.maxSnapshotBytes}`);
      }
      this.current = {
        message: header.message,
        index: header.snapIndex,
        term: header.snapTerm,
        total: header.total,
        received: 0,
        buf: new Uint8Array(header.total),
      };
    }
    const cur = this.current;
    if (!cur) throw new TransportError('PROTOCOL', `snapshot chunk at offset ${header.offset} without a start`);
    if (
      header.snapIndex !== cur.index ||
      header.snapTerm !== cur.term ||
      header.total !== cur.total ||
      header.offset !== cur.received ||
      header.offset + data.length > cur.total ||
      header.last !== (header.offset + data.length === cur.total)
    ) {
      this.current = undefined;
      throw new TransportError(
        'PROTOCOL',
        `snapshot chunk out of sequence: index ${header.snapIndex} term ${header.snapTerm} offset ${header.offset}` +
          ` length ${data.length} total ${header.total} last ${header.last}; expected index ${cur.index}` +
          ` term ${cur.term} offset ${cur.received} total ${cur.total}`,
      );
    }
    cur.buf.set(data, cur.received);
    cur.received += data.length;
    if (!header.last) return undefined;
    this.current = undefined;
    const m = cur.message;
    return { ...m, snapshot: { meta: m.snapshot!.meta, data: cur.buf } };
  }
}
