// Who the corruption check blames (src/server/member/corruption.ts).
import t from 'tap';
import { corruptMembers } from '../../src/server/member/corruption.js';

const m = (memberId: number, hash: number, compactRevision = 5) => ({ memberId, hash, compactRevision });

t.test('agreement blames nobody', async (t) => {
  t.same(corruptMembers(m(1, 7), [m(2, 7), m(3, 7)]), []);
  t.same(corruptMembers(m(1, 7), []), [], 'a single member');
});

t.test('the members outside a majority are blamed, the leader too', async (t) => {
  t.same(corruptMembers(m(1, 7), [m(2, 9), m(3, 7)]), [2], 'a follower');
  t.same(corruptMembers(m(1, 7), [m(2, 9), m(3, 9)]), [1], 'the leader, when the followers agree against it');
  t.same(corruptMembers(m(1, 7), [m(2, 7), m(3, 8), m(4, 9), m(5, 7)]), [3, 4], 'five members, two odd');
});

t.test('without a majority every member compared is suspect', async (t) => {
  t.same(corruptMembers(m(1, 7), [m(2, 9)]), [1, 2], 'two members that differ');
  t.same(corruptMembers(m(1, 7), [m(2, 8), m(3, 9)]), [1, 2, 3], 'three different hashes');
  t.same(corruptMembers(m(1, 7), [m(2, 7), m(3, 8), m(4, 8)]), [1, 2, 3, 4], 'two against two');
});

t.test('a hash at another compacted revision is not compared', async (t) => {
  t.same(corruptMembers(m(1, 7), [m(2, 9, 6), m(3, 7)]), []);
  t.same(corruptMembers(m(1, 7), [m(2, 9, 6), m(3, 8)]), [1, 3], 'what remains is compared');
});
