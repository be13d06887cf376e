// The names the DNS front end answers, under its domain (default `flotilla`), as Consul's:
//   web.service.flotilla                 the instances of web
//   primary.web.service.flotilla         those tagged primary
//   _web._tcp.service.flotilla           RFC 2782 form (SRV); `_web._primary.service...` filters by tag
//   <instance>.node.flotilla             the address of an instance (the target of its SRV record)
// Everything else under the domain does not exist; names outside it are refused.

export type DnsName =
  | { kind: 'apex' }
  | { kind: 'service'; service: string; tag?: string }
  | { kind: 'node'; label: string }
  | { kind: 'unknown' }
  | { kind: 'outside' };

/** The domain as compared: lower case, no dots at the ends. */
export function normalizeDomain(domain: string): string {
  return domain.toLowerCase().replace(/^\.+|\.+$/g, '');
}

export function parseName(qname: string, domain: string): DnsName {
  const name = qname.toLowerCase().replace(/\.+$/, '');
  if (name === domain) return { kind: 'apex' };
  if (!name.endsWith(`.${domain}`)) return { kind: 'outside' };
  const labels = name.slice(0, -(domain.length + 1)).split('.');
  const last = labels[labels.length - 1];
  if (last === 'node' && labels.length === 2) return { kind: 'node', label: labels[0]! };
  if (last !== 'service') return { kind: 'unknown' };
  if (labels.length === 2) return { kind: 'service', service: labels[0]! };
  if (labels.length === 3) {
    const [a, b] = labels as [string, string];
    if (a.startsWith('_') && b.startsWith('_')) {
      const proto = b.slice(1);
      return proto === 'tcp' || proto === 'udp' ? { kind: 'service', service: a.slice(1) } : { kind: 'service', service: a.slice(1), tag: proto };
    }
    return { kind: 'service', service: b, tag: a };
  }
  return { kind: 'unknown' };
}

/**
 * The DNS label of an instance (`<label>.node.<domain>`, its SRV target): its ID in lower case
 * with every character outside a-z, 0-9 and "-" made a "-" (IDs like `m1-web@1.service`).
 */
export function instanceLabel(id: string): string {
  const l = id
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return l === '' ? 'instance' : l;
}
