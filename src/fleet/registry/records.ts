// The records the registry stores, as JSON a person can read with `kvctl get`, and their checked
// decoding: a record another version (or a person with kvctl) wrote badly is reported, not trusted.
import type { ActiveState, DesiredState, LoadState } from '../types.js';

/** `unit/<name>`: a submitted unit and what the operator wants of it. */
export interface UnitRecord {
  name: string;
  /** sha256 of the unit file's text, stored at `content/<hash>`. */
  hash: string;
  desired: DesiredState;
}

/** `placement/<name>`: the machine the engine chose for a non-global unit. */
export interface PlacementRecord {
  machine: string;
  /** The unit's hash when it was placed (a replaced unit is re-checked against its constraints). */
  hash: string;
  /** When it was placed (ms since the epoch, engine's clock): the hold-off against moving it again. */
  at: number;
  /** The engine (its machine id) that placed it. */
  engine: string;
}

/** `machine/<id>`: a live machine, bound to its agent's lease. */
export interface MachineRecord {
  id: string;
  /** The address other machines and operators reach it at. */
  publicIp: string;
  metadata: Record<string, string>;
  /** The agent's HTTP API (journal, status, health): `http://host:port`, or '' when it has none. */
  agentUrl: string;
  cpus: number;
  /** Bytes. */
  memTotal: number;
  memFree: number;
  /** 1-minute load average. */
  load: number;
  version: string;
  /** ms since the epoch. */
  startedAt: number;
}

/** `state/<name>/<machine>`: what the machine running a unit reports, bound to its lease. */
export interface UnitStateRecord {
  name: string;
  machine: string;
  hash: string;
  load: LoadState;
  active: ActiveState;
  sub: string;
  result?: string;
  mainPid?: number;
  exitCode?: number;
  exitSignal?: string;
  /** ms since the epoch of the last change of `active`. */
  since: number;
  restarts?: number;
  /** With `load: 'error'` (or 'not-found'): why the unit could not be loaded (`hello.service:7: ...`). */
  loadError?: string;
  /** Why the unit's [X-Service] section registered nothing (the unit itself runs). */
  serviceError?: string;
}

export class RecordError extends Error {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`registry record ${key}: ${reason}`);
    this.name = 'RecordError';
  }
}

const DESIRED: readonly DesiredState[] = ['inactive', 'loaded', 'launched'];
const ACTIVE: readonly ActiveState[] = ['inactive', 'activating', 'active', 'deactivating', 'failed'];
const LOAD: readonly LoadState[] = ['loaded', 'not-found', 'error'];

type Obj = Record<string, unknown>;

function parseObject(key: string, text: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new RecordError(key, `not JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RecordError(key, 'not a JSON object');
  return v as Obj;
}

function str(key: string, o: Obj, field: string): string {
  const v = o[field];
  if (typeof v !== 'string') throw new RecordError(key, `field "${field}" must be a string`);
  return v;
}

function num(key: string, o: Obj, field: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RecordError(key, `field "${field}" must be a number`);
  return v;
}

function optNum(key: string, o: Obj, field: string): number | undefined {
  return o[field] === undefined ? undefined : num(key, o, field);
}

function oneOf<T extends string>(key: string, o: Obj, field: string, allowed: readonly T[]): T {
  const v = str(key, o, field);
  if (!(allowed as readonly string[]).includes(v)) throw new RecordError(key, `field "${field}" is ${JSON.stringify(v)}, not one of ${allowed.join(', ')}`);
  return v as T;
}

export function decodeUnit(key: string, text: string): UnitRecord {
  const o = parseObject(key, text);
  return { name: str(key, o, 'name'), hash: str(key, o, 'hash'), desired: oneOf(key, o, 'desired', DESIRED) };
}

export function decodePlacement(key: string, text: string): PlacementRecord {
  const o = parseObject(key, text);
  return { machine: str(key, o, 'machine'), hash: str(key, o, 'hash'), at: num(key, o, 'at'), engine: str(key, o, 'engine') };
}

export function decodeMachine(key: string, text: string): MachineRecord {
  const o = parseObject(key, text);
  const md = o.metadata;
  if (typeof md !== 'object' || md === null || Array.isArray(md) || Object.values(md).some((v) => typeof v !== 'string')) {
    throw new RecordError(key, 'field "metadata" must be an object of strings');
  }
  return {
    id: str(key, o, 'id'),
    publicIp: str(key, o, 'publicIp'),
    metadata: md as Record<string, string>,
    agentUrl: typeof o.agentUrl === 'string' ? o.agentUrl : '',
    cpus: num(key, o, 'cpus'),
    memTotal: num(key, o, 'memTotal'),
    memFree: num(key, o, 'memFree'),
    load: num(key, o, 'load'),
    version: typeof o.version === 'string' ? o.version : '',
    startedAt: num(key, o, 'startedAt'),
  };
}

export function decodeState(key: string, text: string): UnitStateRecord {
  const o = parseObject(key, text);
  const r: UnitStateRecord = {
    name: str(key, o, 'name'),
    machine: str(key, o, 'machine'),
    hash: str(key, o, 'hash'),
    load: oneOf(key, o, 'load', LOAD),
    active: oneOf(key, o, 'active', ACTIVE),
    sub: str(key, o, 'sub'),
    since: num(key, o, 'since'),
  };
  if (typeof o.result === 'string') r.result = o.result;
  const pid = optNum(key, o, 'mainPid');
  if (pid !== undefined) r.mainPid = pid;
  const code = optNum(key, o, 'exitCode');
  if (code !== undefined) r.exitCode = code;
  if (typeof o.exitSignal === 'string') r.exitSignal = o.exitSignal;
  const restarts = optNum(key, o, 'restarts');
  if (restarts !== undefined) r.restarts = restarts;
  if (typeof o.loadError === 'string') r.loadError = o.loadError;
  if (typeof o.serviceError === 'string') r.serviceError = o.serviceError;
  return r;
}

/** Records are written indented: they are meant to be read by people with `kvctl get`. */
export function encodeRecord(r: object): string {
  return JSON.stringify(r, null, 2);
}
