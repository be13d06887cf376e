// The test harnesses' port allocator: parallel tap jobs draw from disjoint blocks, and one process
// never gets the same port twice (a member's client and peer ports once drew the same number).

import t from 'tap';
import { freePort, portBlock } from '../../cluster-tests/harness/ports.js';

t.test('each tap job slot has its own block, all below the ephemeral range', async (t) => {
  const blocks = ['0', '1', '2', '3'].map((j) => portBlock(j));
  for (const [i, b] of blocks.entries()) {
    t.ok(b.base >= 10000 && b.base + b.size <= 32768, `block ${i} lies in 10000-32767`);
    if (i > 0) t.equal(b.base, blocks[i - 1]!.base + blocks[i - 1]!.size, `block ${i} starts where block ${i - 1} ends`);
  }
  t.same(portBlock('4'), blocks[0], 'job ids beyond the blocks wrap around');
  t.same(portBlock(undefined), { base: 10000, size: 22000 }, 'outside tap: the whole range');
  t.same(portBlock('x'), { base: 10000, size: 22000 }, 'a malformed job id: the whole range');
});

t.test('freePort stays in this job slot and never repeats a port', async (t) => {
  const { base, size } = portBlock(process.env.TAP_JOB_ID);
  const ports: number[] = [];
  for (let i = 0; i < 300; i++) ports.push(await freePort());
  t.same(ports.filter((p) => p < base || p >= base + size), [], 'every port in the block');
  t.equal(new Set(ports).size, ports.length, 'no port handed out twice');
});
