// readRequestHead (the fast path's head reader): which heads it takes, and every shape it leaves
// to Node's HTTP server ('other') or waits on ('more').
import t from 'tap';
import { MAX_HEAD_BYTES, readRequestHead, type HeadResult } from '../../src/server/http/request-head.js';

const H = 'Host: 127.0.0.1\r\n';
const post = (fields: string, body = ''): string => `POST /v3/kv/range HTTP/1.1\r\n${fields}\r\n${body}`;
const ok = (head: string, bodyLength: number, close = false, path = '/v3/kv/range'): [string, HeadResult] => [
  head,
  { kind: 'post', path, bodyStart: Buffer.byteLength(head, 'latin1'), bodyLength, close },
];
const OTHER: HeadResult = { kind: 'other' };
const MORE: HeadResult = { kind: 'more' };

const cases: Array<[string, string, HeadResult]> = [
  ['plain POST', ...ok(post(H + 'Content-Length: 12\r\n'), 12)],
  ['no Content-Length: empty body', ...ok(post(H), 0)],
  ['Content-Length: 0', ...ok(post(H + 'Content-Length: 0\r\n'), 0)],
  ['leading zeros in Content-Length', ...ok(post(H + 'Content-Length: 007\r\n'), 7)],
  ['15-digit Content-Length', ...ok(post(H + 'Content-Length: 999999999999999\r\n'), 999999999999999)],
  ['16-digit Content-Length', post(H + 'Content-Length: 1000000000000000\r\n'), OTHER],
  ['/v3beta path', ...ok(`POST /v3beta/kv/put HTTP/1.1\r\n${H}\r\n`, 0, false, '/v3beta/kv/put')],
  ['any plain path (routing is not its job)', ...ok(`POST /nowhere HTTP/1.1\r\n${H}\r\n`, 0, false, '/nowhere')],
  ['lower-case names', ...ok(post('host: x\r\ncontent-length: 3\r\n'), 3)],
  ['upper-case names', ...ok(post('HOST: x\r\nCONTENT-LENGTH: 3\r\n'), 3)],
  ['mixed-case names', ...ok(post('hOsT: x\r\ncOnTeNt-LeNgTh: 3\r\n'), 3)],
  ['OWS around values', ...ok(post('Host:x\r\nContent-Length: \t 5 \t \r\n'), 5)],
  ['no space after the colon', ...ok(post('Host:127.0.0.1\r\nContent-Length:5\r\n'), 5)],
  ['empty Host', ...ok(post('Host:\r\n'), 0)],
  ['other headers ignored', ...ok(post(H + 'Accept: */*\r\nUser-Agent: x/1 (y; z)\r\nX-Empty:\r\nContent-Length: 2\r\n'), 2)],
  ['obs-text in a value', ...ok(post(H + 'X-Name: caf\xe9\r\n'), 0)],
  ['the body after the head is not read', ...ok(post(H + 'Content-Length: 2\r\n'), 2)],
  ['Connection: keep-alive', ...ok(post(H + 'Connection: keep-alive\r\n'), 0)],
  ['Connection: close', ...ok(post(H + 'Connection: close\r\n'), 0, true)],
  ['Connection: CLOSE', ...ok(post(H + 'Connection: CLOSE\r\n'), 0, true)],
  ['Connection: keep-alive, close', ...ok(post(H + 'Connection: keep-alive, close\r\n'), 0, true)],
  ['Connection: close in a second field', ...ok(post(H + 'Connection: keep-alive\r\nConnection: close\r\n'), 0, true)],
  ['Connection: closed (not close)', ...ok(post(H + 'Connection: closed\r\n'), 0)],
  ['Connection: Upgrade', post(H + 'Connection: Upgrade\r\n'), OTHER],
  ['Connection: keep-alive, Upgrade', post(H + 'Connection: keep-alive, Upgrade\r\n'), OTHER],
  ['Upgrade header', post(H + 'Upgrade: websocket\r\n'), OTHER],
  ['Transfer-Encoding: chunked', post(H + 'Transfer-Encoding: chunked\r\n'), OTHER],
  ['Transfer-Encoding with Content-Length', post(H + 'Content-Length: 3\r\nTransfer-Encoding: chunked\r\n'), OTHER],
  ['Expect: 100-continue', post(H + 'Expect: 100-continue\r\nContent-Length: 3\r\n'), OTHER],
  ['duplicate Content-Length', post(H + 'Content-Length: 3\r\nContent-Length: 3\r\n'), OTHER],
  ['Content-Length list', post(H + 'Content-Length: 3, 3\r\n'), OTHER],
  ['negative Content-Length', post(H + 'Content-Length: -1\r\n'), OTHER],
  ['non-digit Content-Length', post(H + 'Content-Length: 1a\r\n'), OTHER],
  ['hex Content-Length', post(H + 'Content-Length: 0x10\r\n'), OTHER],
  ['empty Content-Length', post(H + 'Content-Length:\r\n'), OTHER],
  ['Content-Length with an inner space', post(H + 'Content-Length: 1 2\r\n'), OTHER],
  ['no Host', post('Content-Length: 3\r\n'), OTHER],
  ['GET', `GET /v3/kv/range HTTP/1.1\r\n${H}\r\n`, OTHER],
  ['lower-case method', `post /v3/kv/range HTTP/1.1\r\n${H}\r\n`, OTHER],
  ['PUT', `PUT /v3/kv/range HTTP/1.1\r\n${H}\r\n`, OTHER],
  ['HTTP/1.0', `POST /v3/kv/range HTTP/1.0\r\n${H}\r\n`, OTHER],
  ['HTTP/2.0', `POST /v3/kv/range HTTP/2.0\r\n${H}\r\n`, OTHER],
  ['lower-case version', `POST /v3/kv/range http/1.1\r\n${H}\r\n`, OTHER],
  ['no version', `POST /v3/kv/range\r\n${H}\r\n`, OTHER],
  ['two spaces before the version', `POST /v3/kv/range  HTTP/1.1\r\n${H}\r\n`, OTHER],
  ['two spaces after the method', `POST  /v3/kv/range HTTP/1.1\r\n${H}\r\n`, OTHER],
  ['trailing space after the version', `POST /v3/kv/range HTTP/1.1 \r\n${H}\r\n`, OTHER],
  ['% in the path', `POST /v3/kv/r%61nge HTTP/1.1\r\n${H}\r\n`, OTHER],
  ['? in the path', `POST /v3/kv/range?x=1 HTTP/1.1\r\n${H}\r\n`, OTHER],
  ['# in the path', `POST /v3/kv/range#x HTTP/1.1\r\n${H}\r\n`, OTHER],
  ['absolute form', `POST http://h/v3/kv/range HTTP/1.1\r\n${H}\r\n`, OTHER],
  ['asterisk form', `POST * HTTP/1.1\r\n${H}\r\n`, OTHER],
  ['non-ASCII in the path', `POST /v3/kv/r\xe4nge HTTP/1.1\r\n${H}\r\n`, OTHER],
  ['DEL in the path', `POST /v3/kv/r\x7fnge HTTP/1.1\r\n${H}\r\n`, OTHER],
  ['tab in the path', `POST /v3/kv/r\tnge HTTP/1.1\r\n${H}\r\n`, OTHER],
  ['bare LF after the request line', `POST /v3/kv/range HTTP/1.1\n${H}\r\n`, OTHER],
  ['bare LF between fields', post('Host: x\nContent-Length: 3\r\n'), OTHER],
  ['bare CR in a value', post('Host: x\rContent-Length: 3\r\n'), OTHER],
  ['NUL in a value', post(H + 'X-A: a\x00b\r\n'), OTHER],
  ['control char in a value', post(H + 'X-A: a\x01b\r\n'), OTHER],
  ['DEL in a value', post(H + 'X-A: a\x7fb\r\n'), OTHER],
  ['ESC in a Host value', post('Host: a\x1bb\r\n'), OTHER],
  ['space before the colon', post(H + 'Content-Length : 3\r\n'), OTHER],
  ['space in a name', post(H + 'X A: 1\r\n'), OTHER],
  ['empty name', post(H + ': 1\r\n'), OTHER],
  ['no colon', post(H + 'NoColon\r\n'), OTHER],
  ['obs-fold (continuation line)', post(H + 'X-A: 1\r\n 2\r\n'), OTHER],
  ['separator in a name', post(H + 'X(A): 1\r\n'), OTHER],
  ['a request line only', 'POST /v3/kv/range HTTP/1.1\r\n\r\n', OTHER],
  ["every token character in a name", ...ok(post(H + "Az09-!#$%&'*+.^_`|~: 1\r\n"), 0)],
  ['empty buffer', '', MORE],
  ['incomplete request line', 'POST /v3/kv/ra', MORE],
  ['incomplete head', `POST /v3/kv/range HTTP/1.1\r\n${H}Content-Length: 3\r\n`, MORE],
  ['one CRLF short', `POST /v3/kv/range HTTP/1.1\r\n${H}\r`, MORE],
  ['incomplete GET head (judged once complete)', 'GET /health HTTP/1.1\r\n', MORE],
  ['a head of MAX_HEAD_BYTES + 1 bytes, no end', post(H + 'X-Pad: ' + 'a'.repeat(MAX_HEAD_BYTES)).slice(0, MAX_HEAD_BYTES + 1), OTHER],
  ['a complete head longer than MAX_HEAD_BYTES', post(H + 'X-Pad: ' + 'a'.repeat(MAX_HEAD_BYTES)), OTHER],
];

