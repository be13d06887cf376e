// Writing responses with etcd 3.4's headers. Every response carries the CORS headers of etcd's
// outer handler. A unary success adds `Grpc-Metadata-Content-Type` (the gRPC server's header
// metadata, forwarded by the gateway); an error the service raised comes chunked with the gRPC
// trailer forwarded as an HTTP trailer; a body that does not decode gets a plain JSON error.
import type { ServerResponse } from 'node:http';
import { encodeError } from './codec/encode.js';

/**
 * What a unary answer needs of a response: Node's ServerResponse has it, and so has the fast
 * path's RawResponse (fast-connection.ts), which writes the same bytes without Node's streams.
 */
export interface ResponseSink {
  /** Headers as a flat [name, value, name, value...] list, in order. */
  writeHead(status: number, headers: string[]): unknown;
  addTrailers(trailers: Record<string, string>): void;
  end(body?: string): unknown;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
}

export const CORS: string[] = [
  'Access-Control-Allow-Headers',
  'accept, content-type, authorization',
  'Access-Control-Allow-Methods',
  'POST, GET, OPTIONS, PUT, DELETE',
  'Access-Control-Allow-Origin',
  '*',
];

const JSON_TYPE = 'application/json';
const OK_HEADERS: string[] = [...CORS, 'Content-Type', JSON_TYPE, 'Grpc-Metadata-Content-Type', 'application/grpc'];
const PLAIN_ERROR_HEADERS: string[] = [...CORS, 'Content-Type', JSON_TYPE];
const RPC_ERROR_HEADERS: string[] = [...CORS, 'Content-Type', JSON_TYPE, 'Trailer', 'Grpc-Trailer-Content-Type'];
const TRAILERS = { 'Grpc-Trailer-Content-Type': 'application/grpc' };
/** The headers of a stream's first message. */
export const STREAM_HEADERS: string[] = OK_HEADERS;
/** The headers of a stream that ends (or fails) before its first message. */
export const STREAM_BARE_HEADERS: string[] = PLAIN_ERROR_HEADERS;

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** 200 with a JSON body, as the gateway answers a unary call. */
export function sendOk(res: ResponseSink, body: string): void {
  res.writeHead(200, [...OK_HEADERS, 'Content-Length', String(byteLength(body))]);
  res.end(body);
}

/** A request body that does not decode (the gateway answers before calling gRPC). */
export function sendDecodeError(res: ResponseSink, message: string, code: number, status: number): void {
  const body = encodeError(message, code);
  res.writeHead(status, [...PLAIN_ERROR_HEADERS, 'Content-Length', String(byteLength(body))]);
  res.end(body);
}

/** An error status from the gRPC call (the service's EtcdError). */
export function sendRpcError(res: ResponseSink, message: string, code: number, status: number, close = false): void {
  const body = encodeError(message, code);
  res.writeHead(status, close ? [...RPC_ERROR_HEADERS, 'Connection', 'close'] : RPC_ERROR_HEADERS);
  res.addTrailers(TRAILERS);
  res.end(body);
}

/** Go's http.Error: text/plain, nosniff, the text and a newline. */
export function sendPlain(res: ServerResponse, status: number, text: string, extra: string[] = []): void {
  const body = text + '\n';
  res.writeHead(status, [
    ...CORS,
    ...extra,
    'Content-Type',
    'text/plain; charset=utf-8',
    'X-Content-Type-Options',
    'nosniff',
    'Content-Length',
    String(Buffer.byteLength(body)),
  ]);
  res.end(body);
}

export function sendNotFoundGateway(res: ServerResponse): void {
  sendPlain(res, 404, 'Not Found');
}

export function sendNotFoundMux(res: ServerResponse): void {
  sendPlain(res, 404, '404 page not found');
}

export function sendMethodNotAllowed(res: ServerResponse, allowGet = false): void {
  sendPlain(res, 405, 'Method Not Allowed', allowGet ? ['Allow', 'GET'] : []);
}

/** Go's ServeMux redirect (301) to a cleaned path. */
export function sendRedirect(res: ServerResponse, method: string, location: string): void {
  if (method === 'GET' || method === 'HEAD') {
    const body = `<a href="${location.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;')}">Moved Permanently</a>.\n\n`;
    res.writeHead(301, [...CORS, 'Content-Type', 'text/html; charset=utf-8', 'Location', location, 'Content-Length', String(Buffer.byteLength(body))]);
    res.end(method === 'HEAD' ? undefined : body);
    return;
  }
  res.writeHead(301, [...CORS, 'Location', location, 'Content-Length', '0']);
  res.end();
}
