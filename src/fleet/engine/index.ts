// The engine: the pure scheduler and the elected engine that applies its decisions.
export {
  schedule,
  metadataMatches,
  formatMetadata,
  shortId,
  type Decision,
  type SchedulerInput,
  type SchedulerMachine,
  type SchedulerPlacement,
  type SchedulerResult,
  type SchedulerUnit,
  type Unschedulable,
} from './scheduler.js';
export {
  Engine,
  placementGuards,
  planChunks,
  TXN_LIMIT,
  DEFAULT_ENGINE_TTL_SECONDS,
  DEFAULT_HOLD_OFF_MS,
  DEFAULT_RECONCILE_INTERVAL_MS,
  type AppliedDecision,
  type EngineEvents,
  type EngineOptions,
  type PassReport,
} from './engine.js';
export { ContentCollector, DEFAULT_CONTENT_GRACE_MS } from './content-gc.js';
