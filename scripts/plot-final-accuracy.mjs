// Draws the final-accuracy chart of a sweep (viz.plotFinalAccuracies) from a JSON file of per-seed final
// accuracies rather than a sweep's folder: for runs gathered from several invocations or machines.
//   {"title": "…", "level": 0.95, "groups": [{"label": "…", "seeds": [0, 1], "accuracies": [0.9026, 0.9036]}]}
// Usage (after `npx tsc -p tsconfig.json`): node scripts/plot-final-accuracy.mjs <data.json> <out.png>
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const viz = await import(join(root, 'dist/src/viz/index.js'));

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/plot-final-accuracy.mjs <data.json> <out.png>');
  process.exit(2);
}
const data = JSON.parse(readFileSync(input, 'utf8'));
for (const g of data.groups ?? []) {
  if (!Array.isArray(g.accuracies) || g.accuracies.some((a) => typeof a !== 'number' || a < 0 || a > 1)) {
    console.error(`${input}: group ${JSON.stringify(g.label)} needs accuracies as fractions in [0, 1]`);
    process.exit(2);
  }
}
console.log(await viz.plotFinalAccuracies(data.groups, output, { title: data.title, level: data.level }));
