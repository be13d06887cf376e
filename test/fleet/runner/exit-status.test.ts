import t from 'tap';
import { describeExit, errnoText, resultOf } from '../../../src/fleet/runner/exit-status.js';

t.test('results as systemd gives them', async (t) => {
  t.equal(resultOf({ code: 0, signal: null }), 'success');
  t.equal(resultOf({ code: 1, signal: null }), 'exit-code');
  for (const clean of ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGPIPE'] as const) {
    t.equal(resultOf({ code: null, signal: clean }), 'success', `${clean} is a clean exit`);
  }
  t.equal(resultOf({ code: null, signal: 'SIGKILL' }), 'signal');
  t.equal(resultOf({ code: null, signal: 'SIGABRT' }), 'core-dump');
});

t.test('exit descriptions', async (t) => {
  t.equal(describeExit({ code: 0, signal: null }), 'code=exited, status=0/SUCCESS');
  t.equal(describeExit({ code: 203, signal: null }), 'code=exited, status=203/EXEC');
  t.equal(describeExit({ code: 42, signal: null }), 'code=exited, status=42/n/a');
  t.equal(describeExit({ code: null, signal: null }), 'code=exited, status=0/SUCCESS');
  t.equal(describeExit({ code: null, signal: 'SIGKILL' }), 'code=killed, status=9/KILL');
  t.equal(describeExit({ code: null, signal: 'SIGABRT' }), 'code=dumped, status=6/ABRT');
});

t.test('errno texts', async (t) => {
  t.equal(errnoText({ code: 'ENOENT' }), 'No such file or directory');
  t.equal(errnoText({ code: 'EWHATEVER' }), 'EWHATEVER');
  t.equal(errnoText(new Error('plain')), 'plain');
  t.equal(errnoText('text'), 'text');
});
