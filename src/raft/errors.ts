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
