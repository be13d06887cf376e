// fleetd's discovery flags: --dns-addr (default 127.0.0.1:8600, empty turns it off) and
// --dns-domain (default flotilla), from flags and FLEETD_* variables, with precise errors.
import t from 'tap';
import { parseDomain, parseFleetdArgs, usage, type FleetdConfig } from '../../../src/fleet/config.js';

function config(argv: string[], env: NodeJS.ProcessEnv = {}): FleetdConfig {
  const r = parseFleetdArgs(argv, env);
  if (r.kind !== 'config') throw new Error(`not a config: ${r.kind}`);
  return r.config;
}

t.test('defaults, flags, environment', async (t) => {
  t.same([config([]).dnsAddr, config([]).dnsDomain], [{ host: '127.0.0.1', port: 8600 }, 'flotilla'], "Consul's port, our domain");
  t.equal(config(['--dns-addr', '']).dnsAddr, undefined, "--dns-addr '' turns DNS off");
  t.equal(config(['--dns-addr=']).dnsAddr, undefined);
  t.same(config(['--dns-addr', '[::1]:53']).dnsAddr, { host: '::1', port: 53 });
  t.same(config(['--dns-addr', '0.0.0.0:0']).dnsAddr, { host: '0.0.0.0', port: 0 }, 'port 0: any free port');
  t.match(config([], { FLEETD_DNS_ADDR: '127.0.0.1:5353', FLEETD_DNS_DOMAIN: 'dc1.example' }), { dnsAddr: { host: '127.0.0.1', port: 5353 }, dnsDomain: 'dc1.example' });
  t.same(config([], { FLEETD_DNS_ADDR: '' }).dnsAddr, { host: '127.0.0.1', port: 8600 }, 'an empty variable is unset, as for every flag');
  t.equal(config(['--dns-domain', 'a.B-2.c.'], { FLEETD_DNS_DOMAIN: 'x' }).dnsDomain, 'a.b-2.c', 'the flag wins; case and end dots do not matter');
  t.match(usage(), /--dns-addr\n.*UDP and TCP.*\(default "127\.0\.0\.1:8600"\)\n  --dns-domain\n.*\(default "flotilla"\)/);
});

t.test('bad values: a precise error naming the flag', async (t) => {
  const domainRule = 'is not a domain name (dot-separated labels of 1-63 of a-z, 0-9 and "-", not starting or ending with "-")';
  const cases: [string[], string][] = [
    [['--dns-addr', '8600'], '--dns-addr: "8600" is not host:port'],
    [['--dns-addr', '127.0.0.1:65536'], '--dns-addr: port 65536 is out of range (0-65535)'],
    [['--dns-domain', ' '], '--dns-domain must not be empty'],
    [['--dns-domain', '..'], '--dns-domain must not be empty'],
    [['--dns-domain', 'my_domain'], `--dns-domain: "my_domain" ${domainRule}`],
    [['--dns-domain', 'a..b'], `--dns-domain: "a..b" ${domainRule}`],
    [['--dns-domain=-a.b'], `--dns-domain: "-a.b" ${domainRule}`],
    [['--dns-domain', `${'a'.repeat(64)}.b`], `--dns-domain: "${'a'.repeat(64)}.b" ${domainRule}`],
    [['--dns-domain', Array(64).fill('abc').join('.')], `--dns-domain: "${Array(64).fill('abc').join('.')}" ${domainRule}`],
  ];
  for (const [argv, message] of cases) t.throws(() => parseFleetdArgs(argv, {}), { name: 'ConfigError', message }, argv.join(' '));
  t.equal(parseDomain('x', 'Flotilla'), 'flotilla');
});
