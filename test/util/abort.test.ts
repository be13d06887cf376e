import t from 'tap';
import { linkedAbort } from '../../src/util/abort.js';

t.test('linkedAbort: aborts with any of its signals, and lets go of them on dispose', async (t) => {
  const a = new AbortController();
  const b = new AbortController();
  const l = linkedAbort(a.signal, undefined, b.signal);
  t.equal(l.signal.aborted, false);
  b.abort();
  t.equal(l.signal.aborted, true, 'the second signal aborted it');

  const c = new AbortController();
  const m = linkedAbort(c.signal);
  m.dispose();
  c.abort();
  t.equal(m.signal.aborted, false, 'after dispose, the source no longer reaches it');

  const done = new AbortController();
  done.abort();
  t.equal(linkedAbort(done.signal).signal.aborted, true, 'an already aborted signal aborts it at once');
  t.equal(linkedAbort().signal.aborted, false);
});
