// A JSON reader with the behaviour of Go's encoding/json, which etcd's gateway uses to read request
// bodies: the same grammar, the same error texts ("invalid character 'b' looking for beginning of
// object key string", "unexpected EOF", ...), numbers kept as their source text (int64 values must
// not go through a double), and strings kept as bytes.
//
// The input is a "binary string": the body decoded as latin1, one char per byte. Strings come out
// the same way (UTF-8 bytes, one char each), which is what base64 decoding and Go's byte positions
// want; text fields convert with `bytesToUtf8`.
//
// The parser is iterative (explicit stack), so a deeply nested body cannot overflow the JS stack;
// Go's own limit of 10000 levels gives "exceeded max depth".

/** A JSON number, as written (Go decodes numbers from their text, never through a double). */
export class JsonNumber {
  constructor(readonly raw: string) {}
}

/** A string that had escapes: `value` is unescaped (bytes), `raw` is the text between the quotes. */
export class EscapedString {
  constructor(
    readonly value: string,
    readonly raw: string,
  ) {}
}

export type JsonObject = { [key: string]: JsonValue };
export type JsonValue = null | boolean | string | EscapedString | JsonNumber | JsonValue[] | JsonObject;

/** A syntax error with Go's text. */
export class JsonSyntaxError extends Error {}

/** The input ended inside a value (Go: "unexpected EOF" from a Decoder, "unexpected end of JSON input" from Unmarshal). */
export class JsonIncomplete extends Error {}

const INCOMPLETE = new JsonIncomplete('unexpected EOF');
const MAX_DEPTH = 10000;

const enum C {
  TAB = 9,
  LF = 10,
  CR = 13,
  SPACE = 32,
  QUOTE = 34,
  PLUS = 43,
  COMMA = 44,
  MINUS = 45,
  DOT = 46,
  SLASH = 47,
  ZERO = 48,
  NINE = 57,
  COLON = 58,
  UPPER_E = 69,
  LBRACKET = 91,
  BACKSLASH = 92,
  RBRACKET = 93,
  LOWER_E = 101,
  LBRACE = 123,
  RBRACE = 125,
}

/** Go's quoteChar: the offending byte as it appears in "invalid character ..." messages. */
export function quoteChar(c: number): string {
  if (c === 0x27) return "'\\''";
  if (c === 0x22) return '\'"\'';
  switch (c) {
    case 7:
      return "'\\a'";
    case 8:
      return "'\\b'";
    case 12:
      return "'\\f'";
    case 10:
      return "'\\n'";
    case 13:
      return "'\\r'";
    case 9:
      return "'\\t'";
    case 11:
      return "'\\v'";
    case 0x5c:
      return "'\\\\'";
  }
  if (c < 0x20 || c === 0x7f) return `'\\x${c.toString(16).padStart(2, '0')}'`;
  // Go converts the byte to the rune U+00XX; U+0080-U+009F, U+00A0 and U+00AD are not printable.
  if ((c >= 0x80 && c <= 0xa0) || c === 0xad) return `'\\u00${c.toString(16).padStart(2, '0')}'`;
  return `'${String.fromCharCode(c)}'`;
}

function syntaxError(c: number, context: string): JsonSyntaxError {
  return new JsonSyntaxError(`invalid character ${quoteChar(c)} ${context}`);
}

function skipSpace(t: string, i: number): number {
  const n = t.length;
  while (i < n) {
    const c = t.charCodeAt(i);
    if (c !== C.SPACE && c !== C.LF && c !== C.CR && c !== C.TAB) break;
    i++;
  }
  return i;
}

