// fleetctl's table layout: Go's text/tabwriter as fleet configures it (tabwidth 8, padding 1,
// padchar '\t'), and the renderings of fields and status text that need no store.
import t from 'tap';
import { formatMetadata, parseFields, LIST_UNITS_FIELDS } from '../../src/fleetctl/fields.js';
import { goList, unitNameOf, withDefaultType } from '../../src/fleetctl/names.js';
import { systemdAgo, systemdBytes, systemdTimespan, systemdTimestamp } from '../../src/fleetctl/status-text.js';
import { tabwrite } from '../../src/fleetctl/table.js';
import { machineLegend } from '../../src/fleetctl/units.js';
import { machine } from './helpers.js';

t.test('tabwriter: columns as wide as their widest cell plus one, rounded up to tabs', async (t) => {
  // As fleet's documentation shows `fleetctl list-units`.
  t.equal(
    tabwrite([
      ['UNIT', 'MACHINE', 'ACTIVE', 'SUB'],
      ['hello.service', 'c9de9451.../10.10.1.3', 'active', 'running'],
    ]),
    'UNIT\t\tMACHINE\t\t\tACTIVE\tSUB\nhello.service\tc9de9451.../10.10.1.3\tactive\trunning\n',
  );
  // A cell of 7 fits one tab stop with its padding; 8 needs the next one.
  t.equal(tabwrite([['1234567', 'x'], ['a', 'y']]), '1234567\tx\na\ty\n');
  t.equal(tabwrite([['12345678', 'x'], ['a', 'y']]), '12345678\tx\na\t\ty\n');
  t.equal(tabwrite([['', 'x']]), '\tx\n', 'an empty cell still takes its tab');
  t.equal(tabwrite([['only']]), 'only\n', 'the last cell is not padded');
  t.equal(tabwrite([]), '');
  t.equal(tabwrite([['é', 'x'], ['abcdefgh', 'y']]), 'é\t\tx\nabcdefgh\ty\n', 'widths count characters, not bytes');
  t.equal(tabwrite([['a', 'b', 'c'], ['long-first-cell', 'b']]), 'a\t\tb\tc\nlong-first-cell\tb\n', 'rows may be shorter');
});

t.test('fields and legends', async (t) => {
  t.equal(formatMetadata({}), '-');
  t.equal(formatMetadata({ region: 'us-east', disk: 'ssd' }), 'disk=ssd,region=us-east', 'sorted by key');
  t.same(parseFields('unit,load,active,sub,desc,machine,hash', LIST_UNITS_FIELDS), ['unit', 'load', 'active', 'sub', 'desc', 'machine', 'hash']);
  t.throws(() => parseFields('unit,,sub', LIST_UNITS_FIELDS), { message: 'Invalid key in output format: ""' });
  const m = machine('0123456789abcdef0123456789abcdef', '10.0.0.1');
  t.equal(machineLegend(m.id, m, false), '01234567.../10.0.0.1');
  t.equal(machineLegend(m.id, m, true), '0123456789abcdef0123456789abcdef/10.0.0.1');
  t.equal(machineLegend(m.id, undefined, false), '01234567...', 'a machine that is gone: its id only');
  t.equal(machineLegend(m.id, { ...m, publicIp: '' }, false), '01234567...');
});

t.test('unit names from arguments, as fleet mangles them', async (t) => {
  t.equal(unitNameOf('hello'), 'hello.service');
  t.equal(unitNameOf('units/hello.service'), 'hello.service');
  t.equal(unitNameOf('units/web@1'), 'web@1.service');
  t.equal(unitNameOf('sock.socket'), 'sock.socket');
  t.equal(unitNameOf('a.txt'), 'a.txt.service');
  t.equal(withDefaultType('dir/hello'), 'dir/hello.service');
  t.equal(goList([]), '[]');
  t.equal(goList(['a.service', 'b.service']), '[a.service b.service]');
});

t.test('systemd times', async (t) => {
  t.equal(systemdTimestamp(1_700_000_000_000), 'Tue 2023-11-14 22:13:20 UTC');
  t.equal(systemdAgo(-5), '0s ago', 'a clock behind the machine: never negative');
  t.equal(systemdAgo(45_900), '45s ago');
  t.equal(systemdAgo(123_000), '2min 3s ago');
  t.equal(systemdAgo(3_900_000), '1h 5min ago');
  t.equal(systemdAgo(86_400_000 + 7_200_000), '1 day 2h ago');
  t.equal(systemdAgo(3 * 86_400_000), '3 days 0h ago');
});

t.test("systemd's byte sizes: 1024-based, one decimal truncated", async (t) => {
  t.equal(systemdBytes(0), '0B');
  t.equal(systemdBytes(1023), '1023B');
  t.equal(systemdBytes(1024), '1.0K');
  t.equal(systemdBytes(12_800), '12.5K');
  t.equal(systemdBytes(2_359_296), '2.2M', '2.25M shows as 2.2M');
  t.equal(systemdBytes(5 * 2 ** 30 - 1), '4.9G');
  t.equal(systemdBytes(2 ** 40), '1.0T');
});

t.test("systemd's timespans, as its CPU line prints them", async (t) => {
  t.equal(systemdTimespan(0), '0ms');
  t.equal(systemdTimespan(54), '54ms');
  t.equal(systemdTimespan(999.6), '1s');
  t.equal(systemdTimespan(1500), '1.5s');
  t.equal(systemdTimespan(2000), '2s');
  t.equal(systemdTimespan(67_213), '1min 7.213s');
  t.equal(systemdTimespan(7_384_000), '2h 3min 4s');
  t.equal(systemdTimespan(3_600_000), '1h');
});
