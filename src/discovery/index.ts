// Service discovery on the store: registration with health checks, lookup and watch, config
// watch, and the Consul-style HTTP and DNS front ends fleetd serves. See docs/discovery.md.
export { register, Registration, type RegisterOptions } from './registry.js';
export { lookup, watch, listServices, summarize, type LookupOptions, type WatchServiceOptions, type ServiceSet, type ServiceSummary } from './lookup.js';
export { watchConfig, watchJsonConfig, type ConfigChange, type ConfigSnapshot, type JsonConfigSnapshot, type ConfigWatchOptions } from './config-watch.js';
export { ServiceCatalog, type CatalogEntry, type CatalogOptions } from './catalog.js';
export { createHttpHandler, type HttpApiOptions, type HttpHandler } from './http-api.js';
export { DnsServer, catalogView, type DnsServerOptions } from './dns/index.js';
export { serviceFromUnit, findServiceSection, checkFromSpec, SERVICE_SECTION, type UnitSectionLike, type UnitServiceContext } from './unit.js';
export { reportCheck, findTtlCheck, defaultReportsPrefix, type ReportOptions, type CheckReport } from './ttl-reports.js';
export { mirrorPrefix, type MirrorUpdate, type MirrorEvent } from './prefix-mirror.js';
export { DiscoveryError, ValidationError, type Problem, type DiscoveryErrorCode } from './errors.js';
export { parseDuration, formatDuration } from '../util/duration.js';
export {
  DEFAULT_PREFIX,
  DEFAULT_CHECK_INTERVAL,
  DEFAULT_CHECK_TIMEOUT,
  validateDefinition,
  encodeInstance,
  decodeInstance,
  instanceKey,
  serviceKeyPrefix,
  worstStatus,
  matchesFilter,
  type Check,
  type CheckDefinition,
  type CheckType,
  type HealthStatus,
  type InstanceFilter,
  type ServiceDefinition,
  type ServiceInstance,
} from './schema.js';
