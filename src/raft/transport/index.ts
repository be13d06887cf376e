export { PeerTransport, type TransportOptions, type PeerStats, type PeerTls } from './peer-transport.js';
export type { DialTls } from './peer-connection.js';
export { TransportError, type TransportErrorCode, CloseCode } from './errors.js';
export { HEADER_CLUSTER, HEADER_FROM, HEADER_TO, HEADER_PROTO, HEADER_REASON } from './server.js';
