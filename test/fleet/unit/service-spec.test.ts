// [Service] as the runner executes it: systemd's defaults, each supported key, resets, the refusals
// and the warnings.
import t from 'tap';
import { DEFAULT_RESTART_SEC_MS, DEFAULT_TIMEOUT_MS, parseUnitFile, serviceSpec } from '../../../src/fleet/unit/index.js';
import type { ServiceSpec } from '../../../src/fleet/types.js';
import { throwsUnitError } from './helpers.js';

const unit = (...body: string[]) => parseUnitFile('app.service', ['[Unit]', 'Description=x', '[Service]', ...body].join('\n') + '\n');
const spec = (...body: string[]) => serviceSpec(unit(...body)).spec;
/** Lines of the [Service] body start at 4. */
const L = (i: number) => i + 4;
const F = 'app.service';

const DEFAULTS: ServiceSpec = {
  type: 'simple',
  execStartPre: [],
  execStart: [{ text: '/bin/app', ignoreFailure: false }],
  execStartPost: [],
  execStop: [],
  environment: {},
  environmentFiles: [],
  restart: 'no',
  restartSecMs: 100,
  timeoutStartMs: 90_000,
  timeoutStopMs: 90_000,
};

t.test("systemd's defaults", async (t) => {
  t.same(spec('ExecStart=/bin/app'), DEFAULTS);
  t.equal(DEFAULT_RESTART_SEC_MS, 100);
  t.equal(DEFAULT_TIMEOUT_MS, 90_000);
  t.same(serviceSpec(unit('ExecStart=/bin/app')).warnings, []);
});

t.test('every supported key', async (t) => {
  const s = spec(
    'Type=oneshot',
    'ExecStartPre=-/bin/mkdir -p /tmp/x',
    'ExecStartPre=/bin/true',
    'ExecStart=/bin/echo one',
    'ExecStart=-/bin/echo two',
    'ExecStartPost=/bin/echo "started; really"',
    'ExecStop=/bin/kill -TERM $MAINPID',
    'ExecStop=/bin/echo stopped',
    'Environment="A=b c" D=e',
    "Environment=F='g h' A=z",
    'Environment=ESC=tab\\there',
    'EnvironmentFile=/etc/app.env',
    'EnvironmentFile=-/etc/app.local.env',
    'WorkingDirectory=/srv/app',
    'User=app',
    'Restart=on-failure',
    'RestartSec=5',
    'TimeoutStartSec=1min 30s',
    'TimeoutStopSec=500ms',
  );
  t.same(s, {
    type: 'oneshot',
    execStartPre: [
      { text: '/bin/mkdir -p /tmp/x', ignoreFailure: true },
      { text: '/bin/true', ignoreFailure: false },
    ],
    execStart: [
      { text: '/bin/echo one', ignoreFailure: false },
      { text: '/bin/echo two', ignoreFailure: true },
    ],
    execStartPost: [{ text: '/bin/echo "started; really"', ignoreFailure: false }],
    execStop: [
      { text: '/bin/kill -TERM $MAINPID', ignoreFailure: false },
      { text: '/bin/echo stopped', ignoreFailure: false },
    ],
    environment: { A: 'z', D: 'e', F: 'g h', ESC: 'tab\there' },
    environmentFiles: [
      { path: '/etc/app.env', optional: false },
      { path: '/etc/app.local.env', optional: true },
    ],
    workingDirectory: '/srv/app',
    user: 'app',
    restart: 'on-failure',
    restartSecMs: 5000,
    timeoutStartMs: 90_000,
    timeoutStopMs: 500,
  });
});

t.test('Environment= split as systemd splits it', async (t) => {
  t.same(spec('ExecStart=/bin/app', 'Environment="A=b c" D=e').environment, { A: 'b c', D: 'e' });
  t.same(spec('ExecStart=/bin/app', 'Environment=A="b c"').environment, { A: 'b c' }, 'quotes inside a word');
  t.same(spec('ExecStart=/bin/app', 'Environment=A= B==').environment, { A: '', B: '=' });
  t.same(spec('ExecStart=/bin/app', 'Environment=A=1', 'Environment=A=2').environment, { A: '2' }, 'later wins');
  t.same(spec('ExecStart=/bin/app', 'Environment=A=1', 'Environment=', 'Environment=B=2').environment, { B: '2' }, 'reset');
  t.same(spec('ExecStart=/bin/app', 'Environment=A=x\\x41\\n').environment, { A: 'xA\n' }, 'C escapes');
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'Environment=A'), F, L(1), 'Environment=A: "A" is not NAME=value (quote an assignment with blanks: "A=b c")');
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'Environment=A=b c'), F, L(1), /"c" is not NAME=value/);
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'Environment=1A=b'), F, L(1), /"1A=b" is not NAME=value/);
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'Environment="A=b'), F, L(1), 'Environment="A=b: a " quote is not closed');
});

