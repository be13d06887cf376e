// systemd's rules for one `Exec*=` line, applied the way systemd applies them: the line is first
// split into words (quotes and C escapes removed), then each word but the first has its environment
// variables substituted, then the executable is located.
//
// What is supported, as in systemd.service(5) "Command lines":
//   - words are separated by spaces, tabs and newlines;
//   - "double" and 'single' quotes anywhere in a word, C escapes inside and outside them
//     (\a \b \f \n \r \t \v \\ \" \' \s \xHH \NNN \uHHHH \UHHHHHHHH), `\ ` and `\;` for a literal
//     space or semicolon;
//   - `${VAR}` is replaced inline (one word, whitespace kept), `$VAR` standing alone as a word
//     becomes the variable's value split at whitespace (zero or more words), `$$` is a literal `$`.
//     As in systemd, quoting does not stop substitution (`"$VAR"` still splits): write `$$` to keep a
//     `$`. The first word (the program) is never substituted. A braceless `$VAR` must be a valid
//     shell-style name; anything else (`$1`, `$FOO-x`) is left as written;
//   - the program is an absolute path, or a bare name (no `/`) looked up in the unit's `PATH`, as
//     systemd >= 239 does (systemd searches a fixed path; we use the unit's environment `PATH`, which
//     the agent sets, falling back to systemd's default when the unit has none).
// Not supported, with a clear error: a lone `;` separating several commands on one line (systemd
// before v243 allowed it; write one `Exec*=` per command or `\;` for a literal semicolon).
import { accessSync, constants, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { C_ESCAPES, isEnvName, splitWords } from '../../util/words.js';

/** systemd's default search path for executables. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A syntax error in a command line; `column` is 1-based. */
export class CommandLineError extends Error {
  constructor(
    readonly commandLine: string,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${reason} (column ${column} of command line: ${commandLine})`);
    this.name = 'CommandLineError';
  }
}

/** The program of a command line is a bare name that no directory of PATH holds. */
export class ExecutableNotFoundError extends Error {
  readonly code = 'ENOENT';
  constructor(
    readonly executable: string,
    readonly searchPath: string,
  ) {
    super(`Failed to locate executable ${executable}: No such file or directory (PATH=${searchPath})`);
    this.name = 'ExecutableNotFoundError';
  }
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
/** The C escapes, plus what a command line also takes: `\;` and `\ ` (and an escaped tab). */
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { ...C_ESCAPES, ';': ';', ' ': ' ', '\t': '\t' };

/**
 * Splits a command line into its words (quotes and escapes removed), without substituting
 * variables or locating the program: this is the check a unit gets when it is loaded.
 * Throws CommandLineError for an unterminated quote, a bad escape, a lone `;`, an empty line or a
 * relative program path.
 */
export function parseCommandLine(text: string): string[] {
  const words: string[] = [];
  let programColumn = 1;
  let i = 0;
  const n = text.length;
  for (;;) {
    while (i < n && WHITESPACE.has(text[i]!)) i++;
    if (i >= n) break;
    const start = i;
    let word = '';
    let literal = true; // no quote or escape in it: only such a `;` separates commands
    while (i < n && !WHITESPACE.has(text[i]!)) {
      const c = text[i]!;
      if (c === '"' || c === "'") {
        literal = false;
        const open = i;
        i++;
        for (;;) {
          if (i >= n) {
            const kind = c === '"' ? 'double' : 'single';
            throw new CommandLineError(text, open + 1, `unterminated ${kind} quote`);
          }
          const q = text[i]!;
          if (q === c) {
            i++;
            break;
          }
          if (q === '\\') {
            const [s, next] = unescapeAt(text, i);
            word += s;
            i = next;
          } else {
            word += q;
            i++;
          }
        }
      } else if (c === '\\') {
        literal = false;
        const [s, next] = unescapeAt(text, i);
        word += s;
        i = next;
      } else {
        word += c;
        i++;
      }
    }
    if (literal && word === ';') {
      throw new CommandLineError(
        text,
        start + 1,
        'multiple commands per line are not supported (use one Exec line per command, or \\; for a literal semicolon)',
      );
    }
    if (words.length === 0) programColumn = start + 1;
    words.push(word);
  }
  if (words.length === 0) throw new CommandLineError(text, 1, 'empty command line');
  const program = words[0]!;
  if (program === '') throw new CommandLineError(text, programColumn, 'empty executable name');
  if (program.includes('/') && !isAbsolute(program)) {
    throw new CommandLineError(
      text,
      programColumn,
      `executable path "${program}" is neither absolute nor a bare name to look up in PATH`,
    );
  }
  return words;
}

/** Decodes the escape whose backslash is at `at`; returns the text and the index after it. */
function unescapeAt(text: string, at: number): [string, number] {
  const c = text[at + 1];
  if (c === undefined) throw new CommandLineError(text, at + 1, 'trailing backslash');
  const simple = SIMPLE_ESCAPES[c];
  if (simple !== undefined) return [simple, at + 2];
  const hex = (digits: number): [string, number] => {
    const h = text.slice(at + 2, at + 2 + digits);
    if (h.length !== digits || !/^[0-9a-fA-F]+$/.test(h)) {
      throw new CommandLineError(text, at + 1, `invalid escape "\\${c}${h}": expected ${digits} hex digits`);
    }
    return [codePoint(text, at, parseInt(h, 16)), at + 2 + digits];
  };
  if (c === 'x') return hex(2);
  if (c === 'u') return hex(4);
  if (c === 'U') return hex(8);
  if (c >= '0' && c <= '7') {
    const o = text.slice(at + 1, at + 4);
    if (!/^[0-7]{3}$/.test(o)) {
      throw new CommandLineError(text, at + 1, `invalid escape "\\${o}": expected 3 octal digits`);
    }
    return [codePoint(text, at, parseInt(o, 8)), at + 4];
  }
  const hint = c === '$' ? ' (write $$ for a literal $)' : '';
  throw new CommandLineError(text, at + 1, `invalid escape "\\${c}"${hint}`);
}

function codePoint(text: string, at: number, cp: number): string {
  if (cp === 0) throw new CommandLineError(text, at + 1, 'NUL characters are not allowed');
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    throw new CommandLineError(text, at + 1, `invalid code point U+${cp.toString(16).toUpperCase()}`);
  }
  return String.fromCodePoint(cp);
}

/** Only the environment's own variables: `$constructor` is not Object.prototype.constructor. */
function lookup(env: Record<string, string | undefined>, name: string): string {
  return Object.hasOwn(env, name) ? (env[name] ?? '') : '';
}

/** Substitutes `$VAR`, `${VAR}` and `$$` in every word but the program, as systemd does at exec time. */
export function expandWords(words: string[], env: Record<string, string | undefined>): string[] {
  const out = [words[0]!];
  for (const word of words.slice(1)) {
    if (word.startsWith('$') && isEnvName(word.slice(1))) {
      // systemd splits the value as words, quotes and all (EXTRACT_UNQUOTE | EXTRACT_RELAX).
      out.push(...splitWords(lookup(env, word.slice(1)), { cunescape: false, relax: true }));
      continue;
    }
    out.push(word.replace(/\$\$|\$\{([^}]*)\}/g, (m, name: string | undefined) => (m === '$$' ? '$' : lookup(env, name!))));
  }
  return out;
}

/** The absolute path of `program`: itself when absolute, else the first executable file of PATH. */
export function resolveExecutable(program: string, searchPath: string | undefined): string {
  if (isAbsolute(program)) return program;
  const path = searchPath || DEFAULT_PATH;
  for (const dir of path.split(':')) {
    if (!isAbsolute(dir)) continue; // a relative PATH entry would depend on the agent's cwd
    const candidate = join(dir, program);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here: try the next directory
    }
  }
  throw new ExecutableNotFoundError(program, path);
}

/**
 * An `Exec*=` line as the argv to execute: split, substituted with `env`, the program located in
 * `env.PATH`. Throws CommandLineError (syntax) or ExecutableNotFoundError.
 */
export function splitCommand(text: string, env: Record<string, string | undefined>): string[] {
  const argv = expandWords(parseCommandLine(text), env);
  argv[0] = resolveExecutable(argv[0]!, env.PATH);
  return argv;
}
