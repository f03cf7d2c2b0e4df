/**
 * RKNet: a network of dynamic blocks joined by connecting layers (DynamicBlocks, seed 004), as the
 * reference's RKNet.py builds it (EmoryMLIP/DynamicBlocks, runDefault):
 *
 *   open (3×3 conv + bias, BatchNorm2d ε = 10⁻⁴, ReLU)
 *   → for each of the len(channels) − 1 blocks: dynamic block → connecting layer (1×1 conv + bias,
 *     BatchNorm2d ε = 10⁻⁴, ReLU) → average pool 2 (global average pool after the last)
 *   → linear (normalInit weight, zero bias).
 *
 * The default — RK4 + DoubleSym + TvNorm, channels [16, 32, 64, 64], time points [0, 1, 2, 3, 4] — is the
 * reference's runDefault network, 251,866 parameters; its state-dict names are the reference's, and
 * {@link referenceStateDict} reads a state_dict the reference saved. The reference's box constraints
 * (ClippedModule) are on by default: {@link RKNet.clip}, applied after every optimizer step.
 * @module
 */
import { check, describe } from '../tensor/errors.js';
import { noGrad } from '../tensor/autograd.js';
import * as F from '../tensor/functional.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { ModuleList } from '../nn/container.js';
import { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/norm.js';
import type { Boundary } from '../pde/boundary.js';
import { DynamicBlock, type IntegratorName, type NormStatsMode, type Regularizer } from './block.js';
import {
  type BoxKind,
  LAYER_KINDS,
  LAYERS,
  type LayerFunction,
  type LayerKind,
  type NormKind,
  normalInit,
} from './layers.js';
import { clampBoxes, REFERENCE_BOUNDS, type ReferenceBounds } from './constraints.js';

/** Options of {@link RKNet}. */
export interface RKNetOptions {
  /** The reference's vFeat: channels of each block, the last for the last connecting layer (default [16, 32, 64, 64]). */
  channels?: readonly number[];
  /** State time points of every block (default [0, 1, 2, 3, 4]). */
  tY?: readonly number[];
  /** Control time points (default: tY). */
  tTheta?: readonly number[];
  integrator?: IntegratorName;
  layer?: LayerKind;
  /** Normalization in the layer functions (default tv, the reference's TvNorm). */
  norm?: NormKind;
  /** BatchNorm statistics per RK stage (default, the reference's) or per control (pdenet's). */
  normStats?: NormStatsMode;
  /** Time regularizer: l1 (default, the reference's weight_variance) or l2 (pdenet's). */
  regularizer?: Regularizer;
  /** The reference's box constraints after each step (default true; false: none). */
  clip?: boolean;
  boundary?: Boundary;
  numClasses?: number;
  inChannels?: number;
}

/**
 * The reference's ConnectingLayer: conv (with bias, normalInit, zero bias) → BatchNorm2d(ε = 10⁻⁴) → ReLU.
 * Children `conv`, `normLayer`.
 */
export class ConnectingLayer extends Module {
  readonly conv: Conv2d;
  readonly normLayer: BatchNorm2d;

  constructor(cin: number, cout: number, kernel: 1 | 3, boundary: Boundary = 'zeros') {
    super();
    this.conv = this.registerModule(
      'conv',
      new Conv2d(cin, cout, kernel, { padding: kernel === 3 ? 1 : 0, bias: true, paddingMode: boundary }),
    );
    noGrad(() => {
      this.conv.weight.copy_(normalInit(this.conv.weight.shape));
      this.conv.bias!.zero_();
    });
    this.normLayer = this.registerModule('normLayer', new BatchNorm2d(cout, { eps: 1e-4 }));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => F.relu(this.normLayer.forward(this.conv.forward(x))));
  }

  boxConstrained(): [Tensor, BoxKind][] {
    return [
      [this.conv.weight, 'conv'],
      [this.conv.bias!, 'conv'],
      [this.normLayer.weight!, 'other'],
    ];
  }
}

/** Children (the reference's names): `open`, `dynamicBlocks.i`, `connectors.i`, `linear`. */
export class RKNet extends Module {
  readonly open: ConnectingLayer;
  readonly dynamicBlocks: ModuleList;
  readonly connectors: ModuleList;
  readonly linear: Linear;
  readonly clipping: boolean;

  constructor(readonly options: RKNetOptions = {}) {
    super();
    const {
      channels = [16, 32, 64, 64],
      tY = [0, 1, 2, 3, 4],
      tTheta = tY,
      integrator = 'rk4',
      layer = 'doublesym',
      norm = 'tv',
      normStats = 'stage',
      regularizer = 'l1',
      clip = true,
      boundary = 'zeros',
      numClasses = 10,
      inChannels = 3,
    } = options;
    check(
      channels.length >= 2,
      'RKNet',
      `channels (the reference's vFeat) needs at least two entries: len − 1 blocks, got [${channels}]`,
    );
    check(
      Object.hasOwn(LAYERS, layer),
      'RKNet',
      () => `layer must be one of ${LAYER_KINDS.join(', ')}, got ${describe(layer)}`,
    );
    const Layer = LAYERS[layer];
    this.clipping = clip;
    this.open = this.registerModule('open', new ConnectingLayer(inChannels, channels[0]!, 3, boundary));
    const blocks = channels.slice(0, -1);
    this.dynamicBlocks = this.registerModule(
      'dynamicBlocks',
      new ModuleList(
        blocks.map(
          (c) =>
            new DynamicBlock(() => new Layer(c, { norm, boundary }), {
              tY,
              tTheta,
              integrator,
              normStats,
              regularizer,
            }),
        ),
      ),
    );
    this.connectors = this.registerModule(
      'connectors',
      new ModuleList(blocks.map((c, i) => new ConnectingLayer(c, channels[i + 1]!, 1, boundary))),
    );
    this.linear = this.registerModule('linear', new Linear(channels.at(-1)!, numClasses));
    noGrad(() => {
      this.linear.weight.copy_(normalInit(this.linear.weight.shape));
      this.linear.bias!.zero_();
    });
  }

