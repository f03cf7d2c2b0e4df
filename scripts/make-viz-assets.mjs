// Writes the pictures that ship with pdenet (run after `npx tsc -p tsconfig.json`):
//   assets/scene.png   the default picture of the demos and of `inspect`, drawn procedurally by
//                      src/viz/scene.ts (pdenet's own work, MIT like the rest of the package);
//   docs/img/<kind>.gif, docs/img/<kind>.png   the README's demo pictures, made with runDemo's defaults,
//                      i.e. exactly what `pdenet demo <kind> --out docs/img` writes.
// Usage: node scripts/make-viz-assets.mjs [--assets-only]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const viz = await import(join(root, 'dist/src/viz/index.js'));

mkdirSync(join(root, 'assets'), { recursive: true });
writeFileSync(join(root, 'assets', 'scene.png'), viz.encodePng(viz.tensorToImage(viz.drawScene())));
console.log('assets/scene.png');

if (!process.argv.includes('--assets-only')) {
  for (const kind of viz.DEMO_KINDS) {
    const t0 = performance.now();
    const r = await viz.runDemo(kind, { outDir: join(root, 'docs', 'img') });
    console.log(
      `docs/img/${kind}.gif (${r.frames} frames, ${r.width}×${r.height}) and .png in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  }
}