// eslint-disable-next-line no-control-regex
const NEEDS_SLOW_STRING = /[\x00-\x1f\\]/;

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Appends code point `cp` as UTF-8 bytes (one char per byte). */
function utf8Bytes(cp: number): string {
  if (cp < 0x80) return String.fromCharCode(cp);
  if (cp < 0x800) return String.fromCharCode(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  if (cp < 0x10000) return String.fromCharCode(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  return String.fromCharCode(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
}

/** Reads the \uXXXX at t[i] (the 'u' is at i); returns the code unit or throws. */
function readHex4(t: string, i: number): number {
  let v = 0;
  for (let k = 1; k <= 4; k++) {
    if (i + k >= t.length) throw INCOMPLETE;
    const c = t.charCodeAt(i + k);
    const h = hexVal(c);
    if (h < 0) throw syntaxError(c, 'in \\u hexadecimal character escape');
    v = (v << 4) | h;
  }
  return v;
}

/** Parses the string whose opening quote is at `start`; returns [value, index after the closing quote]. */
function parseString(t: string, start: number): [string | EscapedString, number] {
  const from = start + 1;
  const q = t.indexOf('"', from);
  if (q >= 0) {
    const seg = t.slice(from, q);
    if (!NEEDS_SLOW_STRING.test(seg)) return [seg, q + 1];
  }
  // Slow path: escapes, control characters, or no closing quote yet.
  const n = t.length;
  let out = '';
  let runStart = from;
  let hadEscape = false;
  let i = from;
  for (;;) {
    if (i >= n) throw INCOMPLETE;
    const c = t.charCodeAt(i);
    if (c === C.QUOTE) {
      out += t.slice(runStart, i);
      const raw = t.slice(from, i);
      return [hadEscape ? new EscapedString(out, raw) : out, i + 1];
    }
    if (c < 0x20) throw syntaxError(c, 'in string literal');
    if (c !== C.BACKSLASH) {
      i++;
      continue;
    }
    hadEscape = true;
    out += t.slice(runStart, i);
    if (i + 1 >= n) throw INCOMPLETE;
    const e = t.charCodeAt(i + 1);
    switch (e) {
      case 0x22:
      case 0x5c:
      case 0x2f:
        out += String.fromCharCode(e);
        i += 2;
        break;
      case 0x62:
        out += '\b';
        i += 2;
        break;
      case 0x66:
        out += '\f';
        i += 2;
        break;
      case 0x6e:
        out += '\n';
        i += 2;
        break;
      case 0x72:
        out += '\r';
        i += 2;
        break;
      case 0x74:
        out += '\t';
        i += 2;
        break;
      case 0x75: {
        let cp = readHex4(t, i + 1);
        i += 6;
        if (cp >= 0xd800 && cp < 0xdc00) {
          // A high surrogate takes the next \uDC00-\uDFFF with it; alone it is U+FFFD (as Go).
          if (i + 1 < n && t.charCodeAt(i) === C.BACKSLASH && t.charCodeAt(i + 1) === 0x75) {
            const lo = readHex4(t, i + 1);
            if (lo >= 0xdc00 && lo < 0xe000) {
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
              i += 6;
            } else {
              cp = 0xfffd;
            }
          } else {
            cp = 0xfffd;
          }
        } else if (cp >= 0xdc00 && cp < 0xe000) {
          cp = 0xfffd;
        }
        out += utf8Bytes(cp);
        break;
      }
      default:
        throw syntaxError(e, 'in string escape code');
    }
    runStart = i;
  }
}

function isDigit(c: number): boolean {
  return c >= C.ZERO && c <= C.NINE;
}

/**
 * Scans the number at t[i]; returns the index after it. `atEnd` says what to do when the input
 * ends right after the number: a top-level number is then complete only if no more input comes.
 */
function scanNumber(t: string, i: number, topLevelFinal: boolean): number {
  const n = t.length;
  let c = t.charCodeAt(i);
  if (c === C.MINUS) {
    i++;
    if (i >= n) throw INCOMPLETE;
    c = t.charCodeAt(i);
    if (!isDigit(c)) throw syntaxError(c, 'in numeric literal');
  }
  if (c === C.ZERO) {
    i++;
  } else {
    while (i < n && isDigit(t.charCodeAt(i))) i++;
  }
  if (i < n && t.charCodeAt(i) === C.DOT) {
    i++;
    if (i >= n) throw INCOMPLETE;
    c = t.charCodeAt(i);
    if (!isDigit(c)) throw syntaxError(c, 'after decimal point in numeric literal');
    while (i < n && isDigit(t.charCodeAt(i))) i++;
  }
  if (i < n && (t.charCodeAt(i) === C.LOWER_E || t.charCodeAt(i) === C.UPPER_E)) {
    i++;
    if (i >= n) throw INCOMPLETE;
    c = t.charCodeAt(i);
    if (c === C.PLUS || c === C.MINUS) {
      i++;
      if (i >= n) throw INCOMPLETE;
      c = t.charCodeAt(i);
    }
    if (!isDigit(c)) throw syntaxError(c, 'in exponent of numeric literal');
    while (i < n && isDigit(t.charCodeAt(i))) i++;
  }
  if (i >= n && !topLevelFinal) throw INCOMPLETE;
  return i;
}

function scanLiteral(t: string, i: number, word: string): number {
  // word[0] is already matched at t[i].
  for (let k = 1; k < word.length; k++) {
    if (i + k >= t.length) throw INCOMPLETE;
    const c = t.charCodeAt(i + k);
    if (c !== word.charCodeAt(k)) throw syntaxError(c, `in literal ${word} (expecting '${word[k]}')`);
  }
  return i + word.length;
}

interface Frame {
  obj: JsonObject | null;
  arr: JsonValue[] | null;
  key: string;
}

function readKey(t: string, i: number): [string, number] {
  // t[i] is '"'.
  const [k, end] = parseString(t, i);
  const key = typeof k === 'string' ? k : k.value;
  let j = skipSpace(t, end);
  if (j >= t.length) throw INCOMPLETE;
  const c = t.charCodeAt(j);
  if (c !== C.COLON) throw syntaxError(c, 'after object key');
  return [key, j + 1];
}

/**
 * Parses one JSON value starting at `pos` (leading whitespace allowed). Returns the value and the
 * index just after it. Throws JsonSyntaxError (Go's text) or JsonIncomplete when the input ends
 * inside the value. `final` says that no more input will come (a top-level number may end at the
 * end of the input then).
 */
export function parseValue(t: string, pos: number, final = true): [JsonValue, number] {
  const n = t.length;
  const stack: Frame[] = [];
  let i = pos;
  let value: JsonValue;
  for (;;) {
    // Expecting the beginning of a value.
    i = skipSpace(t, i);
    if (i >= n) throw INCOMPLETE;
    let c = t.charCodeAt(i);
    switch (c) {
      case C.LBRACE: {
        if (stack.length >= MAX_DEPTH) throw syntaxError(C.LBRACE, 'exceeded max depth');
        i = skipSpace(t, i + 1);
        if (i >= n) throw INCOMPLETE;
        c = t.charCodeAt(i);
        const obj: JsonObject = {};
        if (c === C.RBRACE) {
          i++;
          value = obj;
          break;
        }
        if (c !== C.QUOTE) throw syntaxError(c, 'looking for beginning of object key string');
        const [key, next] = readKey(t, i);
        stack.push({ obj, arr: null, key });
        i = next;
        continue;
      }
      case C.LBRACKET: {
        if (stack.length >= MAX_DEPTH) throw syntaxError(C.LBRACKET, 'exceeded max depth');
        i = skipSpace(t, i + 1);
        if (i >= n) throw INCOMPLETE;
        if (t.charCodeAt(i) === C.RBRACKET) {
          i++;
          value = [];
          break;
        }
        stack.push({ obj: null, arr: [], key: '' });
        continue;
      }
      case C.QUOTE: {
        const [s, end] = parseString(t, i);
        value = s;
        i = end;
        break;
      }
      case 0x74: // t
        i = scanLiteral(t, i, 'true');
        value = true;
        break;
      case 0x66: // f
        i = scanLiteral(t, i, 'false');
        value = false;
        break;
      case 0x6e: // n
        i = scanLiteral(t, i, 'null');
        value = null;
        break;
      default:
        if (c === C.MINUS || isDigit(c)) {
          const end = scanNumber(t, i, final && stack.length === 0);
          value = new JsonNumber(t.slice(i, end));
          i = end;
          break;
        }
        throw syntaxError(c, 'looking for beginning of value');
    }
    // A value is complete: hand it to its container, closing containers as they end.
    for (;;) {
      const top = stack[stack.length - 1];
      if (top === undefined) return [value, i];
      i = skipSpace(t, i);
      if (i >= n) throw INCOMPLETE;
      c = t.charCodeAt(i);
      if (top.obj !== null) {
        // Objects are plain (fast) objects: "__proto__" is the one name that must not be assigned.
        // It is no field of any message, so it is dropped like any unknown field.
        if (top.key !== '__proto__') top.obj[top.key] = value;
        if (c === C.COMMA) {
          i = skipSpace(t, i + 1);
          if (i >= n) throw INCOMPLETE;
          c = t.charCodeAt(i);
          if (c !== C.QUOTE) throw syntaxError(c, 'looking for beginning of object key string');
          const [key, next] = readKey(t, i);
          top.key = key;
          i = next;
          break;
        }
        if (c === C.RBRACE) {
          i++;
          value = top.obj;
          stack.pop();
          continue;
        }
        throw syntaxError(c, 'after object key:value pair');
      } else {
        const arr = top.arr as JsonValue[];
        arr.push(value);
        if (c === C.COMMA) {
          i++;
          break;
        }
        if (c === C.RBRACKET) {
          i++;
          value = arr;
          stack.pop();
          continue;
        }
        throw syntaxError(c, 'after array element');
      }
    }
  }
}

/** Index of the first non-space char at or after i (t.length if none). */
export function skipWhitespace(t: string, i: number): number {
  return skipSpace(t, i);
}

/**
 * Go's json.Unmarshal of a whole document (used for int64 fields given as strings, whose content
 * Go parses again as JSON): syntax errors first, then "after top-level value" for trailing bytes.
 */
export function parseDocument(t: string): JsonValue {
  let value: JsonValue;
  let end: number;
  try {
    [value, end] = parseValue(t, 0, true);
  } catch (e) {
    if (!(e instanceof JsonIncomplete)) throw e;
    // At the end of the input Go's scanner steps once more with a space: a number or a literal
    // cut short is then "invalid character ' ' in ...", anything else "unexpected end".
    try {
      parseValue(t + ' ', 0, true);
    } catch (e2) {
      if (e2 instanceof JsonSyntaxError) throw e2;
    }
    throw new JsonSyntaxError('unexpected end of JSON input');
  }
  const j = skipSpace(t, end);
  if (j < t.length) throw syntaxError(t.charCodeAt(j), 'after top-level value');
  return value;
}

/** The kind word Go puts in "json: cannot unmarshal KIND into Go value of type T". */
export function kindOf(v: JsonValue): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string' || v instanceof EscapedString) return 'string';
  if (v instanceof JsonNumber) return 'number';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

/** Converts a byte string (one char per byte) holding UTF-8 into a JS string. */
export function bytesToUtf8(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(s)) return s;
  return Buffer.from(s, 'latin1').toString('utf8');
}
