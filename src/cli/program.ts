/**
 * The commands of `pdenet`: each parses its arguments and calls the library.
 * @module
 */
import { Command } from 'commander';
import { backend, memory } from '../index.js';
import { runSmoke } from '../train/smoke.js';
import { nonNegativeInt, positiveInt, positiveNumber } from './options.js';
import { registerLaunch } from './launch.js';
import { registerSweep } from './sweep.js';
import { checkTrainWorkers, registerTrain } from './train.js';
import { registerUse } from './use.js';
import { registerSee } from './see.js';

export const program = new Command()
  .name('pdenet')
  .description('ConvNets from the PDE perspective, on libtorch')
  .showHelpAfterError('(run with --help for usage)');

program
  .command('info')
  .description('show the libtorch pdenet runs on, its threads and memory')
  .option('--json', 'print one JSON object')
  .action((opts: { json?: boolean }) => {
    const info = { ...backend(), memory: memory() };
    if (opts.json) {
      console.log(JSON.stringify(info));
      return;
    }
    console.log(
      `libtorch ${info.libtorch} (${info.source ?? 'unknown'}: ${info.libdir ?? '?'}), ` +
        `C++11 ABI ${info.cxx11Abi}, oneDNN ${info.mkldnn ? 'yes' : 'no'}, CUDA ${info.cuda ? 'yes' : 'no'}`,
    );
    console.log(`threads: ${info.threads}`);
  });

program
  .command('smoke')
  .description('train a tiny ConvNet on a synthetic task for a few seconds (an engine check)')
  .option('--steps <n>', 'SGD steps', positiveInt, 150)
  .option('--batch-size <n>', 'images per step', positiveInt, 64)
  .option('--lr <x>', 'learning rate', positiveNumber, 0.1)
  .option('--seed <n>', 'random seed', nonNegativeInt, 1)
  .action((opts: { steps: number; batchSize: number; lr: number; seed: number }) => {
    const result = runSmoke(opts);
    if (!(result.lastLoss < result.firstLoss)) process.exitCode = 1;
  });

registerTrain(program);
registerUse(program);
registerSee(program);
registerLaunch(program, { train: checkTrainWorkers });
registerSweep(program);
