// Alarms applied from the log: what each one refuses, and that they are part of the replicated,
// durable state (a reopen and a snapshot restore keep them).
import t from 'tap';
import { AlarmAction, AlarmType } from '../../src/kv/api.js';
import { b, Driver, errText } from './helpers.js';

const NOSPACE = 'etcdserver: mvcc: database space exceeded';
const CORRUPT = 'etcdserver: corrupt cluster';

const alarm = (d: Driver, action: AlarmAction, memberID: number, type: AlarmType) => d.req({ alarm: { action, memberID, alarm: type } });

t.test('NOSPACE refuses the writes that add data, and only those', async (t) => {
  const d = await Driver.open(t);
  await d.put('a', '1');
  await d.put('b', '1');
  await d.grant(7n, 60);
  t.same(await alarm(d, AlarmAction.ACTIVATE, 42, AlarmType.NOSPACE), { alarms: [{ memberID: 42, alarm: AlarmType.NOSPACE }] });
  t.same(await alarm(d, AlarmAction.ACTIVATE, 42, AlarmType.NOSPACE), { alarms: [{ memberID: 42, alarm: AlarmType.NOSPACE }] }, 'raised twice: answered, kept once');
  t.same(d.store.alarms(), [{ memberID: 42, alarm: AlarmType.NOSPACE }]);
  const rev = d.store.currentRevision();
  t.equal(errText(await d.req({ put: { key: b('a'), value: b('2') } })), NOSPACE, 'put');
  t.equal(errText(await d.grant(8n, 60)), NOSPACE, 'lease grant');
  const nestedPut = { request_txn: { compare: [], success: [], failure: [{ request_put: { key: b('c'), value: b('1') } }] } };
  t.equal(errText(await d.txn({ success: [{ request_range: { key: b('a') } }, nestedPut] })), NOSPACE, 'a txn with a put anywhere, nested, in either branch');
  t.equal(d.store.currentRevision(), rev, 'nothing refused changed the revision');
  t.same(await d.kv('a'), ['a=1']);
  t.equal(errText(await d.txn({ success: [{ request_range: { key: b('a') } }] })), undefined, 'a read-only txn applies');
  t.equal(errText(await d.req({ delete_range: { key: b('b') } })), undefined, 'a delete applies (it frees space)');
  t.equal(errText(await d.revoke(7n)), undefined, 'a lease revoke applies');
  t.equal(errText(await d.compact(d.store.currentRevision())), undefined, 'a compaction applies');
  t.same(await alarm(d, AlarmAction.DEACTIVATE, 42, AlarmType.NOSPACE), { alarms: [{ memberID: 42, alarm: AlarmType.NOSPACE }] });
  t.same(await alarm(d, AlarmAction.DEACTIVATE, 42, AlarmType.NOSPACE), { alarms: [] }, 'nothing left to clear');
  t.equal(errText(await d.req({ put: { key: b('a'), value: b('2') } })), undefined, 'writes apply again once disarmed');
});

t.test('CORRUPT refuses every write; alarms survive a reopen and travel in snapshots', async (t) => {
  const d = await Driver.open(t);
  await d.put('a', '1');
  await alarm(d, AlarmAction.ACTIVATE, 3, AlarmType.CORRUPT);
  await alarm(d, AlarmAction.ACTIVATE, 4, AlarmType.NOSPACE);
  t.equal(errText(await d.req({ delete_range: { key: b('a') } })), CORRUPT, 'a delete too');
  t.equal(errText(await d.compact(1)), CORRUPT, 'and a compaction');
  t.equal(errText(await d.txn({ success: [{ request_delete_range: { key: b('a') } }] })), CORRUPT, 'and a txn that deletes');
  const readOnly = { compare: [], success: [{ request_range: { key: b('a') } }], failure: [] };
  t.equal(errText(await d.txn(readOnly)), CORRUPT, 'a txn of ranges that came through the log too (as etcd: a member does not propose one)');
  const [first] = (await d.store.readTxn(readOnly)).responses;
  t.equal(first && 'response_range' in first ? first.response_range.count : -1, 1, 'served without the log, it reads');
  const both = [
    { memberID: 3, alarm: AlarmType.CORRUPT },
    { memberID: 4, alarm: AlarmType.NOSPACE },
  ];
  await d.store.persist();
  await d.reopen();
  t.same(d.store.alarms(), both, 'after a reopen');
  t.equal(errText(await d.req({ put: { key: b('a'), value: b('2') } })), CORRUPT);
  const other = await Driver.open(t);
  await other.store.restore(await d.store.snapshot(), d.index);
  t.same(other.store.alarms(), both, 'a member restored from a snapshot has them');
  await other.reopen();
  t.same(other.store.alarms(), both, 'and keeps them');
  await alarm(d, AlarmAction.DEACTIVATE, 3, AlarmType.CORRUPT);
  t.equal(errText(await d.req({ delete_range: { key: b('a') } })), undefined, 'with only NOSPACE left, deletes apply');
});
