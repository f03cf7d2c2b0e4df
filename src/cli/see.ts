/**
 * `pdenet demo` and `pdenet inspect`: pictures of the PDE view, for fixed operators and trained models.
 * @module
 */
import { type Command, Option } from 'commander';
import { BOUNDARIES } from '../pde/boundary.js';
import { DEMO_KINDS, type DemoKind, runDemo } from '../viz/demos.js';
import { inspectCheckpoint } from '../viz/inspect.js';
import { positiveInt } from './options.js';

export function registerSee(program: Command): void {
  program
    .command('demo')
    .description("run a PDE with pdenet's own operators and write an animated GIF and a PNG strip")
    .addArgument(program.createArgument('<kind>', 'which PDE').choices(DEMO_KINDS))
    .option('--image <file.png>', 'the initial picture (default: the packaged scene)')
    .addOption(
      new Option('--boundary <bc>', 'boundary condition (heat: the one shown beside zeros)').choices([...BOUNDARIES]),
    )
    .option('--steps <n>', 'frames after the first', positiveInt)
    .option('--size <n>', 'grid points along the longer side, 8…1024 (default 64)', positiveInt)
    .option('--out <dir>', 'output folder', 'demos')
    .action(
      async (
        kind: DemoKind,
        flags: { image?: string; boundary?: (typeof BOUNDARIES)[number]; steps?: number; size?: number; out: string },
      ) => {
        const r = await runDemo(kind, {
          outDir: flags.out,
          image: flags.image,
          boundary: flags.boundary,
          steps: flags.steps,
          size: flags.size,
        });
        console.log(
          `${kind}: ${r.frames} frames of ${r.width}×${r.height} (${r.equation}, boundary ${r.boundary})\n  ${r.gif}\n  ${r.png}`,
        );
      },
    );

  program
    .command('inspect')
    .description(
      'pictures of a trained model: features through depth, twist fields, operator statistics, curves, report.html',
    )
    .argument('<checkpoint>', 'a run folder or a checkpoint file')
    .option('--image <file.png>', 'the input whose features are drawn (default: the packaged scene)')
    .option('--out <dir>', 'output folder (default: <run>/inspect)')
    .addOption(new Option('--which <w>', 'weights of a run folder').choices(['best', 'last']).default('best'))
    .action(async (path: string, flags: { image?: string; out?: string; which: 'best' | 'last' }) => {
      const r = await inspectCheckpoint(path, { image: flags.image, outDir: flags.out, which: flags.which });
      const images = Object.entries(r.images)
        .filter(([, v]) => v !== null)
        .map(([k, v]) => `  ${k}: ${v}`);
      console.log(
        [
          `${r.model ?? 'model'}: ${r.blocks.length} blocks, ${r.operators.length} operators, ${r.twist.length} twisted layers`,
          ...images,
          `  manifest: ${r.manifest}`,
          ...(r.report ? [`  report: ${r.report}`] : []),
        ].join('\n'),
      );
    });
}
