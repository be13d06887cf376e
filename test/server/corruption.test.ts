// Who the corruption check blames (src/server/member/corruption.ts).
import t from 'tap';
import { pino } from 'pino';
import { checkAgainstPeers, CorruptionCheck, corruptMembers } from '../../src/server/member/corruption.js';

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

const silent = pino({ level: 'silent' });

t.test('one round of the periodic check: asks every peer at the leader revision, raises an alarm per member blamed', async (t) => {
  const asked: [string, number][] = [];
  const raised: number[] = [];
  const hashes: Record<string, { hash: number; compactRevision: number } | Error> = {
    a: { hash: 7, compactRevision: 5 },
    b: { hash: 9, compactRevision: 5 },
    c: new Error('no answer'),
  };
  const check = new CorruptionCheck({
    periodMs: 0,
    isLeader: () => true,
    own: async () => ({ memberId: 1, hash: 7, compactRevision: 5, revision: 40 }),
    peers: () => [
      { memberId: 2, clientURL: 'a' },
      { memberId: 3, clientURL: 'b' },
      { memberId: 4, clientURL: 'c' },
    ],
    askPeer: async (url, revision) => {
      asked.push([url, revision]);
      const h = hashes[url]!;
      if (h instanceof Error) throw h;
      return h;
    },
    raise: async (id) => {
      raised.push(id);
    },
    log: silent,
  });
  t.same(await check.runOnce(), [3], 'the member outside the majority (the one that did not answer is not counted)');
  t.same(asked, [['a', 40], ['b', 40], ['c', 40]], "every peer, at the leader's revision");
  t.same(raised, [3]);
  hashes.b = { hash: 7, compactRevision: 5 };
  t.same(await check.runOnce(), [], 'agreement: nothing raised');
  t.same(raised, [3]);
  check.start();
  check.stop();
  t.pass('a period of 0 starts no timer');
});

t.test('a round whose own hash fails blames nobody', async (t) => {
  const check = new CorruptionCheck({
    periodMs: 0,
    isLeader: () => true,
    own: async () => {
      throw new Error('kv store is closed');
    },
    peers: () => [],
    askPeer: async () => ({ hash: 0, compactRevision: 0 }),
    raise: async () => {
      t.fail('nothing to raise');
    },
    log: silent,
  });
  t.same(await check.runOnce(), []);
});

t.test('the check at start: a peer that hashes the revision differently stops the member; others are skipped', async (t) => {
  const own = { memberId: 1, hash: 7, compactRevision: 5, revision: 40 };
  const peers = [
    { memberId: 2, clientURL: 'down' },
    { memberId: 3, clientURL: 'elsewhere' },
    { memberId: 4, clientURL: 'same' },
  ];
  const answers: Record<string, () => Promise<{ hash: number; compactRevision: number }>> = {
    down: async () => {
      throw new Error('no answer');
    },
    elsewhere: async () => ({ hash: 1, compactRevision: 9 }),
    same: async () => ({ hash: 7, compactRevision: 5 }),
  };
  await checkAgainstPeers(own, peers, (url) => answers[url]!(), silent);
  t.pass('down, compacted elsewhere and agreeing peers let it start');
  answers.same = async () => ({ hash: 8, compactRevision: 5 });
  await t.rejects(checkAgainstPeers(own, peers, (url) => answers[url]!(), silent), /history up to revision 40 hashes to 7, member 4's to 8: found data inconsistency with peers/);
});
