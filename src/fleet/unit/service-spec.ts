// `[Service]` as our runner executes it, with systemd's defaults and systemd's reading of each
// setting. The runner has no systemd, so a setting we cannot honour exactly is an error when it would
// change what runs (an unsupported Type=, Restart= or Exec prefix) and a warning when systemd has it
// and we merely ignore it (the hundreds of sandboxing and resource settings).
import type { ExecCommand, RestartPolicy, ServiceSpec, ServiceType, UnitFile } from '../types.js';
import { UnitFileError } from './errors.js';
import { unitTypeOf } from './names.js';
import { sectionEntries, type MachineFacts } from './specifiers.js';
import { parseBoolean, parseTimeSpan } from './values.js';
import { isEnvName, splitWords } from '../../util/words.js';

export const DEFAULT_RESTART_SEC_MS = 100;
export const DEFAULT_TIMEOUT_MS = 90_000;

type ExecKey = 'ExecStartPre' | 'ExecStart' | 'ExecStartPost' | 'ExecStop';
const EXEC_FIELD: Record<ExecKey, 'execStartPre' | 'execStart' | 'execStartPost' | 'execStop'> = {
  ExecStartPre: 'execStartPre',
  ExecStart: 'execStart',
  ExecStartPost: 'execStartPost',
  ExecStop: 'execStop',
};

const UNSUPPORTED_TYPES = ['exec', 'forking', 'notify', 'notify-reload', 'dbus', 'idle'];
const UNSUPPORTED_RESTARTS = ['on-success', 'on-abnormal', 'on-abort', 'on-watchdog'];

/** What systemd's Exec prefixes mean, for the error that refuses them. */
const EXEC_PREFIX_MEANING: Record<string, string> = {
  '@': 'a custom argv[0]',
  '+': 'running with full privileges',
  '!': 'running with elevated privileges',
  ':': 'no environment variable substitution',
};

/**
 * `[Service]` of a `.service` unit (all its [Service] sections, in order), with systemd's defaults.
 * Throws a UnitFileError; settings we do not run come back as warnings (`file:line: ...`). With
 * `machine`, the machine's specifiers (`%m %b %H %l`) stand for it; without, they stay as written
 * (checking a unit before it is scheduled).
 */
export function serviceSpec(unit: UnitFile, machine?: MachineFacts): { spec: ServiceSpec; warnings: string[] } {
  const file = unit.name;
  if (unitTypeOf(file) !== 'service') {
    throw new UnitFileError(file, 0, `only .service units have a [Service] section to run, not .${unitTypeOf(file)}`);
  }
  const spec: ServiceSpec = {
    type: 'simple',
    execStartPre: [],
    execStart: [],
    execStartPost: [],
    execStop: [],
    environment: {},
    environmentFiles: [],
    restart: 'no',
    restartSecMs: DEFAULT_RESTART_SEC_MS,
    timeoutStartMs: DEFAULT_TIMEOUT_MS,
    timeoutStopMs: DEFAULT_TIMEOUT_MS,
  };
  const warnings: string[] = [];
  let typeLine = 0;
  let restartLine = 0;
  const execStartLines: number[] = [];

  for (const entry of sectionEntries(unit, 'Service', machine)) {
    const { key, value, line } = entry;
    const fail = (reason: string) => new UnitFileError(file, line, `${key}=${value}: ${reason}`);
    const empty = value === '';
    switch (key) {
      case 'Type':
        spec.type = empty ? 'simple' : serviceType(value, fail);
        typeLine = line;
        break;
      case 'ExecStartPre':
      case 'ExecStart':
      case 'ExecStartPost':
      case 'ExecStop': {
        const field = EXEC_FIELD[key];
        // The empty assignment resets the list (systemd: "ExecStart=" before a new ExecStart=).
        if (empty) spec[field] = [];
        else spec[field].push(execCommand(value, fail));
        if (key === 'ExecStart') {
          if (empty) execStartLines.length = 0;
          else execStartLines.push(line);
        }
        break;
      }
      case 'Environment':
        if (empty) spec.environment = {};
        else Object.assign(spec.environment, environmentAssignments(value, fail));
        break;
      case 'EnvironmentFile':
        if (empty) spec.environmentFiles = [];
        else spec.environmentFiles.push(environmentFile(value, fail));
        break;
      case 'WorkingDirectory':
        if (empty) delete spec.workingDirectory;
        else spec.workingDirectory = workingDirectory(value, fail);
        break;
      case 'User':
        if (empty) delete spec.user;
        else spec.user = userName(value, fail);
        break;
      case 'Restart':
        spec.restart = empty ? 'no' : restartPolicy(value, fail);
        restartLine = line;
        break;
      case 'RestartSec':
        spec.restartSecMs = empty ? DEFAULT_RESTART_SEC_MS : timeSpan(value, fail, false);
        break;
      case 'TimeoutSec':
        spec.timeoutStartMs = spec.timeoutStopMs = empty ? DEFAULT_TIMEOUT_MS : timeout(value, fail);
        break;
      case 'TimeoutStartSec':
        spec.timeoutStartMs = empty ? DEFAULT_TIMEOUT_MS : timeout(value, fail);
        break;
      case 'TimeoutStopSec':
        spec.timeoutStopMs = empty ? DEFAULT_TIMEOUT_MS : timeout(value, fail);
        break;
      case 'RemainAfterExit': {
        if (empty) {
          delete spec.remainAfterExit;
          break;
        }
        const on = parseBoolean(value);
        if (on === undefined) throw fail('not a boolean (yes/no, true/false, on/off, 1/0)');
        spec.remainAfterExit = on;
        break;
      }
      default:
        warnings.push(`${file}:${line}: [Service] ${key}= is not supported by the runner; ignored`);
    }
  }

  if (spec.type === 'simple' && execStartLines.length !== 1) {
    if (execStartLines.length === 0) {
      const at = lastServiceSectionLine(unit);
      throw new UnitFileError(file, at, 'Type=simple needs one ExecStart= (a service with nothing to run)');
    }
    throw new UnitFileError(
      file,
      execStartLines[1]!,
      `Type=simple takes exactly one ExecStart= (${execStartLines.length} given; Type=oneshot runs several in turn)`,
    );
  }
  if (spec.type === 'oneshot' && spec.restart === 'always') {
    const line = Math.max(typeLine, restartLine);
    throw new UnitFileError(file, line, 'Restart=always cannot be used with Type=oneshot (systemd refuses it too); use Restart=on-failure');
  }
  return { spec, warnings };
}

