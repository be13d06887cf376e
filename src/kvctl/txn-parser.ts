// etcdctl's txn input: three blocks read from standard input, each ended by an empty line:
//
//   compares, one a line:   mod("key1") > "0"      (targets ver|version, c|create, m|mod,
//                           val|value, lease; operators = != < >; key and operand Go-quoted)
//   success requests:       put key1 "overwrote-key1"   (put, get and del with their flags)
//   failure requests:       put key1 "created-key1"
//
// Errors have etcdctl's texts and exit code 3 (ExitInvalidInput); the end of the input before the
// third empty line is "EOF".
import { Compare, Op, type CompareOp, type TxnCompare, type TxnOp } from '../client/index.js';
import { Exit, KvctlError } from './errors.js';
import { goQuote, parseGoInt, readGoQuoted } from './format.js';
import { parseFlags } from './flags.js';
import type { LineReader } from './io.js';
import { DEL_FLAGS, GET_FLAGS, PUT_FLAGS, delOp, getOp, parseLeaseHex, putOp } from './kv-ops.js';

const invalidInput = (msg: string): KvctlError => new KvctlError(Exit.InvalidInput, msg);

/**
 * Splits a request line into arguments as etcdctl's Argify: "double quoted" (Go escapes),
 * 'single quoted' (taken as is) or bare words.
 */
export function argify(line: string): string[] {
  const re = /"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?/g;
  const out: string[] = [];
  for (const m of line.matchAll(re)) {
    const a = m[0];
    if (a.startsWith("'")) out.push(a.slice(1, -1));
    else if (a.startsWith('"')) {
      const q = readGoQuoted(a);
      if (!q || q.rest !== '') throw invalidInput(`invalid syntax: ${a}`);
      out.push(q.value.toString('utf8'));
    } else out.push(a);
  }
  return out;
}

const OPS = new Set(['=', '==', '!=', '>', '<']);

/** Reads `%q) %s %q` as Go's fmt.Sscanf does (a space in the format needs at least one in the input). */
interface Scanned {
  n: number;
  key: Buffer;
  op: string;
  val: Buffer;
}

function scanCompare(s: string): Scanned {
  const r: Scanned = { n: 0, key: Buffer.alloc(0), op: '', val: Buffer.alloc(0) };
  let rest = s.replace(/^[ \t\r]+/, '');
  const k = readGoQuoted(rest);
  if (!k) return r;
  r.key = k.value;
  r.n = 1;
  rest = k.rest;
  if (!rest.startsWith(')')) return r;
  rest = rest.slice(1);
  const space = () => {
    const m = /^[ \t\r]+/.exec(rest);
    if (!m) return false;
    rest = rest.slice(m[0].length);
    return true;
  };
  if (!space()) return r;
  const op = /^\S+/.exec(rest);
  if (!op) return r;
  r.op = op[0];
  r.n = 2;
  rest = rest.slice(op[0].length);
  if (!space()) return r;
  const v = readGoQuoted(rest);
  if (!v) return r;
  r.val = v.value;
  r.n = 3;
  return r;
}

/** One compare line (already trimmed). */
export function parseCompare(line: string): TxnCompare {
  const paren = line.indexOf('(');
  if (paren < 0) throw invalidInput(`malformed comparison: ${line}`);
  const target = line.slice(0, paren);
  const { n, key, op, val } = scanCompare(line.slice(paren + 1));
  if (n !== 3) throw invalidInput(`malformed comparison: ${line}; got ${target}(${goQuote(key)}) ${op} ${goQuote(val)}`);
  if (!OPS.has(op)) throw invalidInput(`malformed comparison: ${line} (unknown operator ${op})`);
  const cop = op as CompareOp;
  const text = val.toString('utf8');
  const int = (): number => {
    try {
      return Number(parseGoInt(text, 10));
    } catch {
      throw invalidInput(`invalid txn compare request: ${line}`);
    }
  };
  switch (target) {
    case 'ver':
    case 'version':
      return Compare.version(key, cop, int());
    case 'c':
    case 'create':
      return Compare.createRevision(key, cop, int());
    case 'm':
    case 'mod':
      return Compare.modRevision(key, cop, int());
    case 'val':
    case 'value':
      return Compare.value(key, cop, val);
    case 'lease': {
      // etcdctl 3.4 panics here; 3.5 reads the lease ID in hex, as kvctl does.
      let id: bigint;
      try {
        id = parseLeaseHex(text);
      } catch {
        throw invalidInput(`invalid txn compare request: ${line}`);
      }
      return Compare.lease(key, cop, id);
    }
    default:
      throw invalidInput(`malformed comparison: ${line} (unknown target ${target})`);
  }
}

/** One success or failure request line (already trimmed): put, get or del with their flags. */
export function parseRequestLine(line: string): TxnOp {
  const args = argify(line);
  if (args.length < 2) throw invalidInput(`invalid txn compare request: ${line}`);
  const [cmd, ...rest] = args;
  const specs = cmd === 'put' ? PUT_FLAGS : cmd === 'get' ? GET_FLAGS : cmd === 'del' ? DEL_FLAGS : undefined;
  if (!specs) throw invalidInput(`invalid txn request: ${line}`);
  let parsed;
  try {
    parsed = parseFlags(rest, specs);
  } catch {
    throw invalidInput(`invalid txn request: ${line}`);
  }
  switch (cmd) {
    case 'put': {
      const p = putOp(parsed.args, parsed.flags);
      return Op.put(p.key, p.value, p.opts);
    }
    case 'get': {
      const g = getOp(parsed.args, parsed.flags);
      return Op.get(g.key, g.opts);
    }
    default: {
      const d = delOp(parsed.args, parsed.flags);
      return Op.delete(d.key, d.opts);
    }
  }
}

export interface ParsedTxn {
  compares: TxnCompare[];
  success: TxnOp[];
  failure: TxnOp[];
}

async function readBlock<T>(reader: LineReader, parse: (line: string) => T): Promise<T[]> {
  const out: T[] = [];
  for (;;) {
    const raw = await reader.readLine();
    if (raw === undefined) throw invalidInput('EOF');
    const line = raw.trim();
    if (line === '') return out;
    out.push(parse(line));
  }
}

/** Reads the three blocks; `prompt` (txn -i) is called before each. */
export async function readTxn(reader: LineReader, prompt?: (text: string) => void): Promise<ParsedTxn> {
  prompt?.('compares:');
  const compares = await readBlock(reader, parseCompare);
  prompt?.('success requests (get, put, del):');
  const success = await readBlock(reader, parseRequestLine);
  prompt?.('failure requests (get, put, del):');
  const failure = await readBlock(reader, parseRequestLine);
  return { compares, success, failure };
}
