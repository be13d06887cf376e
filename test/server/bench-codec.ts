// Codec micro-benchmark (not a test): CPU per request of the JSON codec alone (parse + decode of the
// request body, encode of the response), for a put and a range like kvload's (8-byte key, 256-byte value).
//   node --import=file://$PWD/node_modules/@tapjs/typescript/dist/esm/import.mjs test/server/bench-codec.ts
import { parseUnaryBody } from '../../src/server/http/body.js';
import { decodePutRequest, decodeRangeRequest } from '../../src/server/http/codec/decode.js';
import { encodePutResponse, encodeRangeResponse } from '../../src/server/http/codec/encode.js';

const key = Buffer.from('00001234');
const value = Buffer.alloc(256, 97);
const header = { cluster_id: 4224045203433386, member_id: 8315221108441839, revision: 123456, raft_term: 2 };
const putBody = Buffer.from(JSON.stringify({ key: key.toString('base64'), value: value.toString('base64') }));
const rangeBody = Buffer.from(JSON.stringify({ key: key.toString('base64') }));
const rangeResp = { header, kvs: [{ key, create_revision: 100, mod_revision: 123000, version: 7, value, lease: 0n }], more: false, count: 1 };
const putResp = { header };

function bench(name: string, n: number, fn: () => unknown): void {
  for (let i = 0; i < n / 10; i++) fn();
  const t0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const wall = Number(process.hrtime.bigint() - w0) / n;
  const cpu = process.cpuUsage(t0);
  console.log(`${name.padEnd(44)} ${(wall / 1000).toFixed(2)} µs/op wall, ${((cpu.user + cpu.system) / n).toFixed(2)} µs/op CPU`);
}

const N = 200_000;
bench('put: body -> PutRequest', N, () => decodePutRequest(parseUnaryBody(putBody.toString('latin1'))));
bench('put: PutResponse -> JSON', N, () => encodePutResponse(putResp));
bench('range: body -> RangeRequest', N, () => decodeRangeRequest(parseUnaryBody(rangeBody.toString('latin1'))));
bench('range: RangeResponse (1 kv, 256 B) -> JSON', N, () => encodeRangeResponse(rangeResp));
bench('baseline: JSON.parse(put body)', N, () => JSON.parse(putBody.toString('utf8')));
bench('baseline: JSON.stringify(range-like object)', N, () =>
  JSON.stringify({ header: { cluster_id: '4224045203433386', member_id: '8315221108441839', revision: '123456', raft_term: '2' }, kvs: [{ key: key.toString('base64'), create_revision: '100', mod_revision: '123000', version: '7', value: value.toString('base64') }], count: '1' }),
);
