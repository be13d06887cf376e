// The runner: fleetd's process supervisor, doing systemd's job for the units on one machine.
export { Runner, type RunnerOptions, type RunnerEvents } from './runner.js';
export {
  UnitProcess,
  DEFAULT_START_LIMIT,
  type UnitStatus,
  type SubState,
  type RunnableSpec,
  type StartLimit,
  type UnitProcessOptions,
  type UnitProcessEvents,
} from './unit-process.js';
export {
  Journal,
  formatJournalEntry,
  assertUnitName,
  DEFAULT_JOURNAL_CAP_BYTES,
  type JournalEntry,
  type JournalStream,
  type JournalOptions,
} from './journal.js';
export {
  splitCommand,
  parseCommandLine,
  expandWords,
  resolveExecutable,
  CommandLineError,
  ExecutableNotFoundError,
  DEFAULT_PATH,
} from './command-line.js';
export { parseEnvironmentFile, readEnvironmentFile, type EnvironmentFileContent } from './environment-file.js';
export { describeExit, resultOf, type UnitResult, type CommandExit } from './exit-status.js';
export { systemClock, type Clock } from '../../util/clock.js';
export { groupAlive } from './process-group.js';
export { describeProcesses, type ProcessInfo, type UnitProcesses } from './process-list.js';
export { sweepEmptyCommandCgroups } from './command-cgroup.js';
