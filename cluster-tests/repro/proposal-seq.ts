// A deterministic reproduction of the bug found by the `everything` scenario (seed 41, with
// --heartbeat 20 --election 200): a member that restarts settles its new requests with the results
// of entries its previous incarnation proposed.
//
// kvd frames each proposal with (origin member id, seq), and a member settles its waiting request
// when it applies an entry with its own id and that seq. `seq` starts at 0 in every process, so
// entries proposed by the previous process of the same member, applied after a restart, match the
// new process's requests: they get another entry's result (its revision, its prev_kv, its
// succeeded flag...), while their own writes are applied later, unseen.
//
// Steps: cut every link into follower A (A still reaches the leader), send A writes (they commit
// without A), kill -9 A, heal, restart A and send it new writes at once. A learns the leader, sends
// the new writes (seq 1, 2, ...), then catches up: the old entries (seq 1, 2, ...) come first.
//
//   node dist/cluster-tests/repro/proposal-seq.js      exit 1: reproduced; 0: not reproduced

import { Cluster } from '../harness/cluster.js';
import { b64, closeAgents, post } from '../lib/http.js';
import { sleep } from '../lib/rng.js';

const N = 20;

async function main(): Promise<number> {
  const c = await Cluster.start({ members: 3 });
  try {
    const leader = (await c.leader())!;
    const a = c.members.find((m) => m !== leader)!;
    const others = c.members.filter((m) => m !== a).map((m) => m.name);
    console.log(`leader ${leader.name}; restarting follower ${a.name}`);

    // 1. Writes through A that commit without A.
    for (const o of others) c.network.set(o, a.name, { mode: 'drop' });
    const old = await Promise.all(
      Array.from({ length: N }, (_, i) => post(a.url, '/v3/kv/put', { key: b64(`old/${i}`), value: b64(`o${i}`) }, 1500)),
    );
    const oldAnswered = old.filter((r) => r.kind === 'answer').length;
    const count = await post(leader.url, '/v3/kv/range', { key: b64('old/'), range_end: b64('old0'), count_only: true }, 2000);
    const committedOld = Number(count.kind === 'answer' ? (count.body.count ?? 0) : -1);
    const revAfterOld = Number(count.kind === 'answer' ? count.body.header.revision : 0);
    console.log(`${committedOld} of ${N} old writes committed without ${a.name} (${oldAnswered} answered), store revision ${revAfterOld}`);

    // 2. kill -9 A, heal, restart it, and send new writes at once.
    await a.kill();
    c.network.heal();
    await a.start();
    const fresh = await Promise.all(
      Array.from({ length: N }, (_, i) => post(a.url, '/v3/kv/put', { key: b64(`new/${i}`), value: b64(`n${i}`), prev_kv: true }, 5000)),
    );

    // 3. A new key's first put has no prev_kv and a revision above every earlier one.
    let wrong = 0;
    for (const [i, r] of fresh.entries()) {
      if (r.kind !== 'answer' || r.status !== 200) {
        console.log(`new/${i}: no result (${r.kind === 'answer' ? `${r.status} ${JSON.stringify(r.body).slice(0, 200)}` : r.reason})`);
        continue;
      }
      const rev = Number(r.body.header?.revision);
      const prev = r.body.prev_kv ? `${Buffer.from(r.body.prev_kv.key, 'base64')}=${Buffer.from(r.body.prev_kv.value ?? '', 'base64')}` : undefined;
      if (rev <= revAfterOld || prev) {
        wrong++;
        console.log(`new/${i}: WRONG RESULT: revision ${rev} (the store was at ${revAfterOld} before it was sent)${prev ? `, prev_kv ${prev}` : ''}`);
      }
    }
    await sleep(500);
    const check = await post(leader.url, '/v3/kv/range', { key: b64('new/'), range_end: b64('new0'), count_only: true }, 2000);
    console.log(`${check.kind === 'answer' ? check.body.count ?? 0 : '?'} of ${N} new keys exist`);
    console.log(wrong > 0 ? `REPRODUCED: ${wrong} of ${N} new writes got the result of another entry` : 'not reproduced');
    return wrong > 0 ? 1 : 0;
  } finally {
    closeAgents();
    await c.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
