// put, get and del as etcdctl builds them from arguments and flags: shared by the commands and by
// txn, whose success and failure lines are these commands' arguments.
import type { DeleteOptions, GetOptions, PutOptions, SortOrderName, SortTargetName } from '../client/index.js';
import { badArgs, Exit, KvctlError } from './errors.js';
import { GoParseError, parseGoInt } from './format.js';
import type { FlagSpec, Flags } from './flags.js';

export const PUT_FLAGS: FlagSpec[] = [
  { name: 'lease', type: 'string', default: '0', usage: 'lease ID (in hexadecimal) to attach to the key' },
  { name: 'prev-kv', type: 'bool', default: false, usage: 'return the previous key-value pair before modification' },
  { name: 'ignore-value', type: 'bool', default: false, usage: 'updates the key using its current value' },
  { name: 'ignore-lease', type: 'bool', default: false, usage: 'updates the key using its current lease' },
];

export const GET_FLAGS: FlagSpec[] = [
  { name: 'consistency', type: 'string', default: 'l', usage: 'Linearizable(l) or Serializable(s)' },
  { name: 'order', type: 'string', default: '', usage: 'Order of results; ASCEND or DESCEND (ASCEND by default)' },
  { name: 'sort-by', type: 'string', default: '', usage: 'Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION' },
  { name: 'limit', type: 'int', default: 0, usage: 'Maximum number of results' },
  { name: 'prefix', type: 'bool', default: false, usage: 'Get keys with matching prefix' },
  { name: 'from-key', type: 'bool', default: false, usage: 'Get keys that are greater than or equal to the given key using byte compare' },
  { name: 'rev', type: 'int', default: 0, usage: 'Specify the kv revision' },
  { name: 'keys-only', type: 'bool', default: false, usage: 'Get only the keys' },
  { name: 'count-only', type: 'bool', default: false, usage: 'Get only the count (kvctl; etcdctl 3.5 has it)' },
  { name: 'print-value-only', type: 'bool', default: false, usage: 'Only write values when using the "simple" output format' },
];

export const DEL_FLAGS: FlagSpec[] = [
  { name: 'prefix', type: 'bool', default: false, usage: 'delete keys with matching prefix' },
  { name: 'prev-kv', type: 'bool', default: false, usage: 'return deleted key-value pairs' },
  { name: 'from-key', type: 'bool', default: false, usage: 'delete keys that are greater than or equal to the given key using byte compare' },
];

export interface PutOp {
  key: string;
  value: Uint8Array;
  opts: PutOptions;
}

export interface GetOp {
  key: string;
  opts: GetOptions;
}

export interface DelOp {
  key: string;
  opts: DeleteOptions;
}

/** A lease ID in hex as etcdctl's --lease takes it (an optional 0x is accepted too). */
export function parseLeaseHex(s: string): bigint {
  return parseGoInt(s.replace(/^0[xX]/, ''), 16);
}

/** `value` is the second argument or, when there is none, standard input (read by the caller). */
export function putOp(args: string[], flags: Flags, stdinValue?: Uint8Array): PutOp {
  if (args.length === 0) throw badArgs('put command needs 1 argument and input from stdin or 2 arguments');
  const ignoreValue = flags.bool('ignore-value');
  if (ignoreValue && args.length > 1) throw badArgs("put command needs only 1 argument when 'ignore-value' is set");
  let value: Uint8Array = new Uint8Array(0);
  if (!ignoreValue) {
    if (args.length > 1) value = Buffer.from(args[1]!, 'utf8');
    else if (stdinValue && stdinValue.length > 0) value = stdinValue;
    else throw badArgs('put command needs 1 argument and input from stdin or 2 arguments');
  }
  let lease: bigint;
  try {
    lease = parseLeaseHex(flags.string('lease'));
  } catch (e) {
    throw badArgs(`bad lease ID (${(e as Error).message}), expecting ID in Hex`);
  }
  const opts: PutOptions = {};
  if (lease !== 0n) opts.lease = lease;
  if (flags.bool('prev-kv')) opts.prevKv = true;
  if (ignoreValue) opts.ignoreValue = true;
  if (flags.bool('ignore-lease')) opts.ignoreLease = true;
  return { key: args[0]!, value, opts };
}

const SORT_TARGETS: Record<string, SortTargetName> = { CREATE: 'CREATE', KEY: 'KEY', MODIFY: 'MOD', VALUE: 'VALUE', VERSION: 'VERSION' };

export function getOp(args: string[], flags: Flags): GetOp {
  if (args.length === 0) throw badArgs('get command needs one argument as key and an optional argument as range_end');
  const prefix = flags.bool('prefix');
  const fromKey = flags.bool('from-key');
  if (prefix && fromKey) throw badArgs('`--prefix` and `--from-key` cannot be set at the same time, choose one');
  const opts: GetOptions = {};
  const consistency = flags.string('consistency');
  if (consistency === 's') opts.serializable = true;
  else if (consistency !== 'l') throw new KvctlError(Exit.BadFeature, `unknown consistency flag "${consistency}"`);
  if (args.length > 1) {
    if (prefix || fromKey) throw badArgs('too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
    opts.rangeEnd = args[1]!;
  }
  const limit = flags.int('limit');
  if (limit !== 0) opts.limit = limit;
  const rev = flags.int('rev');
  if (rev > 0) opts.revision = rev;
  const order = flags.string('order').toUpperCase();
  let sortOrder: SortOrderName = 'NONE';
  if (order === 'ASCEND') sortOrder = 'ASCEND';
  else if (order === 'DESCEND') sortOrder = 'DESCEND';
  else if (order !== '') throw new KvctlError(Exit.BadFeature, `bad sort order ${flags.string('order')}`);
  const by = flags.string('sort-by').toUpperCase();
  let sortTarget: SortTargetName = 'KEY';
  if (by !== '') {
    const t = SORT_TARGETS[by];
    if (!t) throw new KvctlError(Exit.BadFeature, `bad sort target ${flags.string('sort-by')}`);
    sortTarget = t;
  }
  // As clientv3.WithSort: ascending by key is the server's own order.
  if (sortTarget === 'KEY' && sortOrder === 'ASCEND') sortOrder = 'NONE';
  if (sortOrder !== 'NONE') opts.sortOrder = sortOrder;
  if (sortTarget !== 'KEY') opts.sortTarget = sortTarget;
  if (prefix) opts.prefix = true;
  if (fromKey) opts.fromKey = true;
  if (flags.bool('keys-only')) opts.keysOnly = true;
  if (flags.bool('count-only')) opts.countOnly = true;
  return { key: args[0]!, opts };
}

export function delOp(args: string[], flags: Flags): DelOp {
  if (args.length === 0 || args.length > 2) throw badArgs('del command needs one argument as key and an optional argument as range_end');
  const prefix = flags.bool('prefix');
  const fromKey = flags.bool('from-key');
  if (prefix && fromKey) throw badArgs('`--prefix` and `--from-key` cannot be set at the same time, choose one');
  const opts: DeleteOptions = {};
  if (args.length > 1) {
    if (prefix || fromKey) throw badArgs('too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
    opts.rangeEnd = args[1]!;
  }
  if (prefix) opts.prefix = true;
  if (fromKey) opts.fromKey = true;
  if (flags.bool('prev-kv')) opts.prevKv = true;
  return { key: args[0]!, opts };
}

export { GoParseError };
