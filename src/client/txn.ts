// Transactions: compares and operations as small values, and a builder
// (`client.txn().if(...).then(...).else(...).commit()`), as clientv3 has them.
import { b64, keyRange, toBytes, toId, type Bytes, type RangeSpec } from './bytes.js';
import { deleteRequest, putRequest, rangeRequest, type DeleteOptions, type GetOptions, type Json, type PutOptions } from './codec.js';
import type { TxnResponse } from './types.js';

export type CompareOp = '=' | '==' | '!=' | '>' | '<';
export type CompareTargetName = 'VERSION' | 'CREATE' | 'MOD' | 'VALUE' | 'LEASE';

const RESULT: Record<CompareOp, string> = { '=': 'EQUAL', '==': 'EQUAL', '!=': 'NOT_EQUAL', '>': 'GREATER', '<': 'LESS' };

/** One compare of a txn (`Compare.version(key, '>', 0)`), already in the gateway's form. */
export interface TxnCompare {
  readonly target: CompareTargetName;
  readonly op: CompareOp;
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly operand: number | bigint | Uint8Array;
}

function cmp(target: CompareTargetName, key: Bytes, op: CompareOp, operand: number | bigint | Uint8Array, range?: RangeSpec): TxnCompare {
  if (!(op in RESULT)) throw new TypeError(`bad compare operator ${JSON.stringify(op)} (use =, !=, > or <)`);
  const r = keyRange(key, range);
  const c: { -readonly [K in keyof TxnCompare]: TxnCompare[K] } = { target, op, key: r.key, operand };
  if (r.range_end) c.rangeEnd = r.range_end;
  return c;
}

/** Compare helpers; the optional last argument makes the compare hold for every key of a range. */
export const Compare = {
  value: (key: Bytes, op: CompareOp, value: Bytes, range?: RangeSpec): TxnCompare => cmp('VALUE', key, op, toBytes(value), range),
  version: (key: Bytes, op: CompareOp, version: number, range?: RangeSpec): TxnCompare => cmp('VERSION', key, op, version, range),
  createRevision: (key: Bytes, op: CompareOp, revision: number, range?: RangeSpec): TxnCompare => cmp('CREATE', key, op, revision, range),
  modRevision: (key: Bytes, op: CompareOp, revision: number, range?: RangeSpec): TxnCompare => cmp('MOD', key, op, revision, range),
  lease: (key: Bytes, op: CompareOp, lease: bigint | string | number, range?: RangeSpec): TxnCompare => cmp('LEASE', key, op, toId(lease), range),
};

/** One operation of a txn. */
export type TxnOp =
  | { readonly type: 'get'; readonly request: Json }
  | { readonly type: 'put'; readonly request: Json }
  | { readonly type: 'delete'; readonly request: Json }
  | { readonly type: 'txn'; readonly request: Json; readonly writes: boolean };

export const Op = {
  get: (key: Bytes, opts?: GetOptions): TxnOp => ({ type: 'get', request: rangeRequest(key, opts) }),
  put: (key: Bytes, value: Bytes, opts?: PutOptions): TxnOp => ({ type: 'put', request: putRequest(key, value, opts) }),
  delete: (key: Bytes, opts?: DeleteOptions): TxnOp => ({ type: 'delete', request: deleteRequest(key, opts) }),
  txn: (compares: TxnCompare[], success: TxnOp[], failure: TxnOp[] = []): TxnOp => ({
    type: 'txn',
    request: txnRequest(compares, success, failure),
    writes: hasWrites(success) || hasWrites(failure),
  }),
};

export function hasWrites(ops: TxnOp[]): boolean {
  return ops.some((o) => o.type === 'put' || o.type === 'delete' || (o.type === 'txn' && o.writes));
}

function compareJson(c: TxnCompare): Json {
  const o: Json = { result: RESULT[c.op], target: c.target, key: b64(c.key) };
  if (c.rangeEnd) o.range_end = b64(c.rangeEnd);
  switch (c.target) {
    case 'VALUE':
      o.value = b64(c.operand as Uint8Array);
      break;
    case 'VERSION':
      o.version = String(c.operand);
      break;
    case 'CREATE':
      o.create_revision = String(c.operand);
      break;
    case 'MOD':
      o.mod_revision = String(c.operand);
      break;
    case 'LEASE':
      o.lease = String(c.operand);
      break;
  }
  return o;
}

function opJson(op: TxnOp): Json {
  switch (op.type) {
    case 'get':
      return { request_range: op.request };
    case 'put':
      return { request_put: op.request };
    case 'delete':
      return { request_delete_range: op.request };
    case 'txn':
      return { request_txn: op.request };
  }
}

export function txnRequest(compares: TxnCompare[], success: TxnOp[], failure: TxnOp[]): Json {
  const o: Json = {};
  if (compares.length) o.compare = compares.map(compareJson);
  if (success.length) o.success = success.map(opJson);
  if (failure.length) o.failure = failure.map(opJson);
  return o;
}

export interface CommitOptions {
  /** Retry this txn after a failure that leaves its outcome unknown (it is safe to apply twice). */
  idempotent?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** `client.txn().if(...).then(...).else(...).commit()`. `if` and `then`/`else` may be called once each, in that order. */
export class TxnBuilder {
  private compares: TxnCompare[] = [];
  private success: TxnOp[] = [];
  private failure: TxnOp[] = [];
  private stage = 0;

  constructor(private readonly run: (request: Json, writes: boolean, opts: CommitOptions) => Promise<TxnResponse>) {}

  if(...compares: TxnCompare[]): this {
    if (this.stage > 0) throw new Error('txn: if() after then() or else()');
    this.stage = 1;
    this.compares.push(...compares);
    return this;
  }

  then(...ops: TxnOp[]): this {
    // A builder has a `then` method, so `await builder` (plain JS; TypeScript refuses it) calls it
    // with the promise callbacks: commit and settle instead of taking them for operations.
    if (typeof (ops[0] as unknown) === 'function') {
      const [ok, ko] = ops as unknown as [(v: TxnResponse) => unknown, ((e: unknown) => unknown) | undefined];
      void this.commit().then(ok, ko);
      return this;
    }
    if (this.stage > 1) throw new Error('txn: then() after else()');
    this.stage = 2;
    this.success.push(...ops);
    return this;
  }

  else(...ops: TxnOp[]): this {
    if (this.stage > 2) throw new Error('txn: else() called twice');
    this.stage = 3;
    this.failure.push(...ops);
    return this;
  }

  /** The request as the gateway takes it (for printing or sending by hand). */
  request(): Json {
    return txnRequest(this.compares, this.success, this.failure);
  }

  commit(opts: CommitOptions = {}): Promise<TxnResponse> {
    return this.run(this.request(), hasWrites(this.success) || hasWrites(this.failure), opts);
  }
}
