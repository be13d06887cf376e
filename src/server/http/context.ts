// What the handlers of one front end share.
import type { Logger } from '../../util/log.js';
import { EtcdError, GrpcCode, httpStatusOf } from '../../util/errors.js';
import type { KvService } from '../service.js';

/** Something long-lived (a stream, a WebSocket) that the front end ends when it closes. */
export interface Closable {
  close(): void;
}

export interface FrontEndContext {
  readonly service: KvService;
  readonly log: Logger;
  /** etcd's --max-request-bytes: the limit of a write's Raft entry. */
  readonly maxRequestBytes: number;
  /** gRPC's receive limit: the largest protobuf request message. */
  readonly maxBodyBytes: number;
  /** The most bytes buffered for one request body or one pending stream message. */
  readonly bodyCap: number;
  readonly active: Set<Closable>;
}

export interface ErrorInfo {
  readonly code: number;
  readonly message: string;
  readonly status: number;
}

/** How an error is reported: an EtcdError as itself, anything else as gRPC Unknown (500). */
export function errorInfo(ctx: FrontEndContext, e: unknown, what: string): ErrorInfo {
  if (e instanceof EtcdError) return { code: e.grpcCode, message: e.message, status: httpStatusOf(e.grpcCode) };
  const message = e instanceof Error ? e.message : String(e);
  ctx.log.error({ err: e }, `${what}: unexpected error`);
  return { code: GrpcCode.Unknown, message, status: 500 };
}

/** gRPC's answer to a message over its receive limit. */
export function tooLargeForGrpc(ctx: FrontEndContext, size: number): EtcdError {
  return new EtcdError(GrpcCode.ResourceExhausted, `grpc: received message larger than max (${size} vs. ${ctx.maxBodyBytes})`);
}
