export { DnsServer, catalogView, type DnsServerOptions } from './server.js';
export { answerQuery, encodeWithin, RCODE, type DnsView, type AnswerOptions } from './answer.js';
export { parseName, instanceLabel, normalizeDomain, type DnsName } from './names.js';
