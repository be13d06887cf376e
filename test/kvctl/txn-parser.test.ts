// etcdctl's txn input syntax: compares, request lines, the three blocks, and the error texts of
// etcdctl 3.4.23 (exit code 3).
import { Readable } from 'node:stream';
import t from 'tap';
import { LineReader } from '../../src/kvctl/io.js';
import { argify, parseCompare, parseRequestLine, readTxn } from '../../src/kvctl/txn-parser.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

t.test('argify: quotes as etcdctl', async (t) => {
  t.same(argify('put key1 "overwrote-key1"'), ['put', 'key1', 'overwrote-key1']);
  t.same(argify(`put a 'hello world'`), ['put', 'a', 'hello world'], 'single quotes keep the text (etcdctl 3.4 keeps one character: a bug)');
  t.same(argify('put b "x\\ty"'), ['put', 'b', 'x\ty']);
  t.same(argify('  get   foo --prefix  '), ['get', 'foo', '--prefix']);
  t.same(argify(''), []);
  t.throws(() => argify('put a "bad \\q"'), { exitCode: 3 } as never);
});

t.test('compares: targets, operators, values', async (t) => {
  t.same(parseCompare('mod("key1") > "0"'), { target: 'MOD', op: '>', key: Buffer.from('key1'), operand: 0 });
  t.same(parseCompare('m("key1") < "7"'), { target: 'MOD', op: '<', key: Buffer.from('key1'), operand: 7 });
  t.same(parseCompare('ver("k") = "2"'), { target: 'VERSION', op: '=', key: Buffer.from('k'), operand: 2 });
  t.same(parseCompare('version("k") != "2"').target, 'VERSION');
  t.same(parseCompare('c("k") = "0"').target, 'CREATE');
  t.same(parseCompare('create("k") = "0"').operand, 0);
  const v = parseCompare('value("user1") = "bad"');
  t.equal(v.target, 'VALUE');
  t.equal(Buffer.from(v.operand as Uint8Array).toString(), 'bad');
  t.equal(parseCompare('val("k\\x41") =   "a b"').key.toString(), 'kA');
  t.same(parseCompare('lease("k") = "1234abcd"').operand, 0x1234abcdn);
  t.equal(parseCompare('value(`raw`) == "x"').op, '==');
  const bad: [string, string][] = [
    ['bogus', 'malformed comparison: bogus'],
    ['mod(key1) > "0"', 'malformed comparison: mod(key1) > "0"; got mod("")  ""'],
    ['mod("key1")>"0"', 'malformed comparison: mod("key1")>"0"; got mod("key1")  ""'],
    ['mod("key1") > 0', 'malformed comparison: mod("key1") > 0; got mod("key1") > ""'],
    ['mod("key1" > "0"', 'malformed comparison: mod("key1" > "0"; got mod("key1")  ""'],
    ['mod("key1") >"0"', 'malformed comparison: mod("key1") >"0"; got mod("key1") >"0" ""'],
    ['xyz("a") = "b"', 'malformed comparison: xyz("a") = "b" (unknown target xyz)'],
    ['version("a") = "x"', 'invalid txn compare request: version("a") = "x"'],
    ['lease("a") = "zz"', 'invalid txn compare request: lease("a") = "zz"'],
    ['mod("a") >= "1"', 'malformed comparison: mod("a") >= "1" (unknown operator >=)'],
  ];
  for (const [line, message] of bad) t.throws(() => parseCompare(line), { message, exitCode: 3 } as never, line);
});

t.test('request lines: put, get, del with their flags', async (t) => {
  const put = parseRequestLine('put key1 "overwrote-key1" --prev-kv');
  t.equal(put.type, 'put');
  t.same(put.request, { key: b64('key1'), value: b64('overwrote-key1'), prev_kv: true });
  const get = parseRequestLine('get foo --prefix --limit=2 --sort-by=MODIFY --order=DESCEND');
  t.same(get.request, { key: b64('foo'), range_end: b64('fop'), limit: '2', sort_order: 'DESCEND', sort_target: 'MOD' });
  const del = parseRequestLine('del a c');
  t.same(del.request, { key: b64('a'), range_end: b64('c') });
  t.same(parseRequestLine('del user1 --prev-kv').request, { key: b64('user1'), prev_kv: true });
  t.same(parseRequestLine('put k v --lease=1234abcd').request, { key: b64('k'), value: b64('v'), lease: String(0x1234abcd) });
  t.throws(() => parseRequestLine('bogus x'), { message: 'invalid txn request: bogus x', exitCode: 3 } as never);
  t.throws(() => parseRequestLine('get'), { message: 'invalid txn compare request: get', exitCode: 3 } as never);
  t.throws(() => parseRequestLine('get foo --nope'), { message: 'invalid txn request: get foo --nope', exitCode: 3 } as never);
  t.throws(() => parseRequestLine('get foo --sort-by=X'), { message: 'bad sort target X', exitCode: 4 } as never);
  t.throws(() => parseRequestLine('put k'), { exitCode: 128 } as never);
});

async function read(input: string) {
  return readTxn(new LineReader(Readable.from([Buffer.from(input)])));
}

t.test('the three blocks, each ended by an empty line', async (t) => {
  const r = await read('mod("key1") > "0"\n\nput key1 "overwrote-key1"\n\nput key1 "created-key1"\nput key2 "some extra key"\n\n');
  t.equal(r.compares.length, 1);
  t.equal(r.success.length, 1);
  t.equal(r.failure.length, 2);
  const empty = await read('\n\n\n');
  t.same([empty.compares, empty.success, empty.failure], [[], [], []]);
  const spaces = await read('  \n\t\n   \n');
  t.same(spaces.success, []);
  await t.rejects(read('value("user1") = "bad"\n'), { message: 'EOF', exitCode: 3 } as never);
  await t.rejects(read(''), { message: 'EOF' } as never);
  await t.rejects(read('\n\nput a b'), { message: 'EOF' } as never, 'a last line without newline is EOF, as Go');
  const prompts: string[] = [];
  await readTxn(new LineReader(Readable.from([Buffer.from('\n\n\n')])), (s) => prompts.push(s));
  t.same(prompts, ['compares:', 'success requests (get, put, del):', 'failure requests (get, put, del):']);
});
