// JSON as Go's encoding/json writes etcdctl's responses: 64-bit integers as bare numbers (IDs
// above 2^53 too, hence bigint), bytes as base64, fields left out when zero where the Go struct
// says omitempty, and <, >, & escaped.
import type { KeyValue } from '../client/index.js';

/** A JSON value whose bigints are written as numbers; `undefined` fields are left out. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [k: string]: JsonValue | undefined };

export function encodeJson(v: JsonValue | undefined): string {
  if (v === undefined || v === null) return 'null';
  switch (typeof v) {
    case 'bigint':
      return v.toString();
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'string':
      return goString(v);
  }
  if (Array.isArray(v)) return `[${v.map((x) => encodeJson(x)).join(',')}]`;
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) continue;
    parts.push(`${goString(k)}:${encodeJson(x)}`);
  }
  return `{${parts.join(',')}}`;
}

function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** omitempty: the value, or undefined when it is Go's zero value. */
export function omit<T extends JsonValue>(v: T | undefined): T | undefined {
  if (v === undefined || v === null || v === 0 || v === 0n || v === '' || v === false) return undefined;
  if (Array.isArray(v) && v.length === 0) return undefined;
  return v;
}

export function b64(b: Uint8Array | undefined): string {
  if (!b || b.length === 0) return '';
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

export interface HeaderLike {
  cluster_id?: bigint | number;
  member_id?: bigint | number;
  revision?: number;
  raft_term?: number;
}

/** etcdserverpb.ResponseHeader (every field omitempty). */
export function headerJson(h: HeaderLike | undefined): { [k: string]: JsonValue | undefined } {
  return {
    cluster_id: omit(h?.cluster_id === undefined ? undefined : BigInt(h.cluster_id)),
    member_id: omit(h?.member_id === undefined ? undefined : BigInt(h.member_id)),
    revision: omit(h?.revision),
    raft_term: omit(h?.raft_term),
  };
}

/** mvccpb.KeyValue (every field omitempty, bytes in base64). */
export function kvJson(kv: KeyValue): JsonValue {
  return {
    key: omit(b64(kv.key)),
    create_revision: omit(kv.create_revision),
    mod_revision: omit(kv.mod_revision),
    version: omit(kv.version),
    value: omit(b64(kv.value)),
    lease: omit(kv.lease),
  };
}