t.test('Exec lines: prefixes, resets, and the ExecStart count', async (t) => {
  t.same(spec('ExecStart=/bin/old', 'ExecStart=', 'ExecStart=/bin/new').execStart, [{ text: '/bin/new', ignoreFailure: false }], 'the empty assignment resets');
  t.same(spec('ExecStartPre=/bin/a', 'ExecStartPre=', 'ExecStart=/bin/app').execStartPre, []);
  t.same(spec('ExecStart=--/bin/app').execStart, [{ text: '/bin/app', ignoreFailure: true }], 'a repeated prefix');
  for (const [p, meaning] of [
    ['@', 'a custom argv[0]'],
    ['+', 'running with full privileges'],
    ['!', 'running with elevated privileges'],
    [':', 'no environment variable substitution'],
  ]) {
    throwsUnitError(t, () => spec(`ExecStart=${p}/bin/app`), F, L(0), `ExecStart=${p}/bin/app: the "${p}" prefix (${meaning}) is not supported; only "-" is`);
  }
  throwsUnitError(t, () => spec('ExecStart=-!/bin/app'), F, L(0), /the "!" prefix/);
  throwsUnitError(t, () => spec('ExecStart=-'), F, L(0), 'ExecStart=-: no command after the prefix');
  throwsUnitError(t, () => spec('ExecStart=- /bin/app'), F, L(0), 'ExecStart=- /bin/app: no command after the prefix');
  throwsUnitError(t, () => spec('ExecStart=/bin/sh -c "echo'), F, L(0), 'ExecStart=/bin/sh -c "echo: a " quote is not closed');
  throwsUnitError(t, () => spec('ExecStart=/bin/a ; /bin/b'), F, L(0), 'ExecStart=/bin/a ; /bin/b: several commands on one line (separated by ";") are not supported; write one line per command');
  throwsUnitError(t, () => spec('Restart=no'), F, 3, 'Type=simple needs one ExecStart= (a service with nothing to run)');
  throwsUnitError(t, () => serviceSpec(parseUnitFile(F, '[Unit]\nDescription=x\n')), F, 0, 'Type=simple needs one ExecStart= (a service with nothing to run)');
  throwsUnitError(t, () => spec('ExecStart=/bin/a', 'ExecStart=/bin/b', 'ExecStart=/bin/c'), F, L(1), 'Type=simple takes exactly one ExecStart= (3 given; Type=oneshot runs several in turn)');
  throwsUnitError(t, () => spec('ExecStart=/bin/a', 'ExecStart=', 'ExecStart=/bin/b', 'ExecStart=/bin/c'), F, L(3), /2 given/);
  t.same(spec('Type=oneshot').execStart, [], 'oneshot: no ExecStart is fine');
  t.same(spec('Type=oneshot', 'ExecStart=/bin/a', 'ExecStart=/bin/b').execStart.length, 2);
  t.same(spec('ExecStart=/bin/app', 'ExecStop=/bin/a', 'ExecStop=/bin/b').execStop.length, 2, 'several ExecStop for a simple service');
});

t.test('Type and Restart', async (t) => {
  t.equal(spec('Type=oneshot', 'Type=', 'ExecStart=/bin/app').type, 'simple', 'reset to the default');
  for (const type of ['exec', 'forking', 'notify', 'notify-reload', 'dbus', 'idle']) {
    throwsUnitError(t, () => spec(`Type=${type}`, 'ExecStart=/bin/app'), F, L(0), `Type=${type}: Type=${type} is not supported (the runner runs simple and oneshot services)`);
  }
  throwsUnitError(t, () => spec('Type=Simple'), F, L(0), 'Type=Simple: unknown service type (systemd has simple, exec, forking, oneshot, dbus, notify, idle; we run simple and oneshot)');
  for (const r of ['no', 'on-failure', 'always'] as const) t.equal(spec('ExecStart=/bin/app', `Restart=${r}`).restart, r);
  t.equal(spec('ExecStart=/bin/app', 'Restart=always', 'Restart=').restart, 'no');
  for (const r of ['on-success', 'on-abnormal', 'on-abort', 'on-watchdog']) {
    throwsUnitError(t, () => spec('ExecStart=/bin/app', `Restart=${r}`), F, L(1), `Restart=${r}: Restart=${r} is not supported (the runner has no, on-failure and always)`);
  }
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'Restart=sometimes'), F, L(1), 'Restart=sometimes: unknown restart policy (no, on-failure or always)');
  throwsUnitError(t, () => spec('Type=oneshot', 'ExecStart=/bin/app', 'Restart=always'), F, L(2), 'Restart=always cannot be used with Type=oneshot (systemd refuses it too); use Restart=on-failure');
  throwsUnitError(t, () => spec('Restart=always', 'Type=oneshot'), F, L(1), /Restart=always cannot be used with Type=oneshot/);
  t.equal(spec('Type=oneshot', 'Restart=on-failure').restart, 'on-failure');
});