  get nBlocks(): number {
    return this.dynamicBlocks.length;
  }

  block(i: number): DynamicBlock {
    return this.dynamicBlocks.at(i) as DynamicBlock;
  }

  /** Connecting layer i, then average pool 2 — or, after the last block, global average pool and linear. */
  #connect(i: number, x: Tensor): Tensor {
    return tidy(() => {
      const z = (this.connectors.at(i) as ConnectingLayer).forward(x);
      if (i < this.nBlocks - 1) return F.avgPool2d(z, 2);
      return this.linear.forward(F.avgPool2d(z, [z.shape[2]!, z.shape[3]!]).flatten(1));
    });
  }

  /**
   * The parts of the network in order, each a function of the previous one's output, for checkpointed
   * training: whole dynamic blocks, or (`step`) each time step of each block.
   */
  segments(granularity: 'block' | 'step' = 'block'): ((x: Tensor) => Tensor)[] {
    const parts: ((x: Tensor) => Tensor)[] = [(x) => this.open.forward(x)];
    for (let i = 0; i < this.nBlocks; i++) {
      const block = this.block(i);
      if (granularity === 'step') parts.push(...block.steps());
      else parts.push((x) => block.forward(x));
      parts.push((x) => this.#connect(i, x));
    }
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

  /** The time regularization of all blocks (the reference's RKNet.regularization with the l1 regularizer). */
  timeRegularization(): Tensor {
    return tidy(() =>
      [...this.dynamicBlocks].map((b) => (b as DynamicBlock).timeRegularization()).reduce((a, b) => a.add(b)),
    );
  }

  /** Re-discretizes every block (see DynamicBlock.setTimeSteps: an optimizer over the old parameters must be rebuilt). */
  setTimeSteps(tY: readonly number[], tTheta?: readonly number[], options: { lastUnused?: boolean } = {}): void {
    for (const b of this.dynamicBlocks) (b as DynamicBlock).setTimeSteps(tY, tTheta, options);
  }

  /**
   * The reference's box constraints (ClippedModule.clip), when `clip` is on: convolution weights and
   * biases into [−0.5, 0.5]; the weights (not the biases) of the normalizations and of the linear layer
   * into [−1.5, 1.5]; the transposed convolution's bias of DoubleSym is left free, as there.
   */
  clip(bounds: ReferenceBounds = REFERENCE_BOUNDS): void {
    if (!this.clipping) return;
    const boxes: [Tensor, BoxKind][] = [[this.linear.weight, 'other']];
    for (const m of this.modules()) {
      if (m instanceof ConnectingLayer) boxes.push(...m.boxConstrained());
      if (m instanceof DynamicBlock) {
        for (const layer of m.controlLayers) boxes.push(...(layer as LayerFunction).boxConstrained());
      }
    }
    clampBoxes(boxes, bounds);
  }
}

/**
 * A state_dict the reference saved (`torch.save(net.state_dict())`, read with io's loadTorch) in the names
 * of `model`, ready for `model.loadStateDict`:
 * - DoubleSym's copies of its shared weight under `conv.weight` and `convt.weight` are checked equal to
 *   `weight` and dropped;
 * - rk1's state layers (registered there) hold interpolated parameters as buffers: dropped, their
 *   BatchNorm running statistics kept;
 * - per-stage statistics the reference does not save (rk4 keeps its stage layers in a plain list) keep
 *   the model's own, as loading leaves the reference's.
 * Anything else that does not match stays, for loadStateDict to report.
 */
export function referenceStateDict(model: Module, given: Map<string, Tensor>): Map<string, Tensor> {
  const own = model.stateDict();
  const out = new Map<string, Tensor>();
  for (const [k, v] of given) {
    if (own.has(k)) {
      out.set(k, v);
      continue;
    }
    const copy = /^(.*?)(conv|convt)\.weight$/.exec(k);
    const sharedName = copy ? `${copy[1]}weight` : '';
    const shared = copy ? given.get(sharedName) : undefined;
    if (shared !== undefined && own.has(sharedName)) {
      const same = noGrad(() =>
        tidy(() => shared.shape.length === v.shape.length && shared.sub(v).abs().max().item() === 0),
      );
      check(
        same,
        'referenceStateDict',
        `${k} differs from ${sharedName}: DoubleSym's convolution and its transpose share one weight`,
      );
      continue;
    }
    if (/(^|\.)stateLayers\.\d+\./.test(k) && !/running_(mean|var)$|num_batches_tracked$/.test(k)) continue;
    out.set(k, v);
  }
  for (const [k, v] of own) if (!out.has(k) && /(^|\.)stateLayers\./.test(k)) out.set(k, v);
  return out;
}
