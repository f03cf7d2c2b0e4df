/**
 * RKNet: a network of dynamic blocks joined by connecting layers (DynamicBlocks, seed 004):
 *
 *   opening (3×3 conv + norm + act) → [dynamic block → connecting (1×1 conv + norm + act) → avg-pool 2]*
 *   → global average pool → linear.
 *
 * The reference configuration trains "RK4 + DoubleSym + TvNorm" with channels [16, 32, 64, 64] and time
 * points [0, 1, 2, 3, 4] on CIFAR-10.
 * @module
 */
import { check } from '../tensor/errors.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { ModuleList, Sequential } from '../nn/container.js';
import { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { ReLU } from '../nn/activation.js';
import type { Boundary } from '../pde/boundary.js';
import { DynamicBlock, type IntegratorName } from './block.js';
import { LAYERS, type LayerKind, makeNorm, type NormKind } from './layers.js';

/** Options of {@link RKNet}. */
export interface RKNetOptions {
  /** Channels of each dynamic block (default [16, 32, 64, 64]). */
  channels?: readonly number[];
  /** State time points of every block (default [0, 1, 2, 3, 4]). */
  tY?: readonly number[];
  /** Control time points of every block (default: tY). */
  tTheta?: readonly number[];
  integrator?: IntegratorName;
  layer?: LayerKind;
  norm?: NormKind;
  boundary?: Boundary;
  numClasses?: number;
  inChannels?: number;
}

function unit(cin: number, cout: number, kernel: 1 | 3, norm: NormKind, boundary: Boundary): Sequential {
  const seq = new Sequential(new Conv2d(cin, cout, kernel, { padding: kernel === 3 ? 1 : 0, bias: false,
    paddingMode: boundary }));
  const n = makeNorm(norm, cout);
  if (n) seq.append(n);
  return seq.append(new ReLU());
}

/** Children: `opening`, `blocks.i`, `connections.i`, `fc`. */
export class RKNet extends Module {
  readonly opening: Sequential;
  readonly blocks: ModuleList;
  readonly connections: ModuleList;
  readonly fc: Linear;

  constructor(readonly options: RKNetOptions = {}) {
    super();
    const { channels = [16, 32, 64, 64], tY = [0, 1, 2, 3, 4], tTheta = tY, integrator = 'rk4', layer = 'doublesym',
      norm = 'tv', boundary = 'zeros', numClasses = 10, inChannels = 3 } = options;
    check(channels.length >= 1, 'RKNet', 'needs at least one block');
    check(layer in LAYERS, 'RKNet', `layer must be one of ${Object.keys(LAYERS).join(', ')}, got ${layer}`);
    const Layer = LAYERS[layer];
    this.opening = this.registerModule('opening', unit(inChannels, channels[0]!, 3, norm, boundary));
    this.blocks = this.registerModule('blocks', new ModuleList(channels.map((c) =>
      new DynamicBlock(() => new Layer(c, { norm, boundary }), { tY, tTheta, integrator }))));
    this.connections = this.registerModule('connections', new ModuleList(channels.map((c, i) =>
      unit(c, channels[i + 1] ?? c, 1, norm, boundary))));
    this.fc = this.registerModule('fc', new Linear(channels.at(-1)!, numClasses));
  }

  /**
   * The parts of the network in order, each a function of the previous one's output, for checkpointed
   * training: whole dynamic blocks, or (`step`) each time step of each block.
   */
  segments(granularity: 'block' | 'step' = 'block'): ((x: Tensor) => Tensor)[] {
    const parts: ((x: Tensor) => Tensor)[] = [(x) => this.opening.forward(x)];
    [...this.blocks].forEach((b, i) => {
      const block = b as DynamicBlock;
      if (granularity === 'step') parts.push(...block.steps());
      else parts.push((x) => block.forward(x));
      parts.push((x) => tidy(() => F.avgPool2d(this.connections.at(i).forward(x as never) as Tensor, 2)));
    });
    parts.push((x) => tidy(() => this.fc.forward(F.adaptiveAvgPool2d(x, 1).flatten(1))));
    return parts;
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const part of this.segments()) {
      const input = y;
      y = part(input);
      if (input !== x) input.dispose();
    }
    return y;
  }

  /** The time regularization of all blocks (see DynamicBlock.timeRegularization). */
  timeRegularization(): Tensor {
    return tidy(() => [...this.blocks].map((b) => (b as DynamicBlock).timeRegularization())
      .reduce((a, b) => a.add(b)));
  }

  /** Re-discretizes every block (see DynamicBlock.setTimeSteps). */
  setTimeSteps(tY: readonly number[], tTheta?: readonly number[]): void {
    for (const b of this.blocks) (b as DynamicBlock).setTimeSteps(tY, tTheta);
  }
}