function lastServiceSectionLine(unit: UnitFile): number {
  const sections = unit.sections.filter((s) => s.name === 'Service');
  return sections.length > 0 ? sections[sections.length - 1]!.line : 0;
}

type Fail = (reason: string) => UnitFileError;

function serviceType(value: string, fail: Fail): ServiceType {
  if (value === 'simple' || value === 'oneshot') return value;
  if (UNSUPPORTED_TYPES.includes(value)) {
    throw fail(`Type=${value} is not supported (the runner runs simple and oneshot services)`);
  }
  throw fail('unknown service type (systemd has simple, exec, forking, oneshot, dbus, notify, idle; we run simple and oneshot)');
}

function restartPolicy(value: string, fail: Fail): RestartPolicy {
  if (value === 'no' || value === 'on-failure' || value === 'always') return value;
  if (UNSUPPORTED_RESTARTS.includes(value)) {
    throw fail(`Restart=${value} is not supported (the runner has no, on-failure and always)`);
  }
  throw fail('unknown restart policy (no, on-failure or always)');
}

/**
 * An Exec line: the `-` prefix (a failure is not one) is read; systemd's other prefixes change how
 * the command runs in ways the runner cannot do, so they are refused rather than ignored.
 */
function execCommand(value: string, fail: Fail): ExecCommand {
  let i = 0;
  let ignoreFailure = false;
  while (i < value.length && '-@+!:'.includes(value[i]!)) {
    const p = value[i]!;
    if (p === '-') ignoreFailure = true;
    else throw fail(`the "${p}" prefix (${EXEC_PREFIX_MEANING[p]}) is not supported; only "-" is`);
    i++;
  }
  const text = value.slice(i);
  if (text === '' || /^\s/.test(text)) throw fail('no command after the prefix');
  let words: string[];
  try {
    words = splitWords(text);
  } catch (err) {
    throw fail((err as Error).message);
  }
  if (words.includes(';')) {
    throw fail('several commands on one line (separated by ";") are not supported; write one line per command');
  }
  return { text, ignoreFailure };
}

function environmentAssignments(value: string, fail: Fail): Record<string, string> {
  let words: string[];
  try {
    words = splitWords(value);
  } catch (err) {
    throw fail((err as Error).message);
  }
  const env: Record<string, string> = {};
  for (const word of words) {
    const eq = word.indexOf('=');
    const name = eq < 0 ? word : word.slice(0, eq);
    if (eq < 0 || !isEnvName(name)) {
      throw fail(`${JSON.stringify(word)} is not NAME=value (quote an assignment with blanks: "A=b c")`);
    }
    env[name] = word.slice(eq + 1);
  }
  return env;
}

function environmentFile(value: string, fail: Fail): { path: string; optional: boolean } {
  const optional = value.startsWith('-');
  const path = optional ? value.slice(1) : value;
  if (!path.startsWith('/')) throw fail('the path must be absolute (a "-" prefix makes a missing file no error)');
  return { path, optional };
}

function workingDirectory(value: string, fail: Fail): string {
  if (value.startsWith('-') || value.startsWith('~')) {
    throw fail(`the "${value[0]}" form is not supported; give an absolute path`);
  }
  if (!value.startsWith('/')) throw fail('the path must be absolute');
  return value;
}

/** systemd's valid_user_group_name (relaxed form) or a numeric uid. */
function userName(value: string, fail: Fail): string {
  if (/^\d+$/.test(value) || /^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(value)) return value;
  throw fail('not a user name or numeric uid');
}

function timeSpan(value: string, fail: Fail, allowInfinity: boolean): number {
  let ms: number;
  try {
    ms = parseTimeSpan(value);
  } catch (err) {
    throw fail((err as Error).message);
  }
  if (!allowInfinity && ms === Infinity) throw fail('must be a finite time span');
  return ms;
}

/** Timeouts: `0` means none, as `infinity` does (systemd's reading). */
function timeout(value: string, fail: Fail): number {
  const ms = timeSpan(value, fail, true);
  return ms === 0 ? Infinity : ms;
}
