// The floors of docs/architecture.md: each folder of src/ imports only from its own floor or below.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const FLOORS: Record<string, number> = {
  native: 0,
  tensor: 1,
  nn: 2,
  optim: 2,
  io: 2,
  distributed: 2,
  pde: 3,
  dynamics: 3,
  models: 3,
  data: 4,
  train: 4,
  sweep: 4,
  cli: 5,
  viz: 5,
};

const src = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith('.ts') ? [path] : [];
  });
}

function folderOf(path: string): string {
  return relative(src, path).split('/')[0]!;
}

describe('architecture', () => {
  it('every folder of src/ has a floor', () => {
    for (const name of readdirSync(src)) {
      if (statSync(join(src, name)).isDirectory())
        assert.ok(name in FLOORS, `src/${name} is not in docs/architecture.md`);
    }
  });

  it('imports only go down (or stay on the same floor)', () => {
    const violations: string[] = [];
    for (const file of files(src)) {
      const from = folderOf(file);
      if (!(from in FLOORS)) continue; // src/index.ts re-exports everything
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const to = folderOf(resolve(dirname(file), spec!));
        if (to in FLOORS && FLOORS[to]! > FLOORS[from]!) violations.push(`${relative(src, file)} imports ${spec}`);
        if (!(to in FLOORS) && from !== 'cli')
          violations.push(`${relative(src, file)} imports the package entry ${spec}`);
      }
    }
    assert.deepEqual(violations, []);
  });

  it('only tensor/, io/ and distributed/ import the native floor', () => {
    const allowed = new Set(['native', 'tensor', 'io', 'distributed']);
    const violations: string[] = [];
    for (const file of files(src)) {
      const from = folderOf(file);
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        if (folderOf(resolve(dirname(file), spec!)) === 'native' && !allowed.has(from))
          violations.push(`${relative(src, file)} imports ${spec}`);
      }
    }
    assert.deepEqual(violations, []);
  });
});
