#!/usr/bin/env node
// Builds the native helper in native/memory with npm's own node-gyp (run by `npm install` and
// `npm ci` as this package's install script). It is optional: when it cannot be built (no compiler,
// no Node headers, not Linux), kvd runs without it and says so in its log at start, and this
// script only warns.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'native', 'memory');
const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter((p) => p && existsSync(p));

if (candidates.length === 0) {
  console.warn('flotilla: node-gyp not found; building without native/memory (kvd will not give freed memory back to the system promptly)');
  process.exit(0);
}
// npm passes its nodedir setting to install scripts; run by hand, use the headers installed beside
// this node (Debian's nodejs has them in /usr/include/node) rather than downloading them.
const args = [candidates[0], 'rebuild', '--directory', dir];
const localHeaders = join(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(localHeaders, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${localHeaders}`);
const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
if (r.status !== 0) {
  const detail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-8).join('\n');
  console.warn(`flotilla: building native/memory failed; kvd will run without it (it will not give freed memory back to the system promptly):\n${detail}`);
  process.exit(0);
}
console.log('flotilla: built native/memory');
