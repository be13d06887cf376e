// systemd's word splitting (extract_first_word with EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE): words are
// separated by blanks; `"..."` and `'...'` quote anywhere in a word and are removed; C escapes
// (`\n`, `\t`, `\"`, `\x41`, `\s` for a space...) are decoded inside and outside quotes. Shared by
// unit files (`Environment=`, the values a `$VAR` expands to in `Exec*=` lines) and discovery's
// exec checks, which take the same quoting.

const BLANKS = ' \t\n\r';

export interface SplitOptions {
  /** Decode C escapes (default true); without, a backslash just takes the next character. */
  cunescape?: boolean;
  /** Accept an unclosed quote and a trailing backslash (systemd's EXTRACT_RELAX). */
  relax?: boolean;
}

/** The words of `text`; throws an Error saying what is malformed. */
export function splitWords(text: string, options: SplitOptions = {}): string[] {
  const cunescape = options.cunescape ?? true;
  const relax = options.relax ?? false;
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\\') {
      inWord = true;
      if (i + 1 >= text.length) {
        if (!relax) throw new Error('the line ends with a lone backslash');
        word += '\\';
        i++;
        continue;
      }
      if (cunescape) {
        const [decoded, length] = unescapeOne(text, i + 1);
        word += decoded;
        i += 1 + length;
      } else {
        word += text[i + 1];
        i += 2;
      }
      continue;
    }
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (BLANKS.includes(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
    i++;
  }
  if (quote !== undefined && !relax) throw new Error(`a ${quote} quote is not closed`);
  if (inWord) words.push(word);
  return words;
}

/** systemd's one-character C escapes (cunescape): `\n`, `\t`, `\s` for a space... */
export const C_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  s: ' ',
  '\\': '\\',
  '"': '"',
  "'": "'",
};

/** One C escape starting after the backslash at `i`: the text it stands for and the characters it used. */
function unescapeOne(text: string, i: number): [string, number] {
  const c = text[i]!;
  if (c in C_ESCAPES) return [C_ESCAPES[c]!, 1];
  const hex = (digits: number): [string, number] => {
    const h = text.slice(i + 1, i + 1 + digits);
    if (h.length !== digits || !/^[0-9a-fA-F]+$/.test(h)) {
      throw new Error(`\\${c} takes ${digits} hex digits`);
    }
    const code = parseInt(h, 16);
    if (code === 0) throw new Error(`\\${c}${h} is a NUL character`);
    if (code > 0x10ffff) throw new Error(`\\${c}${h} is not a Unicode character`);
    return [String.fromCodePoint(code), 1 + digits];
  };
  if (c === 'x') return hex(2);
  if (c === 'u') return hex(4);
  if (c === 'U') return hex(8);
  if (c >= '0' && c <= '7') {
    const o = text.slice(i, i + 3);
    if (!/^[0-7]{3}$/.test(o)) throw new Error('an octal escape has 3 digits, as in \\101');
    const code = parseInt(o, 8);
    if (code === 0) throw new Error('\\000 is a NUL character');
    return [String.fromCharCode(code), 3];
  }
  throw new Error(`unknown escape \\${c} (write \\\\ for a backslash)`);
}

/** systemd's env_name_is_valid. */
export function isEnvName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}
