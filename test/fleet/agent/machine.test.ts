// The machine's identity (persisted id, override, validation) and its announced facts (metadata
// parsing, refresh, re-announcement only on meaningful change).
import t, { type Test } from 'tap';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadMachineId, MachineIdError, newMachineId, validateMachineId } from '../../../src/fleet/agent/machine-id.js';
import { factsChanged, MachineInfo, MetadataError, parseMetadata, systemFacts, type MachineFacts } from '../../../src/fleet/agent/machine-info.js';
import { FakeClock } from '../../support/fake-clock.js';
import { flush, tempDir } from './helpers.js';

t.test('machine id: generated once, persisted, reused', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const stateDir = join(dir.path, 'nested', 'state');
  const id = await loadMachineId(stateDir);
  t.match(id, /^[0-9a-f]{32}$/);
  t.equal(await readFile(join(stateDir, 'machine-id'), 'utf8'), `${id}\n`, 'written with a newline, like /etc/machine-id');
  t.equal(await loadMachineId(stateDir), id, 'the same id after a restart');
  const other = 'ab'.repeat(16);
  t.equal(await loadMachineId(stateDir, other), other, '--machine-id wins');
  t.equal(await loadMachineId(stateDir), id, 'and does not replace the persisted one');
});

t.test('machine id: randomness is injected', async (t) => {
  t.equal(newMachineId((n) => new Uint8Array(n).fill(0xab)), 'ab'.repeat(16));
  t.not(newMachineId(), newMachineId());
});

t.test('machine id: bad ids are refused with the source named', async (t) => {
  t.throws(() => validateMachineId('ABCDEF0123456789ABCDEF0123456789'), { name: 'MachineIdError', message: /--machine-id: machine id must be 32 lowercase hexadecimal digits \(got "ABCDEF/ });
  t.throws(() => validateMachineId('abc'), MachineIdError);
  t.throws(() => validateMachineId('g'.repeat(32)), MachineIdError);
  const dir = await tempDir();
  t.teardown(dir.remove);
  await rejects(t, loadMachineId(dir.path, 'xyz'), /--machine-id/);
  await writeFile(join(dir.path, 'machine-id'), 'not-an-id\n');
  await rejects(t, loadMachineId(dir.path), new RegExp(`${join(dir.path, 'machine-id')}: machine id must be`));
  await mkdir(join(dir.path, 'as-dir', 'machine-id'), { recursive: true });
  await rejects(t, loadMachineId(join(dir.path, 'as-dir')), /cannot read the machine id/);
});

async function rejects(t: Test, p: Promise<unknown>, re: RegExp): Promise<void> {
  await t.rejects(p, { name: 'MachineIdError', message: re });
}

t.test('metadata: key=value pairs, strictly', async (t) => {
  t.same(parseMetadata(''), {});
  t.same(parseMetadata('  '), {});
  t.same(parseMetadata('region=us-east, disk=ssd'), { region: 'us-east', disk: 'ssd' });
  t.same(parseMetadata('a.b_c-d=x=y'), { 'a.b_c-d': 'x=y' }, 'only the first = splits');
  t.throws(() => parseMetadata('region'), { name: 'MetadataError', message: '--metadata: "region" is not key=value' });
  t.throws(() => parseMetadata('=east'), { message: '--metadata: "=east" has an empty key' });
  t.throws(() => parseMetadata('region='), { message: '--metadata: "region=" has an empty value' });
  t.throws(() => parseMetadata('a=1,a=2'), { message: '--metadata: key "a" is given twice' });
  t.throws(() => parseMetadata('a=1,,b=2'), { message: /--metadata: empty pair in "a=1,,b=2"/ });
  t.throws(() => parseMetadata('a b=1'), { message: '--metadata: key "a b" may only have letters, digits, "_", "." and "-"' });
  t.throws(() => parseMetadata('x', 'FLEETD_METADATA'), MetadataError);
});

const facts = (over: Partial<MachineFacts> = {}): MachineFacts => ({ cpus: 4, memTotal: 1000, memFree: 500, load: 1, ...over });

t.test('facts: only a meaningful change counts', async (t) => {
  t.notOk(factsChanged(facts(), facts()));
  t.notOk(factsChanged(facts(), facts({ memFree: 549 })), '4.9% of the total');
  t.ok(factsChanged(facts(), facts({ memFree: 551 })), 'more than 5% of the total');
  t.ok(factsChanged(facts(), facts({ memFree: 449 })));
  t.notOk(factsChanged(facts(), facts({ load: 1.5 })), 'a load change of 0.5');
  t.ok(factsChanged(facts(), facts({ load: 1.51 })));
  t.ok(factsChanged(facts(), facts({ cpus: 8 })));
  t.ok(factsChanged(facts(), facts({ memTotal: 2000 })));
});

t.test('facts from the host (systeminformation, os.loadavg)', async (t) => {
  const read = systemFacts();
  const f = await read();
  t.ok(f.cpus >= 1, `cpus ${f.cpus}`);
  t.ok(f.memTotal > 0 && f.memFree > 0 && f.memFree <= f.memTotal, `memory ${f.memFree}/${f.memTotal}`);
  t.ok(f.load >= 0);
  const started = performance.now();
  await read();
  t.ok(performance.now() - started < 200, 'a refresh is cheap (no CPU sampling, the CPU count cached)');
});

t.test('machine info: refreshed on the clock, announced on meaningful change', async (t) => {
  const clock = new FakeClock();
  let next = facts();
  let reads = 0;
  let fail = false;
  const info = new MachineInfo({
    id: 'ab'.repeat(16),
    publicIp: '10.0.0.1',
    metadata: { region: 'east' },
    agentUrl: 'http://10.0.0.1:8500',
    version: '9.9',
    clock,
    readFacts: async () => {
      reads++;
      if (fail) throw new Error('no /proc');
      return next;
    },
  });
  const changes: number[] = [];
  const warnings: string[] = [];
  info.on('change', (r) => changes.push(r.memFree));
  info.on('warning', (e) => warnings.push(e.message));
  await info.start();
  t.same(info.record, {
    id: 'ab'.repeat(16),
    publicIp: '10.0.0.1',
    metadata: { region: 'east' },
    agentUrl: 'http://10.0.0.1:8500',
    cpus: 4,
    memTotal: 1000,
    memFree: 500,
    load: 1,
    version: '9.9',
    startedAt: clock.t,
  });
  t.equal(info.id, 'ab'.repeat(16));
  t.same(info.metadata, { region: 'east' });
  t.equal(reads, 1);

  next = facts({ memFree: 520 });
  clock.advance(10_000);
  await flush();
  t.equal(reads, 2, 'read again after 10 s');
  t.same(changes, [], 'a small change is not announced');
  t.equal(info.record.memFree, 500, 'the record keeps what was announced');

  next = facts({ memFree: 300 });
  clock.advance(10_000);
  await flush();
  t.same(changes, [300], 'a big change is');

  fail = true;
  clock.advance(10_000);
  await flush();
  t.same(warnings, ['no /proc'], 'a failed read is a warning; the last facts stay');
  t.equal(info.record.memFree, 300);

  fail = false;
  info.stop();
  t.equal(clock.pending, 0, 'no timer left after stop');
  t.equal(await info.refresh(), false);
});
