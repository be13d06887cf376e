// Standard base64 with padding, decoded as Go's encoding/base64 StdEncoding does (the gateway
// decodes `bytes` fields with it): '\r' and '\n' are skipped, anything else outside the alphabet or
// a missing/misplaced '=' is "illegal base64 data at input byte N" with Go's N.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE = new Int16Array(256).fill(-1);
for (let k = 0; k < 64; k++) DECODE[ALPHABET.charCodeAt(k)] = k;

const NOT_BASE64 = /[^A-Za-z0-9+/=]/;

export class Base64Error extends Error {
  constructor(readonly offset: number) {
    super(`illegal base64 data at input byte ${offset}`);
  }
}

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/**
 * Decodes `s` (one char per byte). Small results are views into Node's shared 8 KiB buffer pool
 * (a copy would cost more than the decoding): a service that keeps request bytes for long should
 * copy them (a Raft-backed one serializes them anyway).
 */
export function decodeBase64(s: string): Uint8Array {
  const n = s.length;
  if (n === 0) return EMPTY_BYTES;
  if ((n & 3) === 0 && !NOT_BASE64.test(s)) {
    const eq = s.indexOf('=');
    // Clean standard base64: Node's decoder gives Go's bytes.
    if (eq < 0 || eq === n - 1 || (eq === n - 2 && s.charCodeAt(n - 1) === 61)) return Buffer.from(s, 'base64');
  }
  return decodeSlow(s);
}

/** Go's decodeQuantum loop, error offsets included. */
function decodeSlow(src: string): Uint8Array {
  const n = src.length;
  const dst = Buffer.allocUnsafeSlow(Math.floor(n / 4) * 3 + 3);
  let di = 0;
  let si = 0;
  const dbuf = [0, 0, 0, 0];
  for (;;) {
    let dlen = 4;
    let j = 0;
    let done = false;
    for (; j < 4; j++) {
      if (si === n) {
        if (j === 0) return dst.subarray(0, di);
        // A quantum cut short: StdEncoding wants padding.
        throw new Base64Error(si - j);
      }
      const inCh = src.charCodeAt(si);
      si++;
      const out = inCh < 256 ? DECODE[inCh] : -1;
      if (out >= 0) {
        dbuf[j] = out;
        continue;
      }
      if (inCh === 10 || inCh === 13) {
        j--;
        continue;
      }
      if (inCh !== 61) throw new Base64Error(si - 1);
      // Padding.
      switch (j) {
        case 0:
        case 1:
          throw new Base64Error(si - 1);
        case 2:
          while (si < n && (src.charCodeAt(si) === 10 || src.charCodeAt(si) === 13)) si++;
          if (si === n) throw new Base64Error(n);
          if (src.charCodeAt(si) !== 61) throw new Base64Error(si - 1);
          si++;
          break;
      }
      while (si < n && (src.charCodeAt(si) === 10 || src.charCodeAt(si) === 13)) si++;
      if (si < n) throw new Base64Error(si);
      dlen = j;
      done = true;
      break;
    }
    const val = (dbuf[0] << 18) | (dbuf[1] << 12) | (dbuf[2] << 6) | dbuf[3];
    if (dlen === 4) {
      dst[di++] = (val >> 16) & 0xff;
      dst[di++] = (val >> 8) & 0xff;
      dst[di++] = val & 0xff;
    } else if (dlen === 3) {
      dst[di++] = (val >> 16) & 0xff;
      dst[di++] = (val >> 8) & 0xff;
    } else if (dlen === 2) {
      dst[di++] = (val >> 16) & 0xff;
    }
    if (done) return dst.subarray(0, di);
  }
}

/** Buffer's native encoder, called on any Uint8Array (it takes array views); no Buffer object made. */
const base64Slice = (Buffer.prototype as unknown as { base64Slice: (this: Uint8Array, start: number, end: number) => string }).base64Slice;

/** Standard base64 of a byte array. */
export function encodeBase64(b: Uint8Array): string {
  if (b.length === 0) return '';
  return base64Slice.call(b, 0, b.byteLength);
}
