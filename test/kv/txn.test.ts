// Txn semantics with etcd 3.4's numbers (each expectation was checked against etcd 3.4.23).
import t from 'tap';
import { CompareResult as R, CompareTarget as T, type Compare, type RequestOp, type TxnResponse } from '../../src/kv/api.js';
import { isTxnReadOnly, isTxnSerializable } from '../../src/kv/txn.js';
import { b, coldValues, Driver, errText, rejects, s } from './helpers.js';

const put = (k: string, v = '', extra = {}): RequestOp => ({ request_put: { key: b(k), value: b(v), ...extra } });
const del = (k: string, end?: string | Uint8Array): RequestOp => ({
  request_delete_range: { key: b(k), range_end: typeof end === 'string' ? b(end) : end },
});
const rng = (k: string, extra = {}): RequestOp => ({ request_range: { key: b(k), ...extra } });
const cmp = (k: string, target: T, result: R, operand: Partial<Compare> = {}): Compare => ({ key: b(k), target, result, ...operand });
const ok = (r: unknown): TxnResponse => {
  if (!r || typeof r !== 'object' || !('succeeded' in r)) throw new Error(`not a txn response: ${String(r)}`);
  return r as TxnResponse;
};

t.test('revisions of txns', async (t) => {
  const d = await Driver.open(t);
  await d.put('a', '1'); // 2
  let r = ok(await d.txn({}));
  t.same([r.header.revision, r.succeeded, r.responses], [2, true, []], 'an empty txn succeeds and does not bump');
  r = ok(await d.txn({ success: [rng('a')] }));
  t.equal(r.header.revision, 2, 'read-only txn');
  r = ok(await d.txn({ success: [del('missing')] }));
  t.equal(r.header.revision, 2, 'deleting only missing keys');
  t.equal(d.store.currentRevision(), 2);

  r = ok(await d.txn({ success: [rng('b'), put('b', 'x'), del('zz'), rng('b'), put('c', 'y')] }));
  t.equal(r.header.revision, 3, 'one revision for all writes');
  const rr = r.responses.map((x) => Object.values(x)[0].header.revision);
  t.same(rr, [2, 3, 3, 3, 3], 'range before the first write reports the old revision; after it the new one');
  const [before, , , after] = r.responses as { response_range: { kvs: unknown[]; count: number } }[];
  t.same([before!.response_range.count, after!.response_range.count], [0, 1], 'a range sees the txn’s earlier writes');
  const b1 = (await d.get('b')).kvs[0]!;
  const c1 = (await d.get('c')).kvs[0]!;
  t.same([b1.mod_revision, c1.mod_revision, b1.version, c1.version], [3, 3, 1, 1]);
});

