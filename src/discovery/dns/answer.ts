// Builds the answer to one DNS query from a view of the catalog (pure: no I/O; the order of
// records comes from the injected `random`). Healthy instances only (passing and warning, as
// Consul's default; only passing with `onlyPassing`), shuffled. A name that does not exist, or a
// service without a healthy instance, is NXDOMAIN with the zone's SOA in the authority section;
// a name that exists without records of the asked type gets an empty NOERROR with the SOA.
import dnsPacket, { type Answer, type DecodedPacket, type Packet, type Question } from 'dns-packet';
import { isIP } from 'node:net';
import type { InstanceFilter, ServiceInstance } from '../schema.js';
import { instanceLabel, parseName } from './names.js';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** What the answers are made from (the ServiceCatalog, adapted). */
export interface DnsView {
  instances(service: string, filter: InstanceFilter): ServiceInstance[];
  all(): Iterable<ServiceInstance>;
  /** The SOA serial: the catalog's revision. */
  serial(): number;
}

export interface AnswerOptions {
  /** Normalized (see normalizeDomain). */
  domain: string;
  /** TTL of the records (seconds). */
  ttl: number;
  onlyPassing: boolean;
  random: () => number;
}

function shuffle<T>(xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

function addressRecord(name: string, address: string, ttl: number): Answer | undefined {
  const family = isIP(address);
  if (family === 4) return { name, type: 'A', class: 'IN', ttl, data: address };
  if (family === 6) return { name, type: 'AAAA', class: 'IN', ttl, data: address };
  return undefined;
}

const wants = (qtype: string, rtype: string) => qtype === rtype || (qtype === 'ANY' && (rtype === 'A' || rtype === 'AAAA'));

export function soaRecord(opts: AnswerOptions, serial: number): Answer {
  return {
    name: opts.domain,
    type: 'SOA',
    class: 'IN',
    ttl: opts.ttl,
    data: {
      mname: `ns.${opts.domain}`,
      rname: `hostmaster.${opts.domain}`,
      serial: serial >>> 0,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: opts.ttl,
    },
  };
}

/** The response to `query` (a decoded packet), before any truncation. */
export function answerQuery(query: DecodedPacket, view: DnsView, opts: AnswerOptions): Packet {
  const opcode = (query.flags ?? 0) >> 11 & 0xf;
  const rd = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  const questions: Question[] = query.questions ?? [];
  const edns = (query.additionals ?? []).some((a) => a.type === 'OPT');
  const reply = (rcode: number, answers: Answer[] = [], authorities: Answer[] = [], additionals: Answer[] = []): Packet => ({
    type: 'response',
    id: query.id,
    flags: (opcode << 11) | dnsPacket.AUTHORITATIVE_ANSWER | rd | rcode,
    questions,
    answers,
    authorities,
    additionals: edns ? [...additionals, { name: '.', type: 'OPT', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : additionals,
  });
  if (opcode !== 0) return reply(RCODE.NOTIMP);
  if (questions.length !== 1) return reply(RCODE.FORMERR);
  const q = questions[0]!;
  if (q.class !== undefined && q.class !== 'IN' && q.class !== 'ANY') return reply(RCODE.REFUSED);
  const ttl = opts.ttl;
  const soa = () => [soaRecord(opts, view.serial())];
  const name = parseName(q.name, opts.domain);
  switch (name.kind) {
    case 'outside':
      return reply(RCODE.REFUSED);
    case 'unknown':
      return reply(RCODE.NXDOMAIN, [], soa());
    case 'apex':
      if (q.type === 'SOA') return reply(RCODE.NOERROR, soa());
      if (q.type === 'NS') return reply(RCODE.NOERROR, [{ name: q.name, type: 'NS', class: 'IN', ttl, data: `ns.${opts.domain}` }]);
      return reply(RCODE.NOERROR, [], soa());
    case 'node': {
      const found = [...view.all()].filter((i) => instanceLabel(i.ID) === name.label);
      if (found.length === 0) return reply(RCODE.NXDOMAIN, [], soa());
      const seen = new Set<string>();
      const answers: Answer[] = [];
      for (const i of found) {
        const rec = addressRecord(q.name, i.Address, ttl);
        if (rec && wants(q.type, rec.type) && !seen.has(i.Address)) {
          seen.add(i.Address);
          answers.push(rec);
        }
      }
      return reply(RCODE.NOERROR, answers, answers.length === 0 ? soa() : []);
    }
    case 'service': {
      const filter: InstanceFilter = opts.onlyPassing ? { passingOnly: true } : { healthyOnly: true };
      if (name.tag !== undefined) filter.tag = name.tag;
      const found = shuffle(view.instances(name.service, filter), opts.random);
      if (found.length === 0) return reply(RCODE.NXDOMAIN, [], soa());
      const answers: Answer[] = [];
      const additionals: Answer[] = [];
      if (q.type === 'SRV') {
        for (const i of found) {
          const address = addressRecord('', i.Address, ttl);
          const target = address ? `${instanceLabel(i.ID)}.node.${opts.domain}` : i.Address.replace(/\.$/, '');
          answers.push({ name: q.name, type: 'SRV', class: 'IN', ttl, data: { priority: 1, weight: 1, port: i.Port, target } });
          if (address) additionals.push({ ...address, name: target } as Answer);
        }
      } else {
        for (const i of found) {
          const rec = addressRecord(q.name, i.Address, ttl);
          if (rec && wants(q.type, rec.type)) answers.push(rec);
        }
      }
      return reply(RCODE.NOERROR, answers, answers.length === 0 ? soa() : [], additionals);
    }
  }
}

/** A FORMERR answer to bytes that are not a DNS query (its ID taken from the header). */
export function formatError(raw: Buffer): Packet {
  return { type: 'response', id: raw.readUInt16BE(0), flags: RCODE.FORMERR, questions: [], answers: [], authorities: [], additionals: [] };
}

/**
 * Encodes `p`, truncated to `limit` bytes when needed (UDP): the additional records go first, then
 * answers from the end, and the TC bit is set so that the client asks again over TCP.
 */
export function encodeWithin(p: Packet, limit: number): Buffer {
  let buf = dnsPacket.encode(p);
  if (buf.length <= limit) return buf;
  const opt = (p.additionals ?? []).filter((a) => a.type === 'OPT');
  const t: Packet = { ...p, flags: (p.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, additionals: opt, answers: [...(p.answers ?? [])] };
  buf = dnsPacket.encode(t);
  while (buf.length > limit && t.answers!.length > 0) {
    t.answers!.pop();
    buf = dnsPacket.encode(t);
  }
  return buf;
}
