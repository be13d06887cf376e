export { DEFAULT_PREFIX, RegistryKeys, type ParsedKey } from './keys.js';
export * from './records.js';
export { Registry, RegistryError, applyDelete, applyPut, emptySnapshot, type PlacementChange, type RegistrySnapshot, type SubmitResult } from './registry.js';
export { RegistryView } from './view.js';