t.test('compares', async (t) => {
  const d = await Driver.open(t);
  await d.grant(9n, 60);
  await d.put('k', 'v', { lease: 9n }); // 2
  await d.put('k', 'w', { lease: 9n }); // 3 (create 2, version 2)
  const run = async (c: Compare) => ok(await d.txn({ compare: [c] })).succeeded;
  t.equal(await run(cmp('k', T.VERSION, R.EQUAL, { version: 2 })), true);
  t.equal(await run(cmp('k', T.VERSION, R.GREATER, { version: 1 })), true);
  t.equal(await run(cmp('k', T.VERSION, R.LESS, { version: 2 })), false);
  t.equal(await run(cmp('k', T.CREATE, R.EQUAL, { create_revision: 2 })), true);
  t.equal(await run(cmp('k', T.MOD, R.EQUAL, { mod_revision: 3 })), true);
  t.equal(await run(cmp('k', T.MOD, R.NOT_EQUAL, { mod_revision: 3 })), false);
  t.equal(await run(cmp('k', T.VALUE, R.EQUAL, { value: b('w') })), true);
  t.equal(await run(cmp('k', T.VALUE, R.GREATER, { value: b('v') })), true);
  t.equal(await run(cmp('k', T.VALUE, R.LESS, { value: b('wa') })), true);
  t.equal(await run(cmp('k', T.LEASE, R.EQUAL, { lease: 9n })), true);
  t.equal(await run(cmp('k', T.LEASE, R.GREATER, { lease: -5n })), true);
  // A missing key: VALUE is always false, even NOT_EQUAL; the others compare as 0.
  t.equal(await run(cmp('nope', T.VALUE, R.NOT_EQUAL, { value: b('x') })), false);
  t.equal(await run(cmp('nope', T.VALUE, R.EQUAL, { value: new Uint8Array(0) })), false);
  t.equal(await run(cmp('nope', T.VERSION, R.EQUAL, { version: 0 })), true);
  t.equal(await run(cmp('nope', T.CREATE, R.EQUAL, {})), true);
  t.equal(await run(cmp('nope', T.MOD, R.LESS, { mod_revision: 1 })), true);
  t.equal(await run(cmp('nope', T.LEASE, R.EQUAL, {})), true);
  // Ranges: every key must satisfy.
  await d.put('r/1', 'a');
  await d.put('r/2', 'a');
  await d.put('r/3', 'b');
  t.equal(await run(cmp('r/', T.VALUE, R.EQUAL, { value: b('a'), range_end: b('r/3') })), true);
  t.equal(await run(cmp('r/', T.VALUE, R.EQUAL, { value: b('a'), range_end: b('r0') })), false);
  t.equal(await run(cmp('r/', T.VERSION, R.EQUAL, { version: 1, range_end: new Uint8Array([0]) })), true, 'from-key: r/1..r/3');
  t.equal(await run(cmp('k', T.VERSION, R.EQUAL, { version: 1, range_end: new Uint8Array([0]) })), false, 'from k: k has version 2');
  t.equal(await run(cmp('x/', T.VERSION, R.EQUAL, { version: 0, range_end: b('x0') })), true, 'empty range compares zero');
  t.equal(await run(cmp('x/', T.VALUE, R.NOT_EQUAL, { value: b('x'), range_end: b('x0') })), false);
  // All compares must hold.
  const two = ok(await d.txn({ compare: [cmp('k', T.VERSION, R.EQUAL, { version: 2 }), cmp('k', T.VERSION, R.EQUAL, { version: 3 })] }));
  t.equal(two.succeeded, false);
  const branch = ok(await d.txn({ compare: [cmp('k', T.VALUE, R.EQUAL, { value: b('nope') })], success: [put('s')], failure: [put('f')] }));
  t.same([branch.succeeded, (await d.get('f')).count, (await d.get('s')).count], [false, 1, 0]);
});

t.test('nested txns: compares see the state before the txn; nested header is empty', async (t) => {
  const d = await Driver.open(t);
  for (let i = 0; i < 4; i++) await d.put(`pad${i}`); // up to revision 5, like the etcd check
  const r = ok(
    await d.txn({
      success: [
        put('x', '1'),
        {
          request_txn: {
            compare: [cmp('x', T.VERSION, R.EQUAL, { version: 1 })],
            success: [put('y')],
            failure: [put('z')],
          },
        },
      ],
    }),
  );
  t.equal(r.header.revision, 6);
  const inner = (r.responses[1] as { response_txn: TxnResponse }).response_txn;
  t.same(inner.header, {}, 'a nested response_txn has an empty header');
  t.equal(inner.succeeded, false, 'x did not exist before the txn');
  t.same((inner.responses[0] as { response_put: { header: unknown } }).response_put.header, { revision: 6 });
  t.same([(await d.get('y')).count, (await d.get('z')).count], [0, 1]);
  // A nested txn's writes share the revision.
  const deep = ok(
    await d.txn({ success: [{ request_txn: { compare: [], success: [{ request_txn: { compare: [], success: [put('deep')], failure: [] } }], failure: [] } }] }),
  );
  t.equal(deep.header.revision, 7);
  t.equal((await d.get('deep')).kvs[0]!.mod_revision, 7);
});

