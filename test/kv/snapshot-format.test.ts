// The store's snapshot byte string (src/kv/snapshot.ts): what the writer builds, the reader gives
// back, record by record, across the writer's blocks.
import t from 'tap';
import { AlarmType } from '../../src/kv/api.js';
import { KvCorruptError, packr } from '../../src/kv/record-codec.js';
import { revKey } from '../../src/kv/revision.js';
import { readSnapshotHeader, SnapshotWriter, snapshotRecords } from '../../src/kv/snapshot.js';

const header = { applied: 41, revision: 77, compactMain: 12, leases: [[5n, 60]] as [bigint, number][], alarms: [{ memberID: 7, alarm: AlarmType.NOSPACE }] };

function build(records: [Uint8Array, Uint8Array][]): Uint8Array {
  const w = new SnapshotWriter(header);
  for (const [k, v] of records) w.record(k, v);
  return Buffer.concat(w.finish());
}

t.test('the header and every record come back, also across blocks and for a record larger than a block', async (t) => {
  const records: [Uint8Array, Uint8Array][] = [];
  // 12 MiB of records in 300 KiB values: they fill and cross the 8 MiB blocks.
  for (let i = 0; i < 40; i++) records.push([revKey(i + 1, 0), Buffer.alloc(300 * 1024, i)]);
  records.push([revKey(41, 0), Buffer.alloc(9 * 1024 * 1024, 7)]);
  records.push([revKey(42, 1), new Uint8Array(0)]);
  const data = build(records);
  t.equal(data.length, readSnapshotHeader(data).body + records.reduce((n, [k, v]) => n + 4 + k.length + v.length, 0), 'no byte more or less');
  const { header: h, body } = readSnapshotHeader(data);
  t.same(h, header);
  const back = [...snapshotRecords(data, body)];
  t.equal(back.length, records.length);
  t.ok(
    back.every(([k, v], i) => Buffer.compare(k, records[i]![0]) === 0 && Buffer.compare(v, records[i]![1]) === 0),
    'each record byte for byte, in order',
  );
});

t.test('an empty store is a header alone', async (t) => {
  const data = build([]);
  const { body } = readSnapshotHeader(data);
  t.equal(body, data.length);
  t.same([...snapshotRecords(data, body)], []);
});

t.test('damaged byte strings are refused with KvCorruptError', async (t) => {
  const data = build([[revKey(1, 0), Buffer.from('value')]]);
  t.throws(() => readSnapshotHeader(Buffer.from('nope')), KvCorruptError, 'not a snapshot');
  const wrongFormat = Buffer.from(data);
  wrongFormat.writeUInt32BE(9, 4);
  t.throws(() => readSnapshotHeader(wrongFormat), /unknown format 9/);
  const { body } = readSnapshotHeader(data);
  t.throws(() => [...snapshotRecords(data.subarray(0, data.length - 2), body)], /truncated record/);
  const badKey = Buffer.from(data);
  badKey[body + 4] = 0x00;
  t.throws(() => [...snapshotRecords(badKey, body)], /bad record key/);
});

t.test('a header from before alarms (four fields) reads as one with none', async (t) => {
  const head = packr.pack([41, 77, 12, [[5n, 60]]]);
  const data = Buffer.alloc(12 + head.length);
  data.set([0x46, 0x4b, 0x56, 0x53], 0);
  data.writeUInt32BE(1, 4);
  data.writeUInt32BE(head.length, 8);
  data.set(head, 12);
  t.same(readSnapshotHeader(data).header, { ...header, alarms: [] });
  const badAlarms = packr.pack([41, 77, 12, [], [['x', 1]]]);
  const bad = Buffer.concat([data.subarray(0, 8), Buffer.from([0, 0, 0, badAlarms.length]), badAlarms]);
  t.throws(() => readSnapshotHeader(bad), /alarms: bad entry/);
});
