// The example units in examples/ parse, schedule and split into the commands they mean; and the hash
// the registry stores contents under.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  fleetOptions,
  instantiate,
  parseUnitFileBytes,
  serviceSpec,
  unitDescription,
  unitHash,
} from '../../../src/fleet/unit/index.js';
import { expandWords, parseCommandLine } from '../../../src/fleet/runner/command-line.js';

/** An Exec line as the runner splits it, with no environment. */
const splitExecCommand = (text: string) => expandWords(parseCommandLine(text), {});

const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));
const load = async (name: string) => parseUnitFileBytes(name, await readFile(examples + name));

/** `sh -n` parses the script without running it: the quoting survived systemd's splitting. */
function shellSyntaxOk(argv: string[]): boolean {
  const [sh, c, script] = argv;
  return sh === '/bin/sh' && c === '-c' && spawnSync('/bin/sh', ['-n', '-c', script!]).status === 0;
}

t.test('hello.service', async (t) => {
  const unit = await load('hello.service');
  const { spec, warnings } = serviceSpec(unit);
  t.same(warnings, []);
  t.equal(spec.type, 'simple');
  t.equal(unitDescription(unit), 'Hello World, with the date, every second');
  const argv = splitExecCommand(spec.execStart[0]!.text);
  t.same(argv, ['/bin/sh', '-c', 'while true; do echo "Hello, world: $(date)"; sleep 1; done']);
  t.ok(shellSyntaxOk(argv));
  t.same(fleetOptions(unit), { machineOf: [], machineMetadata: {}, conflicts: [], global: false, replaces: [] });
});

t.test('web@.service, instantiated', async (t) => {
  const template = await load('web@.service');
  const unit = instantiate(template, '8080');
  const { spec, warnings } = serviceSpec(unit);
  t.same(warnings, []);
  t.same(splitExecCommand(spec.execStart[0]!.text), ['/usr/bin/env', 'python3', '-m', 'http.server', '8080', '--bind', '127.0.0.1']);
  t.same([spec.restart, spec.restartSecMs, spec.timeoutStopMs, spec.workingDirectory], ['on-failure', 2000, 10_000, '/tmp']);
  t.equal(unitDescription(unit), 'Static web server on port 8080');
  t.same(fleetOptions(unit).conflicts, ['web@*.service']);
});

t.test('global-monitor.service', async (t) => {
  const unit = await load('global-monitor.service');
  const { spec, warnings } = serviceSpec(unit);
  t.same(warnings, []);
  t.equal(spec.restart, 'always');
  t.ok(shellSyntaxOk(splitExecCommand(spec.execStart[0]!.text)));
  t.equal(fleetOptions(unit).global, true);
});

t.test('unitHash: sha256 hex of the UTF-8 text', async (t) => {
  t.equal(unitHash(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  t.equal(unitHash('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  t.equal(unitHash('é'), '4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c', 'UTF-8 bytes');
  t.not(unitHash('[Unit]\n'), unitHash('[Unit]\r\n'), 'the hash is of the text as written');
  t.match(unitHash((await load('hello.service')).text), /^[0-9a-f]{64}$/);
});
