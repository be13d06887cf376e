// The shapes shared by fleet's parts: the parsed unit file (unit/), its [X-Fleet] options (read by
// the engine's scheduler), its [Service] section (run by the agent's runner), and the registry's
// records (registry/). Each part owns its code; this file only fixes what they exchange.

/** One `Key=Value` line of a unit file, in file order. Repeated keys are kept, each its own entry. */
export interface UnitEntry {
  key: string;
  value: string;
  /** 1-based line where the entry starts (a continued value spans several lines). */
  line: number;
}

export interface UnitSection {
  /** As written between the brackets: `Unit`, `Service`, `X-Fleet`, `X-Service`, ... */
  name: string;
  entries: UnitEntry[];
  line: number;
}

/** A parsed unit file. Sections with the same name are kept apart, in order, as systemd reads them. */
export interface UnitFile {
  /** The unit's name: `hello.service`, `web@.service` (template), `web@1.service` (instance). */
  name: string;
  sections: UnitSection[];
  /** The text it was parsed from (what the registry stores and `fleetctl cat` prints). */
  text: string;
  /**
   * True once `%n`/`%i`/... in the values have been replaced (by `instantiate`): [X-Fleet] is then
   * taken as it is (resolving it again would turn an escaped `%%i` into the instance name); the
   * other sections hold a form that resolves again exactly (`%%` and the machine's specifiers kept).
   */
  specifiersResolved?: boolean;
}

/** `[X-Fleet]`, as CoreOS fleet reads it. */
export interface FleetOptions {
  /** `MachineID=`: only this machine (full id). */
  machineId?: string;
  /** `MachineOf=`: on the same machine as each of these units. */
  machineOf: string[];
  /** `MachineMetadata=k=v`: the same key repeated is OR, different keys AND. */
  machineMetadata: Record<string, string[]>;
  /** `Conflicts=`: globs of unit names this unit must not share a machine with (both directions). */
  conflicts: string[];
  /** `Global=true`: on every machine that matches the metadata. */
  global: boolean;
  /** `Replaces=`: units this one displaces from the machine it is placed on. */
  replaces: string[];
}

export type RestartPolicy = 'no' | 'on-failure' | 'always';
export type ServiceType = 'simple' | 'oneshot';

/** One `Exec*=` command line, split into argv as systemd does (quotes, `\` escapes, `$VAR`/`${VAR}`). */
export interface ExecCommand {
  /** The text as written, without the prefixes below. */
  text: string;
  /** `-` prefix: a non-zero exit is not a failure. */
  ignoreFailure: boolean;
}

/** `[Service]`, with systemd's defaults filled in. Times are milliseconds. */
export interface ServiceSpec {
  type: ServiceType;
  execStartPre: ExecCommand[];
  execStart: ExecCommand[];
  execStartPost: ExecCommand[];
  execStop: ExecCommand[];
  /** `Environment=` assignments in order (later ones win). */
  environment: Record<string, string>;
  /** `EnvironmentFile=`; `-` prefix: missing file is not an error. */
  environmentFiles: { path: string; optional: boolean }[];
  workingDirectory?: string;
  user?: string;
  restart: RestartPolicy;
  restartSecMs: number;
  timeoutStartMs: number;
  timeoutStopMs: number;
  /** `RemainAfterExit=` (Type=oneshot: stay active/exited after success); absent means no. */
  remainAfterExit?: boolean;
}

/** What an operator asked for a unit (`fleetctl load/start/stop/unload`). */
export type DesiredState = 'inactive' | 'loaded' | 'launched';

/** systemd's view of a unit on a machine, as the agent reports it. */
export type LoadState = 'loaded' | 'not-found' | 'error';
export type ActiveState = 'inactive' | 'activating' | 'active' | 'deactivating' | 'failed';
