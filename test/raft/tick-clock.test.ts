import t from 'tap';
import { TickClock } from '../../src/raft/node/tick-clock.js';

t.test('ticks follow the clock: a late callback gets every tick it missed, early ones none', async (t) => {
  const c = new TickClock(10, 100, 0);
  t.equal(c.due(9.9), 0, 'less than a tick: none');
  t.equal(c.due(10), 1, 'one period: one tick');
  t.equal(c.due(45), 3, 'a callback 35 ms late owes 3 ticks, not 1');
  t.equal(c.due(50), 1, 'the remainder (5 ms) is kept: the next tick falls due at 50');
  // 1,000 callbacks each 2.5 periods apart, as a starved process sees them: the tick count keeps
  // pace with the clock (250 periods) instead of the callbacks (100).
  let ticks = 0;
  for (let now = 50; now < 2550; now += 25) ticks += c.due(now + 25);
  t.equal(ticks, 250, '2.5 s of late callbacks: 250 ticks');
});

t.test('a stall longer than the catch-up limit replays only the limit and starts afresh', async (t) => {
  const c = new TickClock(10, 100, 0);
  t.equal(c.due(3000), 100, 'stopped for 3 s: at most an election timeout of ticks at once');
  t.equal(c.due(3005), 0, 'counting resumes from the stall\'s end');
  t.equal(c.due(3010), 1);
});

t.test('a clock that goes nowhere owes nothing', async (t) => {
  const c = new TickClock(10, 100, 1000);
  t.equal(c.due(1000), 0);
  t.equal(c.due(999), 0, 'an earlier reading (never from performance.now) is not a negative count');
});
