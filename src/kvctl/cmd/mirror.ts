// make-mirror: copies the keys of the --endpoints cluster (or those under --prefix) to another
// cluster, then keeps copying their changes until interrupted, as etcdctl's make-mirror. It reads
// the keys at one revision, in pages, and then watches from the next revision, so every change is
// copied exactly once and in order; the changes of one source revision are written in one
// transaction. Leases are not copied (etcdctl's neither). Source and destination can be kvd or
// etcd: the way to move data from etcd to kvd, or back.
import { CompactedError, EventType, Op, prefixEnd, type Client, type TxnOp } from '../../client/index.js';
import type { Command, Ctx } from '../context.js';
import { badArgs, callFailed, Exit, KvctlError } from '../errors.js';
import { tlsFromFlags, type TlsFlagNames } from '../tls.js';

/** Keys read per page of the initial copy, and operations per destination txn (etcd's default limit). */
const PAGE = 1000;
const MAX_TXN_OPS = 128;
/** etcdctl prints the count of keys and changes copied so far this often. */
const REPORT_MS = 30_000;

export const makeMirror: Command = {
  name: 'make-mirror',
  use: 'make-mirror [options] <destination>',
  short: 'Makes a mirror at the destination etcd cluster',
  description: [
    'Copies every key (or those under --prefix) to the cluster at <destination>, then copies each',
    'change as it happens until interrupted, printing the number of keys and changes copied every',
    '30 s. Keys go under --dest-prefix (default: the same prefix), or without the prefix with',
    '--no-dest-prefix. Leases are not copied.',
  ].join('\n'),
  interruptible: true,
  flags: [
    { name: 'prefix', type: 'string', default: '', usage: 'Key-value prefix to mirror' },
    { name: 'dest-prefix', type: 'string', default: '', usage: 'destination prefix the mirrored keys get in place of --prefix' },
    { name: 'no-dest-prefix', type: 'bool', default: false, usage: 'mirror key-values to the root of the destination cluster' },
    { name: 'dest-cacert', type: 'string', default: '', usage: 'Verify certificates of TLS enabled secure servers using this CA bundle' },
    { name: 'dest-cert', type: 'string', default: '', usage: 'Identify secure client using this TLS certificate file for the destination cluster' },
    { name: 'dest-key', type: 'string', default: '', usage: 'Identify secure client using this TLS key file' },
    { name: 'dest-insecure-transport', type: 'bool', default: true, usage: 'Disable transport security for client connections' },
  ],
  async run(ctx) {
    if (ctx.args.length !== 1) throw badArgs('make-mirror takes one destination argument');
    const destTls = tlsFromFlags(ctx.flags, DEST_TLS_FLAGS);
    const prefix = Buffer.from(ctx.flags.string('prefix'));
    let destPrefix = Buffer.from(ctx.flags.string('dest-prefix'));
    if (ctx.flags.bool('no-dest-prefix') && destPrefix.length > 0) {
      throw badArgs('`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one');
    }
    if (!ctx.flags.bool('no-dest-prefix') && destPrefix.length === 0) destPrefix = prefix;
    const mirror = new Mirror(ctx, ctx.client(), ctx.client([ctx.args[0]!], destTls), prefix, destPrefix);
    const report = setInterval(() => ctx.io.stdout(`${mirror.total}\n`), REPORT_MS);
    try {
      await mirror.run();
    } catch (e) {
      if (!ctx.io.interrupt.aborted) throw callFailed(e);
    } finally {
      clearInterval(report);
    }
    if (!ctx.io.interrupt.aborted) throw new KvctlError(Exit.Error, 'the watch of the source ended');
    return Exit.Signal;
  },
};

const DEST_TLS_FLAGS: TlsFlagNames = { cacert: 'dest-cacert', cert: 'dest-cert', key: 'dest-key', insecureTransport: 'dest-insecure-transport' };

class Mirror {
  /** Keys and changes copied so far. */
  total = 0;

  constructor(
    private readonly ctx: Ctx,
    private readonly src: Client,
    private readonly dst: Client,
    private readonly prefix: Buffer,
    private readonly destPrefix: Buffer,
  ) {}

  /** The destination key of a source key (which starts with the prefix). */
  private destKey(key: Uint8Array): Buffer {
    return Buffer.concat([this.destPrefix, Buffer.from(key.buffer, key.byteOffset, key.byteLength).subarray(this.prefix.length)]);
  }

  /** Copies the keys as of one revision, then follows the changes after it; ends only by an error or Ctrl-C. */
  async run(): Promise<void> {
    const rev = await this.copyBase();
    await this.follow(rev);
  }

  private async copyBase(): Promise<number> {
    let rev = 0;
    let from: Uint8Array = this.prefix.length > 0 ? this.prefix : Buffer.from([0]);
    for (;;) {
      const page = await this.src.get(from, { ...this.ctx.call(), rangeEnd: this.rangeEnd(), limit: PAGE, revision: rev });
      if (rev === 0) rev = page.header.revision ?? 0;
      for (let i = 0; i < page.kvs.length; i += MAX_TXN_OPS) {
        const ops = page.kvs.slice(i, i + MAX_TXN_OPS).map((kv) => Op.put(this.destKey(kv.key), kv.value));
        await this.write(ops);
      }
      if (!page.more || page.kvs.length === 0) return rev;
      // The next page starts just after the last key read.
      from = Buffer.concat([page.kvs[page.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }

  /** The end of the mirrored range: the prefix's end, or every key. */
  private rangeEnd(): Uint8Array {
    return this.prefix.length > 0 ? prefixEnd(this.prefix) : Buffer.from([0]);
  }

  private async follow(rev: number): Promise<void> {
    const key = this.prefix.length > 0 ? this.prefix : Buffer.from([0]);
    const w = this.src.watch(key, { rangeEnd: this.rangeEnd(), startRevision: rev + 1, signal: this.ctx.io.interrupt });
    try {
      for await (const resp of w) {
        // The changes of one revision (one source txn) go in one destination txn.
        let ops: TxnOp[] = [];
        let at = 0;
        for (const ev of resp.events) {
          if (ops.length > 0 && (ev.kv.mod_revision !== at || ops.length >= MAX_TXN_OPS)) {
            await this.write(ops);
            ops = [];
          }
          at = ev.kv.mod_revision;
          ops.push(ev.type === EventType.DELETE ? Op.delete(this.destKey(ev.kv.key)) : Op.put(this.destKey(ev.kv.key), ev.kv.value));
        }
        if (ops.length > 0) await this.write(ops);
      }
    } catch (e) {
      if (e instanceof CompactedError) throw new KvctlError(Exit.Error, e.message);
      throw e;
    } finally {
      w.cancel();
    }
  }

  private async write(ops: TxnOp[]): Promise<void> {
    await this.dst
      .txn()
      .then(...ops)
      .commit(this.ctx.call());
    this.total += ops.length;
  }
}
