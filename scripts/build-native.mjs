// Builds the native addon (build/Release/pdenet.node) with node-gyp against the libtorch that
// scripts/libtorch.mjs finds. Idempotent: it rebuilds only when a source file, binding.gyp, the
// libtorch found or the Node version changed (a hash of those is kept in build/stamp.json).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, findLibtorch } from './libtorch.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const addon = join(root, 'build/Release/pdenet.node');
const stampFile = join(root, 'build/stamp.json');

function nodeGyp() {
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  const npmDir = join(dirname(process.execPath), '../lib/node_modules/npm');
  const bundled = join(npmDir, 'node_modules/node-gyp/bin/node-gyp.js');
  if (existsSync(bundled)) return bundled;
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    throw new Error('node-gyp not found: it ships with npm; reinstall npm or run `npm install -g node-gyp`.');
  }
}

function stampOf(lt) {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ lt, node: process.version, abi: process.versions.modules }));
  const sources = readdirSync(join(root, 'csrc'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath ?? e.path, e.name)))
    .sort();
  for (const file of ['binding.gyp', ...sources]) {
    hash.update(file).update(readFileSync(join(root, file)));
  }
  return hash.digest('hex');
}

export function buildNative({ force = false } = {}) {
  const lt = findLibtorch();
  if (!lt) {
    throw new Error(
      'libtorch not found. Install it with `sudo apt-get install -y libtorch-dev`, ' +
        'or set LIBTORCH=/path/to/libtorch (an unpacked official download).',
    );
  }
  const stamp = stampOf(lt);
  const previous = existsSync(stampFile) ? JSON.parse(readFileSync(stampFile, 'utf8')).stamp : null;
  if (!force && previous === stamp && existsSync(addon)) return lt;

  console.error(`pdenet: building the native addon against ${describe(lt)}`);
  const args = [nodeGyp(), 'rebuild', '--release'];
  if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
  const run = spawnSync(process.execPath, args, {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, JOBS: process.env.JOBS ?? 'max' },
  });
  if (run.status !== 0) throw new Error(`node-gyp failed (exit ${run.status}); see the compiler output above.`);
  mkdirSync(dirname(stampFile), { recursive: true });
  // What the addon was built against, read again at load time to check nothing moved.
  const config = {
    stamp,
    libtorch: {
      version: lt.version.string,
      source: lt.source,
      libdir: lt.libdir,
      cxx11abi: lt.cxx11abi,
      cuda: lt.cuda,
    },
  };
  writeFileSync(`${stampFile}.tmp`, JSON.stringify(config, null, 2));
  renameSync(`${stampFile}.tmp`, stampFile);
  return lt;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    buildNative({ force: process.argv.includes('--force') });
  } catch (e) {
    console.error(`pdenet: ${e.message}`);
    process.exit(1);
  }
}
