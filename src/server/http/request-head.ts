// Reading the head of one HTTP/1.1 request for the fast path (fast-connection.ts): only the plain
// shape a gateway client sends for a unary call is recognized; everything else is "other", and
// Node's HTTP server reads it instead (and answers it, or refuses it with its own error).

/** The longest head the fast path waits for; a longer one goes to Node (which answers 431). */
export const MAX_HEAD_BYTES = 16 * 1024;

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

export type HeadResult =
  /** More bytes are needed before the head can be judged. */
  | { readonly kind: 'more' }
  /** Not for the fast path. */
  | { readonly kind: 'other' }
  | {
      readonly kind: 'post';
      /** The request target, e.g. `/v3/kv/range`. */
      readonly path: string;
      /** Where the body starts in the buffer. */
      readonly bodyStart: number;
      readonly bodyLength: number;
      /** The client asked to close the connection after this request. */
      readonly close: boolean;
    };

const MORE: HeadResult = { kind: 'more' };
const OTHER: HeadResult = { kind: 'other' };

/** RFC 9110 token characters (header names). */
function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 97 && c <= 122) || // a-z
      (c >= 65 && c <= 90) || // A-Z
      (c >= 48 && c <= 57) || // 0-9
      c === 45 || // -
      c === 33 || (c >= 35 && c <= 39) || c === 42 || c === 43 || c === 46 || c === 94 || c === 95 || c === 96 || c === 124 || c === 126;
    if (!ok) return false;
  }
  return true;
}

/** A field value Node would take as it is: visible characters, spaces and tabs. */
function isPlainValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return false;
  }
  return true;
}

/** Without the optional whitespace (spaces and tabs) around a field value. */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** A request target without escapes, queries or fragments, in visible ASCII. */
function isPlainPath(s: string): boolean {
  if (s.charCodeAt(0) !== 47 /* / */) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c >= 127 || c === 37 /* % */ || c === 63 /* ? */ || c === 35 /* # */) return false;
  }
  return true;
}

/**
 * Reads the head at the start of `buf`: a `POST <path> HTTP/1.1` request with a Host header, a
 * body of Content-Length bytes (or none) and no header that changes how the message is framed or
 * handled (Transfer-Encoding, Upgrade, Expect). Any other shape is 'other', so that Node decides.
 */
export function readRequestHead(buf: Buffer): HeadResult {
  const end = buf.indexOf(CRLFCRLF);
  if (end < 0) return buf.length > MAX_HEAD_BYTES ? OTHER : MORE;
  if (end > MAX_HEAD_BYTES) return OTHER;
  const head = buf.toString('latin1', 0, end);
  if (!head.startsWith('POST /')) return OTHER;
  const lineEnd = head.indexOf('\r\n');
  const line = lineEnd < 0 ? head : head.slice(0, lineEnd);
  const sp = line.indexOf(' ', 5);
  if (sp < 0 || line.slice(sp + 1) !== 'HTTP/1.1') return OTHER;
  const path = line.slice(5, sp);
  if (!isPlainPath(path)) return OTHER;

  let bodyLength = -1;
  let close = false;
  let host = false;
  let at = lineEnd < 0 ? head.length : lineEnd + 2;
  while (at < head.length) {
    let next = head.indexOf('\r\n', at);
    if (next < 0) next = head.length;
    const field = head.slice(at, next);
    at = next + 2;
    const colon = field.indexOf(':');
    if (colon <= 0) return OTHER;
    const name = field.slice(0, colon);
    if (!isToken(name)) return OTHER;
    const raw = field.slice(colon + 1);
    if (!isPlainValue(raw)) return OTHER;
    const value = trimOws(raw);
    switch (name.toLowerCase()) {
      case 'host':
        host = true;
        break;
      case 'content-length':
        if (bodyLength >= 0 || !/^[0-9]{1,15}$/.test(value)) return OTHER;
        bodyLength = Number(value);
        break;
      case 'connection': {
        for (const token of value.toLowerCase().split(',')) {
          const t = token.trim();
          if (t === 'close') close = true;
          else if (t === 'upgrade') return OTHER;
        }
        break;
      }
      case 'transfer-encoding':
      case 'upgrade':
      case 'expect':
        return OTHER;
    }
  }
  // Node refuses an HTTP/1.1 request without Host (400): let it.
  if (!host) return OTHER;
  return { kind: 'post', path, bodyStart: end + 4, bodyLength: bodyLength < 0 ? 0 : bodyLength, close };
}
