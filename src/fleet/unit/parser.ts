// systemd's unit file syntax, read the way systemd's config_parse reads it: comments are whole lines
// (first non-blank character `#` or `;`), a line ending in an odd number of backslashes continues on
// the next line (the backslash becomes a space; comment lines in between are skipped), key and
// value are stripped of blanks around `=`, values are kept verbatim (quotes, `#`, `;` included),
// and repeated keys and repeated sections are kept, in order. Where systemd only warns and ignores a
// line (no section yet, no `=`), we refuse the file: a unit that silently loses a line is worse than
// one that is refused at submit time.
import type { UnitFile, UnitSection } from '../types.js';
import { UnitFileError } from './errors.js';
import { unitNameProblem } from './names.js';

/** Largest unit file accepted, in bytes of UTF-8 (systemd's LONG_LINE_MAX; fleet's units are small). */
export const MAX_UNIT_FILE_BYTES = 1024 * 1024;

const BOM = '\uFEFF';
/** systemd's WHITESPACE: JavaScript's trim() would also eat form feeds and non-breaking spaces. */
const BLANKS = ' \t\n\r';

/** Parses unit file text. `name` is the unit's name (`hello.service`), used in errors. */
export function parseUnitFile(name: string, text: string): UnitFile {
  checkName(name);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_UNIT_FILE_BYTES) throw tooBig(name, bytes);
  checkText(name, text);

  const body = text.startsWith(BOM) ? text.slice(1) : text;
  const sections: UnitSection[] = [];
  const lines = body.split(/\r\n|\r|\n/);
  let pending: string | undefined; // a value continued with a trailing backslash
  let pendingLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const first = raw[skipBlanks(raw, 0)];
    // Comment lines are dropped before continuation is considered, as systemd does, so a comment
    // between continued lines does not end the value.
    if (first === '#' || first === ';') continue;
    if (pending === undefined) pendingLine = i + 1;
    const joined = pending === undefined ? raw : pending + raw;
    if (endsEscaped(joined)) {
      pending = joined.slice(0, -1) + ' ';
      continue;
    }
    pending = undefined;
    parseLine(name, joined, pendingLine, sections);
  }
  // systemd takes a continuation that runs into the end of the file as a complete line.
  if (pending !== undefined) parseLine(name, pending, pendingLine, sections);
  return { name, sections, text };
}

/**
 * Parses a unit file read as bytes: refuses invalid UTF-8 with the line it is on, where decoding
 * it into a string would silently have replaced it.
 */
export function parseUnitFileBytes(name: string, bytes: Uint8Array): UnitFile {
  checkName(name);
  if (bytes.length > MAX_UNIT_FILE_BYTES) throw tooBig(name, bytes.length);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new UnitFileError(name, badUtf8Line(bytes), 'not UTF-8 text (invalid byte sequence)');
  }
  return parseUnitFile(name, text);
}

function checkName(name: string): void {
  const problem = unitNameProblem(name);
  if (problem !== undefined) throw new UnitFileError(name, 0, `invalid unit name: ${problem}`);
}

function tooBig(name: string, bytes: number): UnitFileError {
  return new UnitFileError(name, 0, `the file is ${bytes} bytes, over the limit of ${MAX_UNIT_FILE_BYTES} (1 MiB)`);
}

/** NUL and the traces of a lossy decoding (U+FFFD, lone surrogates) mean this is not a text file. */
function checkText(name: string, text: string): void {
  const nul = text.indexOf('\0');
  if (nul >= 0) throw new UnitFileError(name, lineAt(text, nul), 'contains a NUL character: not a text file');
  const bad = /\uFFFD|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(text);
  if (bad !== null) {
    const what = bad[0] === '\uFFFD' ? 'U+FFFD, the mark of a lossy decoding' : 'a lone UTF-16 surrogate';
    throw new UnitFileError(name, lineAt(text, bad.index), `not UTF-8 text (${what})`);
  }
}

function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) line++;
  }
  return line;
}

/**
 * The line of the first byte sequence that is not UTF-8, for a buffer known to hold one. Lines end
 * with LF, CRLF or CR; no multi-byte sequence contains those bytes, so lines decode on their own.
 */
function badUtf8Line(bytes: Uint8Array): number {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const decodes = (part: Uint8Array) => {
    try {
      decoder.decode(part);
      return true;
    } catch {
      return false;
    }
  };
  let line = 1;
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b !== 0x0a && b !== 0x0d) continue;
    if (!decodes(bytes.subarray(start, i))) return line;
    if (b === 0x0d && bytes[i + 1] === 0x0a) i++;
    line++;
    start = i + 1;
  }
  // Every earlier line decoded, so the last one is the bad one.
  return line;
}

/** True when the text ends in an odd run of backslashes, i.e. its last character is an escape. */
function endsEscaped(text: string): boolean {
  let n = 0;
  for (let i = text.length - 1; i >= 0 && text[i] === '\\'; i--) n++;
  return n % 2 === 1;
}

function skipBlanks(text: string, from: number): number {
  let i = from;
  while (i < text.length && BLANKS.includes(text[i]!)) i++;
  return i;
}

function strip(text: string): string {
  let end = text.length;
  while (end > 0 && BLANKS.includes(text[end - 1]!)) end--;
  return text.slice(skipBlanks(text.slice(0, end), 0), end);
}

function parseLine(file: string, text: string, line: number, sections: UnitSection[]): void {
  const l = strip(text);
  if (l === '') return;
  if (l.startsWith('[')) {
    if (!l.endsWith(']')) {
      throw new UnitFileError(file, line, `section header ${quote(l)} does not end with "]"`);
    }
    const name = l.slice(1, -1);
    const problem = sectionNameProblem(name);
    if (problem !== undefined) throw new UnitFileError(file, line, `invalid section name ${quote(name)}: ${problem}`);
    sections.push({ name, entries: [], line });
    return;
  }
  const section = sections[sections.length - 1];
  if (section === undefined) {
    throw new UnitFileError(file, line, `${quote(l)} is outside any section: a unit file starts with a section header such as [Unit]`);
  }
  const eq = l.indexOf('=');
  if (eq < 0) {
    throw new UnitFileError(file, line, `missing "=" in ${quote(l)}: a line is Key=Value, a [Section] header or a # comment`);
  }
  const key = strip(l.slice(0, eq));
  if (key === '') throw new UnitFileError(file, line, `missing key name before "=" in ${quote(l)}`);
  section.entries.push({ key, value: strip(l.slice(eq + 1)), line });
}

function sectionNameProblem(name: string): string | undefined {
  if (name === '') return 'it is empty';
  if (strip(name) !== name) return 'blanks around the name';
  // systemd's string_is_safe, plus brackets, which can only be a typo here.
  const bad = /[\x00-\x1f\x7f"'\\[\]]/.exec(name);
  if (bad !== null) return `the character ${JSON.stringify(bad[0])} is not allowed`;
  return undefined;
}

/** The offending text, shortened: a runaway line should not fill the terminal. */
function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? text.slice(0, 57) + '...' : text);
}