t.test('errors: checked before any write, in etcd order', async (t) => {
  const d = await Driver.open(t);
  await d.put('a', '1'); // 2
  await d.compact(2);
  const err = async (x: Parameters<Driver['txn']>[0]) => errText(await d.txn(x));
  t.equal(await err({ success: [put('q', '', { ignore_value: true, lease: 99n })] }), 'etcdserver: key not found', 'in a txn: the key first');
  t.equal(await err({ success: [put('q', '', { lease: 99n }), rng('a', { revision: 99 })] }), 'etcdserver: requested lease not found', 'puts before ranges');
  t.equal(await err({ success: [rng('a', { revision: 99 }), put('q', '', { lease: 99n })] }), 'etcdserver: requested lease not found');
  t.equal(await err({ success: [put('w'), rng('a', { revision: 3 })] }), 'etcdserver: mvcc: required revision is a future revision');
  t.equal(await err({ success: [put('w'), rng('a', { revision: 1 })] }), 'etcdserver: mvcc: required revision has been compacted');
  t.equal(await err({ success: [rng('a', { revision: -5 })] }), 'etcdserver: mvcc: required revision has been compacted', 'etcd: negative below compactMainRev');
  t.equal(await err({ success: [put('w'), { request_txn: { compare: [], success: [put('v', '', { ignore_lease: true })], failure: [] } }] }), 'etcdserver: key not found', 'nested');
  t.equal(await err({ success: [put('x'), put('x')] }), 'etcdserver: duplicate key given in txn request');
  t.equal(await err({ success: Array.from({ length: 129 }, (_, i) => put(`m${i}`)) }), 'etcdserver: too many operations in txn request');
  t.equal(d.store.currentRevision(), 2, 'nothing written');
  t.equal((await d.get('w')).count, 0);
  // Errors on the branch not taken do not matter.
  const r = ok(await d.txn({ compare: [cmp('a', T.VERSION, R.EQUAL, { version: 1 })], success: [put('ok')], failure: [put('bad', '', { lease: 99n })] }));
  t.same([r.succeeded, r.header.revision], [true, 3]);
  // A range at exactly the compacted revision works; at the current revision too, before the writes.
  const at = ok(await d.txn({ success: [put('a', '2'), rng('a', { revision: 2 }), rng('a', { revision: 3 }), rng('a')] }));
  const vals = at.responses.slice(1).map((x) => (x as { response_range: { kvs: { value: Uint8Array }[] } }).response_range.kvs.map((kv) => s(kv.value)));
  t.same(vals, [['1'], ['1'], ['2']], 'explicit revisions do not see the txn’s writes; revision 0 does');
  t.same(
    at.responses.slice(1).map((x) => (x as { response_range: { header: { revision: number } } }).response_range.header.revision),
    [4, 4, 4],
  );
});

t.test('put options and prev_kv inside a txn', async (t) => {
  const d = await Driver.open(t);
  await d.grant(5n, 60);
  await d.put('k', 'v', { lease: 5n });
  const r = ok(await d.txn({ success: [put('k', '', { ignore_value: true, prev_kv: true }), del('other'), { request_delete_range: { key: b('k2'), prev_kv: true } }] }));
  const pr = (r.responses[0] as { response_put: { prev_kv?: { value: Uint8Array } } }).response_put;
  t.equal(s(pr.prev_kv!.value), 'v');
  const kv = (await d.get('k')).kvs[0]!;
  t.same([s(kv.value), kv.lease], ['v', 0n]);
  await d.put('k2', 'x');
  const dr = ok(await d.txn({ success: [{ request_delete_range: { key: b('k'), range_end: b('k3'), prev_kv: true } }] }));
  const resp = (dr.responses[0] as { response_delete_range: { deleted: number; prev_kvs: { key: Uint8Array }[] } }).response_delete_range;
  t.same([resp.deleted, resp.prev_kvs.map((x) => s(x.key))], [2, ['k', 'k2']]);
});

