// The HTTP front end of kvd: etcd v3's JSON gateway, the WebSocket watch, /health, /version, /metrics.
export { createHttpFrontEnd, type HttpFrontEnd, type HttpFrontEndOptions } from './front-end.js';
export { listenHttp, type HttpListener, type ListenOptions } from './listen.js';
export { useFastPath } from './fast-path.js';