t.test('time spans and their defaults', async (t) => {
  t.equal(spec('ExecStart=/bin/app', 'RestartSec=2s').restartSecMs, 2000);
  t.equal(spec('ExecStart=/bin/app', 'RestartSec=250ms').restartSecMs, 250);
  t.equal(spec('ExecStart=/bin/app', 'RestartSec=0').restartSecMs, 0);
  t.equal(spec('ExecStart=/bin/app', 'RestartSec=5', 'RestartSec=').restartSecMs, 100, 'reset');
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'RestartSec=infinity'), F, L(1), 'RestartSec=infinity: must be a finite time span');
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'RestartSec=5x'), F, L(1), /^RestartSec=5x: unknown time unit at "x"/);

  const both = spec('ExecStart=/bin/app', 'TimeoutSec=10');
  t.same([both.timeoutStartMs, both.timeoutStopMs], [10_000, 10_000], 'TimeoutSec= sets both');
  const later = spec('ExecStart=/bin/app', 'TimeoutSec=10', 'TimeoutStopSec=3');
  t.same([later.timeoutStartMs, later.timeoutStopMs], [10_000, 3000], 'a later specific one wins');
  const earlier = spec('ExecStart=/bin/app', 'TimeoutStartSec=3', 'TimeoutSec=10');
  t.same([earlier.timeoutStartMs, earlier.timeoutStopMs], [10_000, 10_000], 'a later TimeoutSec wins');
  const inf = spec('ExecStart=/bin/app', 'TimeoutStartSec=infinity', 'TimeoutStopSec=0');
  t.same([inf.timeoutStartMs, inf.timeoutStopMs], [Infinity, Infinity], '0 means no timeout, as infinity');
  const reset = spec('ExecStart=/bin/app', 'TimeoutSec=1', 'TimeoutStartSec=', 'TimeoutStopSec=');
  t.same([reset.timeoutStartMs, reset.timeoutStopMs], [90_000, 90_000]);
  const resetBoth = spec('ExecStart=/bin/app', 'TimeoutSec=1', 'TimeoutSec=');
  t.same([resetBoth.timeoutStartMs, resetBoth.timeoutStopMs], [90_000, 90_000]);
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'TimeoutSec=-1'), F, L(1), /^TimeoutSec=-1: a time span cannot be negative/);
});

t.test('paths and users', async (t) => {
  t.same(spec('ExecStart=/bin/app', 'EnvironmentFile=/a', 'EnvironmentFile=', 'EnvironmentFile=-/b').environmentFiles, [{ path: '/b', optional: true }]);
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'EnvironmentFile=app.env'), F, L(1), 'EnvironmentFile=app.env: the path must be absolute (a "-" prefix makes a missing file no error)');
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'EnvironmentFile=-app.env'), F, L(1), /must be absolute/);
  t.equal(spec('ExecStart=/bin/app', 'WorkingDirectory=/srv', 'WorkingDirectory=').workingDirectory, undefined);
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'WorkingDirectory=srv'), F, L(1), 'WorkingDirectory=srv: the path must be absolute');
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'WorkingDirectory=~'), F, L(1), 'WorkingDirectory=~: the "~" form is not supported; give an absolute path');
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'WorkingDirectory=-/srv'), F, L(1), 'WorkingDirectory=-/srv: the "-" form is not supported; give an absolute path');
  for (const u of ['app', '_svc', 'a.b-c', '1000', 'machine$']) t.equal(spec('ExecStart=/bin/app', `User=${u}`).user, u);
  t.equal(spec('ExecStart=/bin/app', 'User=app', 'User=').user, undefined);
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'User=a b'), F, L(1), 'User=a b: not a user name or numeric uid');
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'User=-x'), F, L(1), /not a user name/);
});

t.test('unknown keys are warnings with file:line; other sections are not read', async (t) => {
  const u = parseUnitFile(
    F,
    ['[Unit]', 'After=network.target', '[Service]', 'ExecStart=/bin/app', 'KillMode=process', 'LimitNOFILE=4096', '[Install]', 'WantedBy=multi-user.target', '[X-Fleet]', 'Global=true'].join('\n'),
  );
  t.same(serviceSpec(u).warnings, [
    'app.service:5: [Service] KillMode= is not supported by the runner; ignored',
    'app.service:6: [Service] LimitNOFILE= is not supported by the runner; ignored',
  ]);
});

t.test('only .service units run', async (t) => {
  throwsUnitError(t, () => serviceSpec(parseUnitFile('app.socket', '[Socket]\nListenStream=80\n')), 'app.socket', 0, 'only .service units have a [Service] section to run, not .socket');
});

t.test('RemainAfterExit= takes systemd booleans; the empty value resets it', async (t) => {
  t.equal(spec('Type=oneshot', 'ExecStart=/bin/true', 'RemainAfterExit=yes').remainAfterExit, true);
  t.equal(spec('Type=oneshot', 'ExecStart=/bin/true', 'RemainAfterExit=on', 'RemainAfterExit=0').remainAfterExit, false);
  t.equal(spec('Type=oneshot', 'ExecStart=/bin/true', 'RemainAfterExit=true', 'RemainAfterExit=').remainAfterExit, undefined);
  t.same(serviceSpec(unit('ExecStart=/bin/app', 'RemainAfterExit=no')).warnings, [], 'a supported key, not a warning');
  throwsUnitError(t, () => spec('ExecStart=/bin/app', 'RemainAfterExit=maybe'), F, L(1), 'RemainAfterExit=maybe: not a boolean (yes/no, true/false, on/off, 1/0)');
});
