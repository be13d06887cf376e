// What the machine's specifiers stand for on the machine: its id, the kernel's boot id, its name.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { kernelBootId, machineFacts } from '../../../src/fleet/agent/machine-facts.js';

t.test("the kernel's boot id, as systemd prints %b", async (t) => {
  t.match(kernelBootId(), /^[0-9a-f]{32}$/, 'this machine: 32 hex digits, no dashes');
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-boot-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'id'), '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\n');
  t.equal(kernelBootId(join(dir, 'id')), '0f1e2d3c4b5a69788796a5b4c3d2e1f0');
  await writeFile(join(dir, 'bad'), 'not an id\n');
  t.equal(kernelBootId(join(dir, 'bad')), '0'.repeat(32), 'malformed: the null id');
  t.equal(kernelBootId(join(dir, 'missing')), '0'.repeat(32), 'missing (not Linux): the null id');
});

t.test('machineFacts: the machine id given, this host name unless told', async (t) => {
  const id = 'c'.repeat(32);
  t.same(machineFacts(id), { machineId: id, bootId: kernelBootId(), hostname: hostname() });
  t.equal(machineFacts(id, 'other.example').hostname, 'other.example');
});
