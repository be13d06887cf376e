import t from 'tap';
import { TestNet, enc } from './net.js';
import { Role } from '../../src/raft/types.js';

t.test('three nodes elect a leader and replicate', async (t) => {
  const net = new TestNet([1, 2, 3]);
  const l = net.elect();
  l.propose([enc('a'), enc('b')]);
  net.settle();
  net.tick(2);
  for (const id of [1, 2, 3]) t.same(net.appliedData(id), ['a', 'b'], `node ${id} applied`);
  t.equal([...net.nodes.values()].filter((n) => n.status().role === Role.Leader).length, 1);
});
