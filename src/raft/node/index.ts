export { RaftNode, defaultRequestTimeoutMs, type RaftNodeOptions, type RaftNodeStatus } from './raft-node.js';
export type { StateMachine, AppliedEntry, AppliedKind } from './state-machine.js';
export type { MemberInfo } from './members.js';
