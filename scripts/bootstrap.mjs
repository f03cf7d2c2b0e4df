// Makes a fresh checkout ready to run, idempotently; `npm test` and `npm start` run it first.
//   1. libtorch and gloo's headers (for distributed training): found (see libtorch.mjs), or installed
//      with apt-get (libtorch-dev, libgloo-dev) when running as root on Debian, or a stop with the exact
//      command to run (without gloo's headers the addon builds without distributed training);
//   2. npm packages: installed when node_modules is missing or older than package.json;
//   3. the native addon: built when its sources or libtorch changed (build-native.mjs);
//   4. TypeScript: compiled to dist/;
//   5. with --test: Debian's Chromium and a font, for the test that renders a run report (root only;
//      otherwise that test says what to install).
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNative } from './build-native.mjs';
import { describe, findLibtorch } from './libtorch.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.status !== 0) {
    throw new Error(`\`${command} ${args.join(' ')}\` failed (exit ${result.status ?? result.signal})`);
  }
}

let aptUpdated = false;

function aptInstall(packages) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) run('apt-get', ['update', '-q'], { env });
  aptUpdated = true;
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], { env });
}

const canApt = () => process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');

function ensureTestTools() {
  const missing = [];
  if (!existsSync('/usr/bin/chromium')) missing.push('chromium');
  if (!existsSync('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf')) missing.push('fonts-dejavu-core');
  if (missing.length === 0) return;
  if (!canApt()) {
    console.error(
      `pdenet: the report test needs ${missing.join(' and ')}: sudo apt-get install -y ${missing.join(' ')}`,
    );
    return;
  }
  console.error(`pdenet: installing ${missing.join(', ')} for the tests …`);
  aptInstall(missing);
}

// c10d's ProcessGroupGloo.hpp includes gloo's headers, which Debian ships apart from libtorch-dev.
function ensureGloo(lt) {
  if (lt.gloo || lt.source !== 'system') return lt;
  if (!canApt()) {
    console.error(
      "pdenet: gloo's headers are missing, so the addon builds without distributed training; " +
        'to have it: sudo apt-get install -y libgloo-dev',
    );
    return lt;
  }
  console.error('pdenet: installing libgloo-dev with apt-get …');
  aptInstall(['libgloo-dev']);
  return findLibtorch();
}

function ensureLibtorch() {
  const found = findLibtorch();
  if (found) return ensureGloo(found);
  if (!canApt()) {
    throw new Error(
      'libtorch is not installed. Run:\n    sudo apt-get update && sudo apt-get install -y libtorch-dev\n' +
        'or set LIBTORCH=/path/to/libtorch (an unpacked official download), then run this again.',
    );
  }
  console.error('pdenet: installing libtorch-dev with apt-get …');
  aptInstall(['libtorch-dev']);
  const installed = findLibtorch();
  if (!installed) throw new Error('apt-get installed libtorch-dev, but libtorch is still not found');
  return ensureGloo(installed);
}

function ensureNodeModules() {
  const stamp = join(root, 'node_modules/.package-lock.json');
  const stale = !existsSync(stamp) || statSync(stamp).mtimeMs < statSync(join(root, 'package.json')).mtimeMs;
  if (stale) {
    // --ignore-scripts: the native build is the next step, run once, here.
    run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts']);
  }
}

function compileTypeScript() {
  run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
}

try {
  const lt = ensureLibtorch();
  ensureNodeModules();
  buildNative();
  compileTypeScript();
  if (process.argv.includes('--test')) ensureTestTools();
  console.error(`pdenet: ready (${describe(lt)})`);
} catch (e) {
  console.error(`pdenet bootstrap: ${e.message}`);
  process.exit(1);
}
