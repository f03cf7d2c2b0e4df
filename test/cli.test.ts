import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { runSmoke } from '../src/train/smoke.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const pdenet = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

describe('smoke run', () => {
  it('learns the stripe task', () => {
    const r = runSmoke({ steps: 80, seed: 3 }, () => {});
    assert.ok(r.lastLoss < r.firstLoss / 3, `loss fell from ${r.firstLoss} to ${r.lastLoss}`);
    assert.ok(r.accuracy > 0.9, `accuracy ${r.accuracy}`);
  });
});

describe('pdenet command line', () => {
  it('prints the backend as JSON', () => {
    const r = pdenet('info', '--json');
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.match(info.libtorch, /^\d+\.\d+/);
    assert.ok(info.threads >= 1);
  });

  it('rejects bad flags and values with one clear line and a non-zero exit', () => {
    for (const args of [['smoke', '--steps', 'x'], ['smoke', '--steps', '-3'], ['smoke', '--nope'], ['nope']]) {
      const r = pdenet(...args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, /error: /, args.join(' '));
    }
  });

  it('has --help', () => {
    const r = pdenet('smoke', '--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /--batch-size/);
  });
});
