// The glob patterns of `Conflicts=`, with the syntax and meaning of Go's path.Match, which fleet
// uses: `*` any run of characters but `/`, `?` one character, `[a-z]`/`[^a-z]` a class, `\` escapes
// the next character. Unit names have no `/`, so in practice `*` matches anything.

const compiled = new Map<string, RegExp>();

/** Why `pattern` is not a valid glob, or undefined. */
export function globProblem(pattern: string): string | undefined {
  try {
    compileGlob(pattern);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** True when the pattern has glob syntax; false when it can only match itself. */
export function hasGlobMeta(pattern: string): boolean {
  return /[*?[\\]/.test(pattern);
}

/** Whether `name` matches `pattern` (false for an invalid pattern, as path.Match's error would be). */
export function matchGlob(pattern: string, name: string): boolean {
  let re = compiled.get(pattern);
  if (re === undefined) {
    try {
      re = compileGlob(pattern);
    } catch {
      return false;
    }
    if (compiled.size > 1000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re.test(name);
}

/** The pattern as an anchored RegExp; throws an Error saying what is malformed. */
export function compileGlob(pattern: string): RegExp {
  let src = '';
  let i = 0;
  const literal = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '*') {
      src += '[^/]*';
      i++;
    } else if (c === '?') {
      src += '[^/]';
      i++;
    } else if (c === '\\') {
      if (i + 1 >= pattern.length) throw new Error('the pattern ends with an escaping "\\"');
      src += literal(pattern[i + 1]!);
      i += 2;
    } else if (c === '[') {
      i++;
      let negated = false;
      if (pattern[i] === '^') {
        negated = true;
        i++;
      }
      let cls = '';
      let ranges = 0;
      for (;;) {
        if (i >= pattern.length) throw new Error('a "[" class is not closed with "]"');
        if (pattern[i] === ']' && ranges > 0) {
          i++;
          break;
        }
        let lo: string;
        [lo, i] = classChar(pattern, i);
        if (pattern[i] === '-') {
          let hi: string;
          [hi, i] = classChar(pattern, i + 1);
          if (hi < lo) throw new Error(`the range "${lo}-${hi}" is reversed`);
          cls += `${literal(lo)}-${literal(hi)}`;
        } else {
          cls += literal(lo);
        }
        ranges++;
      }
      src += negated ? `[^/${cls}]` : `[${cls}]`;
    } else {
      src += literal(c);
      i++;
    }
  }
  return new RegExp(`^${src}$`);
}

/** One character of a class at `i` (with its escape), and the index after it. */
function classChar(pattern: string, i: number): [string, number] {
  const c = pattern[i];
  if (c === undefined) throw new Error('a "[" class is not closed with "]"');
  if (c === '\\') {
    const next = pattern[i + 1];
    if (next === undefined) throw new Error('the pattern ends with an escaping "\\"');
    return [next, i + 2];
  }
  if (c === '-' || c === ']') throw new Error(`"${c}" must be escaped in a "[" class`);
  return [c, i + 1];
}
