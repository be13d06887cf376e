// snapshot save | restore | status.
import { open, rename, rm } from 'node:fs/promises';
import type { Command } from '../context.js';
import { badArgs, callFailed, Exit, KvctlError } from '../errors.js';
import { goList } from '../format.js';

// The store and Raft storage modules (LevelDB) load only for the commands that need them.
const restoreModule = () => import('../restore.js');

export const snapshotSave: Command = {
  name: 'snapshot save',
  use: 'snapshot save <filename>',
  short: 'Stores a kvd (or etcd) member snapshot to a given file',
  flags: [],
  async run(ctx) {
    if (ctx.args.length !== 1) throw badArgs('snapshot save expects one argument');
    const eps = ctx.global.endpoints;
    if (eps.length !== 1) throw new KvctlError(Exit.Interrupted, `snapshot must be requested to one selected node, not multiple ${goList(eps)}`);
    const path = ctx.args[0]!;
    const part = `${path}.part`;
    const fh = await open(part, 'w').catch((e: NodeJS.ErrnoException) => {
      throw new KvctlError(Exit.Error, `could not open ${part} (${e.message})`);
    });
    try {
      // No deadline for the whole transfer (a large store takes long), as etcdctl.
      for await (const chunk of ctx.client().snapshot({ timeoutMs: Math.max(ctx.global.commandTimeoutMs, 3_600_000) })) {
        await fh.write(chunk);
      }
      await fh.sync();
    } catch (e) {
      await fh.close().catch(() => undefined);
      await rm(part, { force: true }).catch(() => undefined);
      throw callFailed(e);
    }
    await fh.close();
    await rename(part, path);
    ctx.io.stdout(`Snapshot saved at ${path}\n`);
  },
};

export const snapshotRestore: Command = {
  name: 'snapshot restore',
  use: 'snapshot restore <filename> [options]',
  short: 'Restores a kvd member snapshot to a kvd data directory',
  description: [
    'Makes a new data directory from a snapshot: kvd started on it (with --name and --listen-peer-urls',
    'matching --initial-cluster) serves the snapshot\'s keys at their revisions, as a new cluster of the',
    'members of --initial-cluster. Restore the same file once per member, with that member\'s --name.',
  ].join('\n'),
  flags: [
    { name: 'data-dir', type: 'string', default: '', usage: 'Path to the data directory (default <name>.kvd)' },
    { name: 'wal-dir', type: 'string', default: '', usage: 'Not supported by kvd (the log lives in <data-dir>/raft)' },
    { name: 'name', type: 'string', default: 'default', usage: 'Human-readable name for this member' },
    { name: 'initial-cluster', type: 'string', default: '', usage: 'Initial cluster configuration for restore bootstrap (default <name>=<initial-advertise-peer-urls>)' },
    { name: 'initial-cluster-token', type: 'string', default: 'etcd-cluster', usage: 'Initial cluster token for the etcd cluster during restore bootstrap' },
    { name: 'initial-advertise-peer-urls', type: 'string', default: 'http://127.0.0.1:2380', usage: "List of this member's peer URLs to advertise to the rest of the cluster" },
    { name: 'skip-hash-check', type: 'bool', default: false, usage: 'Accepted for etcdctl compatibility (kvd snapshots carry no hash)' },
  ],
  async run(ctx) {
    if (ctx.args.length !== 1) throw badArgs('snapshot restore requires exactly one argument');
    const f = ctx.flags;
    if (f.string('wal-dir') !== '') throw new KvctlError(Exit.BadFeature, '--wal-dir is not supported by kvd (the log is kept in <data-dir>/raft)');
    const name = f.string('name');
    const advertise = f.string('initial-advertise-peer-urls').split(',').filter((s) => s !== '');
    const { restoreSnapshot } = await restoreModule();
    const r = await restoreSnapshot(ctx.args[0]!, {
      dataDir: f.string('data-dir') || `${name}.kvd`,
      name,
      initialCluster: f.string('initial-cluster') || advertise.map((u) => `${name}=${u}`).join(','),
      initialClusterToken: f.string('initial-cluster-token'),
      initialAdvertisePeerURLs: advertise,
    });
    ctx.io.stderr(
      `restored snapshot ${ctx.args[0]} (revision ${r.revision}) into ${f.string('data-dir') || `${name}.kvd`}: member ${r.memberId.toString(16)} of a new cluster ${r.clusterId.toString(16)} of ${r.members.length}\n`,
    );
  },
};

export const snapshotStatusCmd: Command = {
  name: 'snapshot status',
  use: 'snapshot status <filename>',
  short: 'Gets backend snapshot status of a given file',
  description: [
    'When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.',
    'The items in the lists are hash, revision, total keys, total size.',
  ].join('\n'),
  flags: [],
  async run(ctx) {
    if (ctx.args.length !== 1) throw badArgs('snapshot status requires exactly one argument');
    const display = ctx.printer();
    const { readSnapshotFile, snapshotStatus } = await restoreModule();
    display.snapshotStatus(snapshotStatus(await readSnapshotFile(ctx.args[0]!)));
  },
};
