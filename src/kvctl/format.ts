// Go's ways of writing numbers, strings and durations, as etcdctl (a Go program) prints them:
// %x and %016x of IDs, %q quoting, go-humanize's byte sizes, time.Duration's String(), and the
// parsers (strconv.ParseInt, time.ParseDuration) whose error texts etcdctl passes on.
import { scanDuration } from '../util/duration.js';

/** `%x` of a uint64 (member IDs): lower-case hex, no padding. */
export function hexId(id: bigint | number): string {
  return BigInt.asUintN(64, BigInt(id)).toString(16);
}

/** `%016x` of an int64 (lease IDs): zero-padded to 16; a negative ID keeps its sign, as Go does. */
export function hex16(id: bigint): string {
  if (id < 0n) return `-${(-id).toString(16).padStart(15, '0')}`;
  return id.toString(16).padStart(16, '0');
}

/** `%16x` of a uint64: space-padded to 16 (member add/remove lines). */
export function hexPad16(id: bigint | number): string {
  return hexId(id).padStart(16, ' ');
}

/** `\x66\x6f\x6f`: etcdctl's --hex form of bytes. */
export function hexEscaped(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += `\\x${c.toString(16).padStart(2, '0')}`;
  return s;
}

/** Go's strconv.Quote (what `%q` prints for a string or []byte). */
export function goQuote(s: string | Uint8Array): string {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s.buffer, s.byteOffset, s.byteLength);
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i]!;
    if (c < 0x80) {
      i++;
      switch (c) {
        case 0x07:
          out += '\\a';
          continue;
        case 0x08:
          out += '\\b';
          continue;
        case 0x0c:
          out += '\\f';
          continue;
        case 0x0a:
          out += '\\n';
          continue;
        case 0x0d:
          out += '\\r';
          continue;
        case 0x09:
          out += '\\t';
          continue;
        case 0x0b:
          out += '\\v';
          continue;
        case 0x22:
          out += '\\"';
          continue;
        case 0x5c:
          out += '\\\\';
          continue;
      }
      if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
      else out += String.fromCharCode(c);
      continue;
    }
    // A UTF-8 sequence: kept when valid and printable, else each byte as \xNN.
    const len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    const seq = len ? bytes.subarray(i, i + len) : undefined;
    const text = seq && seq.length === len ? new TextDecoder('utf-8', { fatal: false }).decode(seq) : '';
    if (seq && text.length > 0 && !text.includes('\ufffd') && Buffer.byteLength(text) === len) {
      const cp = text.codePointAt(0)!;
      if (/\p{C}/u.test(text)) out += cp > 0xffff ? `\\U${cp.toString(16).padStart(8, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`;
      else out += text;
      i += len;
    } else {
      out += `\\x${c.toString(16).padStart(2, '0')}`;
      i++;
    }
  }
  return `${out}"`;
}

/**
 * Reads a Go quoted string (double-quoted with escapes, or back-quoted raw) at the start of `s`.
 * Returns the bytes and the rest of the input, or undefined when `s` does not start with one.
 */
export function readGoQuoted(s: string): { value: Buffer; rest: string } | undefined {
  if (s.startsWith('`')) {
    const end = s.indexOf('`', 1);
    if (end < 0) return undefined;
    return { value: Buffer.from(s.slice(1, end), 'utf8'), rest: s.slice(end + 1) };
  }
  if (!s.startsWith('"')) return undefined;
  const out: number[] = [];
  let i = 1;
  const push = (str: string) => {
    for (const b of Buffer.from(str, 'utf8')) out.push(b);
  };
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === '"') return { value: Buffer.from(out), rest: s.slice(i + 1) };
    if (ch === '\n') return undefined;
    if (ch !== '\\') {
      const cp = s.codePointAt(i)!;
      const str = String.fromCodePoint(cp);
      push(str);
      i += str.length;
      continue;
    }
    const e = s[i + 1];
    i += 2;
    switch (e) {
      case 'a':
        out.push(7);
        break;
      case 'b':
        out.push(8);
        break;
      case 'f':
        out.push(12);
        break;
      case 'n':
        out.push(10);
        break;
      case 'r':
        out.push(13);
        break;
      case 't':
        out.push(9);
        break;
      case 'v':
        out.push(11);
        break;
      case '\\':
        out.push(0x5c);
        break;
      case '"':
        out.push(0x22);
        break;
      case 'x': {
        const h = s.slice(i, i + 2);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) return undefined;
        out.push(parseInt(h, 16));
        i += 2;
        break;
      }
      case 'u':
      case 'U': {
        const n = e === 'u' ? 4 : 8;
        const h = s.slice(i, i + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h)) return undefined;
        const cp = parseInt(h, 16);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) return undefined;
        push(String.fromCodePoint(cp));
        i += n;
        break;
      }
      default: {
        if (e !== undefined && /[0-7]/.test(e)) {
          const o = s.slice(i - 1, i + 2);
          if (!/^[0-7]{3}$/.test(o) || parseInt(o, 8) > 255) return undefined;
          out.push(parseInt(o, 8));
          i += 2;
          break;
        }
        return undefined;
      }
    }
  }
  return undefined;
}

