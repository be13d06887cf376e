// Big-endian integers written byte by byte into a key: bytewise order of the key is then numeric
// order. Plain stores instead of a DataView per key (on the apply and log hot paths a DataView cost
// about as much as the rest of a record key).

const TWO_32 = 0x1_0000_0000;

export function putUint32BE(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/** A safe non-negative integer as 8 bytes. */
export function putUint64BE(b: Uint8Array, at: number, v: number): void {
  putUint32BE(b, at, Math.floor(v / TWO_32));
  putUint32BE(b, at + 4, v % TWO_32);
}
