// `EnvironmentFile=` files, read as systemd reads them (load_env_file): `KEY=VALUE` lines, blank
// lines and lines starting with `#` or `;` ignored, whitespace around the key and before the value
// dropped, trailing whitespace of an unquoted value dropped, "double quotes" (with \" \\ \$ \`
// escapes) and 'single quotes' (literal) that may span lines, a backslash before a newline joining
// lines. A line systemd would reject (no `=`, a bad name) is skipped with a warning, as systemd
// skips it; it does not fail the unit.
import { readFileSync } from 'node:fs';

export interface EnvironmentFileContent {
  vars: Record<string, string>;
  /** `path:line: what was wrong`, one per skipped assignment. */
  warnings: string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DOUBLE_QUOTE_ESCAPES = new Set(['"', '\\', '$', '`']);

export function parseEnvironmentFile(text: string, path: string): EnvironmentFileContent {
  const vars: Record<string, string> = {};
  const warnings: string[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  const advance = (): string => {
    const c = text[i++]!;
    if (c === '\n') line++;
    return c;
  };
  while (i < n) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      advance();
      continue;
    }
    const startLine = line;
    if (c === '#' || c === ';') {
      while (i < n && text[i] !== '\n') advance();
      continue;
    }
    let key = '';
    while (i < n && text[i] !== '=' && text[i] !== '\n') key += advance();
    if (i >= n || text[i] === '\n') {
      warnings.push(`${path}:${startLine}: ignoring line without "=": ${key.trim()}`);
      continue;
    }
    advance(); // '='
    key = key.trim();
    const value = readValue();
    if (!NAME.test(key)) {
      warnings.push(`${path}:${startLine}: ignoring assignment to invalid variable name "${key}"`);
      continue;
    }
    vars[key] = value;
  }
  return { vars, warnings };

  function readValue(): string {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) advance();
    let value = '';
    let kept = 0; // length of `value` that trailing-whitespace trimming must not cut (quoted text)
    while (i < n && text[i] !== '\n') {
      const c = advance();
      if (c === '\\') {
        if (i >= n) break;
        const next = advance();
        if (next !== '\n') value += next;
        kept = value.length;
      } else if (c === '"') {
        while (i < n && text[i] !== '"') {
          const q = advance();
          if (q === '\\' && i < n) {
            const next = advance();
            if (next === '\n') continue;
            value += DOUBLE_QUOTE_ESCAPES.has(next) ? next : `\\${next}`;
          } else {
            value += q;
          }
        }
        if (i < n) advance(); // closing quote; an unterminated one takes the rest, as systemd does
        kept = value.length;
      } else if (c === "'") {
        while (i < n && text[i] !== "'") value += advance();
        if (i < n) advance();
        kept = value.length;
      } else {
        value += c;
        if (c !== ' ' && c !== '\t' && c !== '\r') kept = value.length;
      }
    }
    return value.slice(0, kept);
  }
}

/** Reads and parses one file; throws the fs error (ENOENT, EACCES, EISDIR) for the caller to report. */
export function readEnvironmentFile(path: string): EnvironmentFileContent {
  return parseEnvironmentFile(readFileSync(path, 'utf8'), path);
}
