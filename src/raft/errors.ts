// Typed errors of the Raft layer. `code` is stable so that upper layers can map them to API errors.

export class RaftError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RaftError';
  }
}

/** The proposal could not be taken: no leader is known, or leadership is being transferred. */
export class ProposalDroppedError extends RaftError {
  constructor(reason: string) {
    super('ProposalDropped', `raft: proposal dropped: ${reason}`);
    this.name = 'ProposalDroppedError';
  }
}

/** The proposal was not applied within its deadline; it may still be applied later. */
export class ProposalTimeoutError extends RaftError {
  constructor(ms: number) {
    super('ProposalTimeout', `raft: proposal not applied within ${ms} ms (it may still be applied)`);
    this.name = 'ProposalTimeoutError';
  }
}

/** The node stopped before the request finished. */
export class NodeStoppedError extends RaftError {
  constructor() {
    super('Stopped', 'raft: node stopped');
    this.name = 'NodeStoppedError';
  }
}

/** A linearizable read could not be confirmed within its deadline. */
export class ReadIndexTimeoutError extends RaftError {
  constructor(ms: number) {
    super('ReadTimeout', `raft: linearizable read not confirmed within ${ms} ms`);
    this.name = 'ReadIndexTimeoutError';
  }
}

/** Applies lag the commit index too far: the member takes no new proposal until they catch up. */
export class TooManyRequestsError extends RaftError {
  constructor(gap: number) {
    super('TooManyRequests', `raft: too many requests (applies are ${gap} entries behind the commit index)`);
    this.name = 'TooManyRequestsError';
  }
}