/** go-humanize's Bytes(): SI units, `25 kB`, `1.2 MB`. */
export function humanizeBytes(size: number): string {
  if (size < 10) return `${size} B`;
  const sizes = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(size) / Math.log(1000));
  const suffix = sizes[e] ?? 'EB';
  const val = Math.floor((size / Math.pow(1000, e)) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : goRound0(val)} ${suffix}`;
}

/** `%.0f`: round half to even on exact ties, as Go's strconv does. */
function goRound0(v: number): string {
  const f = Math.floor(v);
  if (v - f === 0.5) return String(f % 2 === 0 ? f : f + 1);
  return String(Math.round(v));
}

/** time.Duration's String(): `1.543843ms`, `5.000704785s`, `850µs`, `1m30s`, `0s`. */
export function goDuration(ns: number): string {
  ns = Math.round(ns);
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = Math.abs(ns);
  const frac = (v: number, digits: number): string => {
    const whole = Math.floor(v / 10 ** digits);
    const rest = (v % 10 ** digits).toString().padStart(digits, '0').replace(/0+$/, '');
    return rest ? `${whole}.${rest}` : `${whole}`;
  };
  let s: string;
  if (u < 1000) s = `${u}ns`;
  else if (u < 1e6) s = `${frac(u, 3)}µs`;
  else if (u < 1e9) s = `${frac(u, 6)}ms`;
  else {
    const h = Math.floor(u / 3.6e12);
    u -= h * 3.6e12;
    const m = Math.floor(u / 6e10);
    u -= m * 6e10;
    s = `${frac(u, 9)}s`;
    if (h > 0) s = `${h}h${m}m${s}`;
    else if (m > 0) s = `${m}m${s}`;
  }
  return neg ? `-${s}` : s;
}

/** time.ParseDuration, in milliseconds; throws Go's error text. */
export function parseGoDuration(text: string): number {
  const r = scanDuration(text);
  if ('ms' in r) return r.ms;
  const quoted = goQuote(text);
  if (r.error === 'missing unit') throw new Error(`time: missing unit in duration ${quoted}`);
  if (r.error === 'unknown unit') throw new Error(`time: unknown unit ${goQuote(r.unit)} in duration ${quoted}`);
  throw new Error(`time: invalid duration ${quoted}`);
}

export class GoParseError extends Error {}

/** strconv.ParseInt(s, base, 64) (base 0: prefixes 0x, 0o, 0b, 0 decide), with Go's error texts. */
export function parseGoInt(s: string, base: 0 | 10 | 16, fn = 'ParseInt'): bigint {
  const syntax = () => new GoParseError(`strconv.${fn}: parsing ${goQuote(s)}: invalid syntax`);
  let body = s;
  let neg = false;
  if (body.startsWith('-') || body.startsWith('+')) {
    if (fn === 'ParseUint') throw syntax();
    neg = body[0] === '-';
    body = body.slice(1);
  }
  let b: number = base;
  if (base === 0) {
    b = 10;
    const lower = body.toLowerCase();
    if (lower.startsWith('0x')) {
      b = 16;
      body = body.slice(2);
    } else if (lower.startsWith('0o')) {
      b = 8;
      body = body.slice(2);
    } else if (lower.startsWith('0b')) {
      b = 2;
      body = body.slice(2);
    } else if (body.length > 1 && body.startsWith('0')) {
      b = 8;
      body = body.slice(1);
    }
  }
  const digits = b === 16 ? /^[0-9a-fA-F]+$/ : b === 8 ? /^[0-7]+$/ : b === 2 ? /^[01]+$/ : /^[0-9]+$/;
  if (!digits.test(body)) throw syntax();
  let v = 0n;
  for (const ch of body.toLowerCase()) v = v * BigInt(b) + BigInt(parseInt(ch, b));
  if (neg) v = -v;
  const max = fn === 'ParseUint' ? (1n << 64n) - 1n : (1n << 63n) - 1n;
  const min = fn === 'ParseUint' ? 0n : -(1n << 63n);
  if (v > max || v < min) throw new GoParseError(`strconv.${fn}: parsing ${goQuote(s)}: value out of range`);
  return v;
}

/** strconv.ParseBool. */
export function parseGoBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new GoParseError(`strconv.ParseBool: parsing ${goQuote(s)}: invalid syntax`);
}

/** fmt's %v of a []string: `[a b c]`. */
export function goList(items: string[]): string {
  return `[${items.join(' ')}]`;
}
