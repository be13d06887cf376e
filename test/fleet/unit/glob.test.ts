// Conflicts= globs with Go's path.Match syntax.
import t from 'tap';
import { compileGlob, globProblem, hasGlobMeta, matchGlob } from '../../../src/fleet/unit/index.js';

t.test('matching', async (t) => {
  const cases: [string, string, boolean][] = [
    ['web@*.service', 'web@1.service', true],
    ['web@*.service', 'web@.service', true],
    ['web@*.service', 'web.service', false],
    ['*', 'anything.service', true],
    ['a?.service', 'ab.service', true],
    ['a?.service', 'a.service', false],
    ['x[0-9].service', 'x5.service', true],
    ['x[0-9].service', 'xa.service', false],
    ['x[^0-9].service', 'xa.service', true],
    ['x[^0-9].service', 'x5.service', false],
    ['x[a\\-c].service', 'x-.service', true],
    ['x[a\\-c].service', 'xb.service', false],
    ['a\\*.service', 'a*.service', true],
    ['a\\*.service', 'ab.service', false],
    ['a.service', 'aXservice', false],
    ['a+b(c).service', 'a+b(c).service', true],
    ['*/x', 'a/x', true],
    ['*', 'a/b', false],
    ['?', '/', false],
    ['[^a]', '/', false],
  ];
  for (const [pattern, name, want] of cases) {
    t.equal(matchGlob(pattern, name), want, `${pattern} ~ ${name}`);
  }
  t.equal(matchGlob('web@*.service', 'web@2.service'), true, 'from the cache');
});

t.test('malformed patterns', async (t) => {
  t.equal(globProblem('ok*'), undefined);
  t.equal(globProblem('a['), 'a "[" class is not closed with "]"');
  t.equal(globProblem('a[b'), 'a "[" class is not closed with "]"');
  t.equal(globProblem('a[]'), '"]" must be escaped in a "[" class');
  t.equal(globProblem('a[]b]'), '"]" must be escaped in a "[" class');
  t.equal(globProblem('a[-b]'), '"-" must be escaped in a "[" class');
  t.equal(globProblem('a[b-]'), '"]" must be escaped in a "[" class');
  t.equal(globProblem('a[b-'), 'a "[" class is not closed with "]"');
  t.equal(globProblem('a[z-a]'), 'the range "z-a" is reversed');
  t.equal(globProblem('a\\'), 'the pattern ends with an escaping "\\"');
  t.equal(globProblem('a[\\'), 'the pattern ends with an escaping "\\"');
  t.equal(matchGlob('a[', 'a['), false, 'an invalid pattern matches nothing');
  t.ok(compileGlob('a*') instanceof RegExp);
  t.ok(hasGlobMeta('a*'));
  t.ok(hasGlobMeta('a?'));
  t.ok(hasGlobMeta('[a]'));
  t.ok(hasGlobMeta('a\\b'));
  t.notOk(hasGlobMeta('web@1.service'));
});

t.test('the cache is bounded', async (t) => {
  let matched = 0;
  for (let i = 0; i < 1100; i++) if (matchGlob(`p${i}*`, `p${i}x`)) matched++;
  t.equal(matched, 1100);
  t.equal(matchGlob('p5*', 'p5'), true, 'compiled again after the cache was cleared');
});