for (const [name, head, want] of cases) {
  t.test(name, async (t) => {
    t.strictSame(readRequestHead(Buffer.from(head, 'latin1')), want);
  });
}

t.test('a head of exactly MAX_HEAD_BYTES (before its CRLFCRLF) is taken', async (t) => {
  const start = `POST /v3/kv/range HTTP/1.1\r\n${H}X-Pad: `;
  const head = start + 'a'.repeat(MAX_HEAD_BYTES - start.length) + '\r\n\r\n';
  t.equal(head.indexOf('\r\n\r\n'), MAX_HEAD_BYTES);
  t.strictSame(readRequestHead(Buffer.from(head, 'latin1')), { kind: 'post', path: '/v3/kv/range', bodyStart: MAX_HEAD_BYTES + 4, bodyLength: 0, close: false });
  const longer = start + 'a'.repeat(MAX_HEAD_BYTES - start.length + 1) + '\r\n\r\n';
  t.strictSame(readRequestHead(Buffer.from(longer, 'latin1')), OTHER);
  t.strictSame(readRequestHead(Buffer.from(head.slice(0, MAX_HEAD_BYTES), 'latin1')), MORE, 'up to MAX_HEAD_BYTES without an end: more');
});

t.test('the body and a pipelined request after the head are left alone', async (t) => {
  const first = post(H + 'Content-Length: 5\r\n');
  const buf = Buffer.from(first + '{"a":' + post(H), 'latin1');
  const r = readRequestHead(buf);
  t.strictSame(r, { kind: 'post', path: '/v3/kv/range', bodyStart: first.length, bodyLength: 5, close: false });
});

t.test('every prefix of a valid head is "more"', async (t) => {
  const head = post(H + 'Content-Length: 12\r\nConnection: keep-alive\r\n');
  for (let i = 0; i < head.length; i++) {
    const r = readRequestHead(Buffer.from(head.slice(0, i), 'latin1'));
    if (r.kind !== 'more') t.fail(`prefix of ${i} bytes: ${r.kind}`);
  }
  t.equal(readRequestHead(Buffer.from(head, 'latin1')).kind, 'post');
});
