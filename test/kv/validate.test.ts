import t from 'tap';
import { CompareResult, CompareTarget, type RequestOp, type TxnRequest } from '../../src/kv/api.js';
import { validateDeleteRange, validatePut, validateRange, validateTxn } from '../../src/kv/validate.js';
import { b } from './helpers.js';

const put = (k: string): RequestOp => ({ request_put: { key: b(k), value: b('v') } });
const del = (k: string, end?: string | Uint8Array): RequestOp => ({
  request_delete_range: { key: b(k), range_end: typeof end === 'string' ? b(end) : end },
});
const rng = (k: string): RequestOp => ({ request_range: { key: b(k) } });
const txn = (success: RequestOp[], failure: RequestOp[] = [], compare: TxnRequest['compare'] = []): TxnRequest => ({ compare, success, failure });
const nested = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({ request_txn: txn(success, failure) });
const msg = (e: unknown) => (e as Error | undefined)?.message;

const DUP = 'etcdserver: duplicate key given in txn request';
const TOO_MANY = 'etcdserver: too many operations in txn request';

t.test('put, range and delete checks', async (t) => {
  t.equal(msg(validatePut({ key: new Uint8Array(0) })), 'etcdserver: key is not provided');
  t.equal(msg(validatePut({ key: b('k'), ignore_value: true, value: b('x') })), 'etcdserver: value is provided');
  t.equal(msg(validatePut({ key: b('k'), ignore_lease: true, lease: 5n })), 'etcdserver: lease is provided');
  t.equal(validatePut({ key: b('k'), ignore_value: true, ignore_lease: true, lease: 0n }), undefined);
  t.equal(msg(validateRange({ key: new Uint8Array(0) })), 'etcdserver: key is not provided');
  t.equal(msg(validateDeleteRange({ key: new Uint8Array(0) })), 'etcdserver: key is not provided');
  t.equal(validateRange({ key: new Uint8Array([0]), range_end: new Uint8Array([0]) }), undefined);
});

t.test('128 operations per list, counted separately, at every level', async (t) => {
  const ops = (n: number, p: string) => Array.from({ length: n }, (_, i) => put(`${p}${i}`));
  const cmps = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ result: CompareResult.EQUAL, target: CompareTarget.VERSION, key: b(`c${i}`), version: 0 }));
  t.equal(validateTxn(txn(ops(128, 's'), ops(128, 'f'), cmps(128))), undefined, '128 + 128 + 128 is fine');
  t.equal(msg(validateTxn(txn(ops(129, 's')))), TOO_MANY);
  t.equal(msg(validateTxn(txn([], ops(129, 'f')))), TOO_MANY);
  t.equal(msg(validateTxn(txn([], [], cmps(129)))), TOO_MANY);
  t.equal(msg(validateTxn(txn([nested(ops(129, 'n'))]))), TOO_MANY, 'nested');
  t.equal(msg(validateTxn(txn(ops(10, 'x')), 5)), TOO_MANY, 'configurable limit');
});

t.test('empty keys anywhere', async (t) => {
  const empty = new Uint8Array(0);
  t.equal(msg(validateTxn(txn([], [], [{ result: 0, target: 0, key: empty }]))), 'etcdserver: key is not provided');
  t.equal(msg(validateTxn(txn([], [{ request_range: { key: empty } }]))), 'etcdserver: key is not provided');
  t.equal(msg(validateTxn(txn([nested([{ request_delete_range: { key: empty } }])]))), 'etcdserver: key is not provided');
  t.equal(msg(validateTxn(txn([{ request_put: { key: b('k'), ignore_lease: true, lease: 1n } }]))), 'etcdserver: lease is provided');
});

t.test('duplicate keys, as etcd 3.4 checkIntervals', async (t) => {
  t.equal(msg(validateTxn(txn([put('a'), put('a')]))), DUP, 'put and put');
  t.equal(msg(validateTxn(txn([put('a'), del('a')]))), DUP, 'put and delete');
  t.equal(msg(validateTxn(txn([del('a'), put('a')]))), DUP, 'delete and put');
  t.equal(msg(validateTxn(txn([del('a', 'c'), put('b')]))), DUP, 'put inside a deleted range');
  t.equal(validateTxn(txn([del('a', 'c'), put('c')])), undefined, 'range end is exclusive');
  t.equal(msg(validateTxn(txn([put('a'), nested([put('a')])]))), DUP, 'outer and nested');
  t.equal(msg(validateTxn(txn([nested([], [put('a')]), put('a')]))), DUP, 'nested failure branch and outer');
  t.equal(msg(validateTxn(txn([del('a', 'z'), nested([put('b')])]))), DUP, 'outer delete, nested put');
  t.equal(msg(validateTxn(txn([nested([del('a', 'z')]), put('b')]))), DUP, 'nested delete, outer put');
  t.equal(msg(validateTxn(txn([nested([put('a')]), nested([put('a')])]))), DUP, 'two nested txns');
  t.equal(msg(validateTxn(txn([], [put('x'), put('x')]))), DUP, 'in the failure branch too');
  t.equal(validateTxn(txn([put('a')], [put('a')])), undefined, 'success and failure branches may share keys');
  t.equal(validateTxn(txn([nested([put('a')], [put('a')])])), undefined, 'so may a nested txn');
  t.equal(validateTxn(txn([del('a'), del('a')])), undefined, 'two deletes may overlap');
  t.equal(validateTxn(txn([del('a', 'z'), del('b', 'c')])), undefined);
  t.equal(validateTxn(txn([rng('a'), put('a'), rng('a')])), undefined, 'ranges do not count');
  t.equal(validateTxn(txn([del('b', 'a'), put('a')])), undefined, 'an empty range conflicts with nothing');
  // etcd 3.4 quirk: range_end "\0" becomes the empty interval [key, "\0").
  t.equal(validateTxn(txn([del('a', new Uint8Array([0])), put('b')])), undefined, 'from-key delete conflicts with nothing');
  t.equal(validateTxn(txn([]), undefined), undefined, 'empty txn');
});
