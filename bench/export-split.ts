/**
 * Writes a run's training and validation split — the images the trainer carves with its seed and valSplit —
 * as raw files another trainer can read: `train_x.u8` / `val_x.u8` (N×32×32×3 bytes, HWC per image) and
 * `train_y.i32` / `val_y.i32` (N little-endian int32 labels). bench/speednet_torch_train.py reads them.
 *   node dist/bench/export-split.js DATA OUT_DIR [--val-split 5000] [--seed 0]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../src/io/index.js';
import { carveValidation, loadTrainingImages } from '../src/train/index.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { 'val-split': { type: 'string', default: '5000' }, seed: { type: 'string', default: '0' } },
});
const [data, out] = positionals;
const valSplit = Number(values['val-split']);
const seed = Number(values.seed);
if (data === undefined || out === undefined || !Number.isInteger(valSplit) || !Number.isInteger(seed)) {
  console.error('usage: node dist/bench/export-split.js DATA OUT_DIR [--val-split N] [--seed S]');
  process.exit(2);
}

const dataset = await loadTrainingImages(data, console.log);
const split = carveValidation(dataset, { valSplit, seed });
if (split === null) {
  console.error('export-split: --val-split 0 holds out no validation images');
  process.exit(2);
}
const { train, val } = split;
mkdirSync(out, { recursive: true });
const write = (name: string, bytes: Uint8Array) => writeFileAtomic(join(out, name), [bytes], 'export-split');
for (const [name, split] of [
  ['train', train],
  ['val', val],
] as const) {
  write(`${name}_x.u8`, split.images);
  write(`${name}_y.i32`, new Uint8Array(split.labels.buffer, split.labels.byteOffset, split.labels.byteLength));
  console.log(`${name}: ${split.n} images of ${split.height}×${split.width}×${split.channels}`);
}
