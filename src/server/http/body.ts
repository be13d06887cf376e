// Request bodies: a whole body for unary calls (bounded while it is read), and a sequence of JSON
// values for the streams (parsed as chunks arrive, bounded per pending message).
import type { IncomingMessage } from 'node:http';
import { JsonIncomplete, JsonSyntaxError, parseValue, skipWhitespace, type JsonValue } from './codec/json.js';
import { DecodeError } from './codec/decode.js';

/** The body went over the cap: `seen` bytes were read (or announced by Content-Length). */
export class BodyTooLarge extends Error {
  constructor(readonly seen: number) {
    super('request body too large');
  }
}

/**
 * Reads the body as a byte string (latin1). Calls back once: (null, text) or (error). Over `cap`
 * bytes it stops buffering, calls back with BodyTooLarge and drains the rest.
 */
export function readBody(req: IncomingMessage, cap: number, done: (err: Error | null, text?: string) => void): void {
  const announced = Number(req.headers['content-length']);
  if (announced > cap) {
    req.resume();
    done(new BodyTooLarge(announced));
    return;
  }
  let first: Buffer | null = null;
  let chunks: Buffer[] | null = null;
  let size = 0;
  let finished = false;
  const onData = (c: Buffer): void => {
    if (finished) return;
    size += c.length;
    if (size > cap) {
      finished = true;
      first = null;
      chunks = null;
      done(new BodyTooLarge(size));
      return;
    }
    if (first === null) first = c;
    else (chunks ??= [first]).push(c);
  };
  req.on('data', onData);
  req.on('end', () => {
    if (finished) return;
    finished = true;
    if (chunks !== null) done(null, Buffer.concat(chunks, size).toString('latin1'));
    else if (first !== null) done(null, (first as Buffer).toString('latin1'));
    else done(null, '');
  });
  req.on('error', (e) => {
    if (finished) return;
    finished = true;
    done(e);
  });
}

/**
 * The first JSON value of a unary body, as Go's json.Decoder reads it: an empty (or blank) body is
 * `null` (an empty message), the rest after the first value is ignored, a value cut short is
 * "unexpected EOF".
 */
export function parseUnaryBody(text: string): JsonValue {
  const i = skipWhitespace(text, 0);
  if (i === text.length) return null;
  try {
    return parseValue(text, i, true)[0];
  } catch (e) {
    if (e instanceof JsonSyntaxError || e instanceof JsonIncomplete) throw new DecodeError(e.message);
    throw e;
  }
}

/** A sequence of JSON values arriving in chunks (a stream's request body or WebSocket messages). */
export class JsonStreamDecoder {
  private buf = '';
  private pos = 0;

  constructor(private readonly cap: number) {}

  /** Adds bytes (latin1 text). Throws BodyTooLarge when the pending message grows over the cap. */
  push(text: string): void {
    this.buf = this.pos === 0 ? this.buf + text : this.buf.slice(this.pos) + text;
    this.pos = 0;
    if (this.buf.length > this.cap) throw new BodyTooLarge(this.buf.length);
  }

  /**
   * The next complete value, or undefined when more input is needed (or, with `final`, when only
   * blanks are left). Throws DecodeError with Go's text.
   */
  next(final: boolean): JsonValue | undefined {
    const i = skipWhitespace(this.buf, this.pos);
    if (i === this.buf.length) {
      this.buf = '';
      this.pos = 0;
      return undefined;
    }
    try {
      const [v, end] = parseValue(this.buf, i, final);
      this.pos = end;
      return v;
    } catch (e) {
      if (e instanceof JsonIncomplete) {
        if (final) throw new DecodeError('unexpected EOF');
        this.pos = i;
        return undefined;
      }
      if (e instanceof JsonSyntaxError) throw new DecodeError(e.message);
      throw e;
    }
  }
}