t.test('etcd 3.4: delete from k on and put k again in one txn', async (t) => {
  const d = await Driver.open(t);
  await d.put('w/c', 'c'); // 2
  await d.put('w/d', 'd'); // 3
  const events: string[] = [];
  d.store.onApplied((evs) => {
    for (const e of evs) events.push(`${e.type}:${s(e.kv.key)}@${e.kv.mod_revision}${e.prev_kv ? `<${s(e.prev_kv.value)}` : ''}`);
  });
  const r = ok(await d.txn({ success: [del('w/c', new Uint8Array([0])), put('w/c', 'new')] }));
  t.equal(r.header.revision, 4);
  t.same((r.responses[0] as { response_delete_range: { deleted: number } }).response_delete_range.deleted, 2);
  const kv = (await d.get('w/c')).kvs[0]!;
  t.same([s(kv.value), kv.create_revision, kv.mod_revision, kv.version], ['new', 4, 4, 1], 'a new generation in the same revision');
  // Cold, w/d's value is not loaded for a delete that did not ask for it (w/c's is: the put needs it).
  t.same(events, ['1:w/c@4<c', coldValues() ? '1:w/d@4' : '1:w/d@4<d', '0:w/c@4'], 'the re-create has no prev_kv, as on etcd');
  t.same(await d.kv('w/c', { revision: 3 }), ['w/c=c']);
  const hist = await d.store.events(4, 4, 100, true);
  t.same(
    hist.map((e) => `${e.type}:${s(e.kv.key)}${e.prev_kv ? `<${s(e.prev_kv.value)}` : ''}`),
    ['1:w/c<c', '1:w/d<d', '0:w/c'],
  );
  await d.reopen();
  const again = (await d.get('w/c')).kvs[0]!;
  t.same([s(again.value), again.create_revision, again.version], ['new', 4, 1], 'rebuilt the same way');
  t.equal(d.store.keyCount(), 1);
});

t.test('a txn of ranges: which are read-only and which may skip the linearizable read', async (t) => {
  const tx = (success: RequestOp[], failure: RequestOp[] = []) => ({ compare: [], success, failure });
  t.ok(isTxnReadOnly(tx([rng('a')], [rng('b')])), 'ranges in both branches');
  t.ok(isTxnReadOnly(tx([])), 'compares only');
  t.notOk(isTxnReadOnly(tx([rng('a')], [put('b')])), 'a put in the other branch');
  t.notOk(isTxnReadOnly(tx([del('a')])), 'a delete');
  t.notOk(isTxnReadOnly(tx([{ request_txn: tx([rng('a')]) }])), 'a nested txn, even of ranges (as etcd)');
  t.ok(isTxnSerializable(tx([rng('a', { serializable: true })], [rng('b', { serializable: true })])), 'every range serializable');
  t.notOk(isTxnSerializable(tx([rng('a', { serializable: true })], [rng('b')])), 'one range linearizable');
  t.notOk(isTxnSerializable(tx([])), 'compares only: linearized (etcd 3.4 serves these from local state)');
});

t.test('a read-only txn served without the log answers what its apply would', async (t) => {
  const d = await Driver.open(t);
  await d.put('a', '1'); // 2
  await d.put('b', '2'); // 3
  await d.put('a', '3'); // 4
  const txns = [
    { compare: [cmp('a', T.VALUE, R.EQUAL, { value: b('3') })], success: [rng('a'), rng('b', { revision: 2 })], failure: [rng('b')] },
    { compare: [cmp('a', T.VERSION, R.GREATER, { version: 5 })], success: [rng('a')], failure: [rng('a', { range_end: b('c') }), rng('a', { revision: 3 })] },
    { compare: [], success: [], failure: [] },
  ];
  const index = d.store.appliedIndex();
  for (const [i, txn] of txns.entries()) {
    const read = await d.store.readTxn(txn);
    t.same(read, ok(await d.txn(txn)), `txn ${i}: the same answer as through the log`);
  }
  const read = await d.store.readTxn(txns[0]!);
  t.same(
    read.responses.map((r) => (r as { response_range: { kvs: { value: Uint8Array }[] } }).response_range.kvs.map((kv) => s(kv.value))),
    [['3'], []],
    'the branch taken, each range at its revision (b did not exist at 2)',
  );
  t.equal(read.header.revision, 4);
  t.equal(d.store.currentRevision(), 4, 'no revision');
  t.equal(d.store.appliedIndex(), index + txns.length, 'only the txns applied through the log moved the index');
  t.equal(await rejects(d.store.readTxn({ compare: [], success: [rng('a', { revision: 9 })], failure: [] })), 'etcdserver: mvcc: required revision is a future revision');
  await d.compact(3);
  t.equal(await rejects(d.store.readTxn({ compare: [], success: [rng('a', { revision: 2 })], failure: [] })), 'etcdserver: mvcc: required revision has been compacted');
  t.equal(await rejects(d.store.readTxn({ compare: [], success: [put('a')], failure: [] })), 'readTxn: the txn writes', 'a txn that writes is refused');
  t.equal(d.store.currentRevision(), 4);
});
