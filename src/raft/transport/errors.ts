// Typed errors of the peer transport. None of them escapes `PeerTransport.send()`; they are thrown
// by the codec and the chunk reassembler and turned into log lines and closed connections.

export type TransportErrorCode =
  /** A frame that does not decode: unknown kind, not msgpack, wrong shape or field types. */
  | 'BAD_FRAME'
  /** A well-formed frame that breaks the protocol (e.g. a snapshot chunk out of sequence). */
  | 'PROTOCOL'
  /** A frame or snapshot larger than the configured limit. */
  | 'TOO_LARGE'
  /** The listener refused the connection (HTTP 403 on upgrade). */
  | 'REFUSED'
  /** Invalid transport options. */
  | 'CONFIG';

export class TransportError extends Error {
  readonly code: TransportErrorCode;

  constructor(code: TransportErrorCode, message: string) {
    super(message);
    this.name = 'TransportError';
    this.code = code;
  }
}

/** WebSocket close codes used by the transport (RFC 6455 section 7.4.1). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  TooBig: 1009,
  /** The connection was replaced by a newer one from the same peer. */
  Replaced: 4000,
  /** The peer was removed from the membership. */
  Removed: 4001,
} as const;
