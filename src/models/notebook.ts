/**
 * The seed notebook's networks, as its code runs them: `cifar10_with_PDE.ipynb` of liuyao12/pytorch-cifar
 * ("ResNet with a twist"), the cell defining `BasicBlock`, `Bottleneck`, `PDEBlock` and `ResNet`.
 * test/notebook-reference.test.ts checks outputs and gradients against that code (fixtures written by
 * test/fixtures/make_notebook_fixture.py).
 *
 * ResNet: `conv1` (3×3) + `bn1` + ReLU, `layer1..layer4` of channels [1, 2, 4, 4]·width (width 32; strides
 * 1, 2, 2, 2), global average pooling, `linear` on channels[2]·expansion inputs (= channels[3]·expansion).
 * A stage of 0 blocks is the notebook's 1×1 convolution with padding 1 (the map grows by 2 pixels) + BN.
 * - `BasicBlock` (pre-activation): a = relu(bn1(x)); out = T₂(relu(bn2(T₁(a)))) + shortcut(a) — the
 *   shortcut reads the activated input; no ReLU after the sum.
 * - `Bottleneck` (expansion 4): relu(bn1(conv1 x)) → T₂ (stride) → relu(bn2) → conv3 → bn3, + shortcut(x), ReLU.
 * - `PDEBlock`: when the shape changes, x = bn0(conv0 x) with conv0 a 1×1 convolution with stride and
 *   padding 1 (as the notebook: the map grows by 2 pixels before the stride); then 2 forward-Euler steps
 *   x = x + T(x)/2 of one twisted 3×3 operator with groups 4; then relu(bn(x)).
 * Here T = the twisted convolution conv + X·convx + Y·convy (X = j/W − 0.5, Y = i/H − 0.5), or the plain conv
 * while the block's `twist` flag is off (the notebook starts every block plain and switches blocks on
 * during training: see setTwist / applyTwistSchedule in stages.ts).
 *
 * The kernels. Each twisted convolution has three parameters under the notebook's names, `convN.weight` (K),
 * `convNx.weight` and `convNy.weight`, so its checkpoints load as they are. Kx is projected from
 * `convNx.weight` (BasicBlock and PDEBlock: `point`; Bottleneck: `doubly-odd`, as the code does; its
 * comment promises a first-order operator, which is `point`: pass `twistVariant: 'point'`) and Ky is Kx
 * rotated (`strain`; Bottleneck: `conformal`). Two ways of training them (`twistMode`):
 * - `projected` (the notebook's): every twisted forward overwrites `convNx.weight` with the projection of
 *   itself and `convNy.weight` with its rotation (the notebook assigns `.data`), then runs the three
 *   convolutions on these parameters. Each gets the gradient of its own convolution: Kx's ignores the part
 *   that flows through Ky, and Ky's is discarded by the next overwrite.
 * - `parametrized` (pdenet's): Kx and Ky are computed from `convNx.weight` inside the forward, so its gradient
 *   is the full one, through the projection and the rotation. `convNy.weight` still holds the rotation (for
 *   the state dict) and receives no gradient.
 * Kx starts from the default convolution initialization as in the notebook, or at twistInitStd·randn.
 *
 * One difference in work, not in result: the notebook's twisted BasicBlock computes `conv1(x)` twice (once
 * before its `if self.twist:` and again inside it, the first result discarded); here it is computed once. So
 * these models' FLOPs (countFlops: 0.684 GFLOPs for notebook-resnet18 twisted everywhere at 32×32) are below a
 * count of the notebook's own forward (0.788); plain, and for notebook-pdenet, the counts agree exactly.
 * @module
 */
import * as F from '../tensor/functional.js';
import { noGrad } from '../tensor/autograd.js';
import { chain, tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Sequential } from '../nn/container.js';
import { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import { markBlock } from '../nn/block.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/norm.js';
import { type Boundary, padBoundary } from '../pde/boundary.js';
import { coordinates } from '../pde/coords.js';
import { kyFromKx, projectKx, type TwistField, type TwistVariant } from '../pde/twist.js';
import { type NotebookModelOptions, resolveOptions, type ResolvedOptions, type TwistMode } from './options.js';
import { ZooModel } from './stages.js';

/** How a notebook block makes its twisted convolutions. */
export interface NotebookTwistSpec {
  variant: TwistVariant;
  field: TwistField;
  mode: TwistMode;
  /** Kx's parameter starts at initStd·randn; null: the default convolution initialization. */
  initStd: number | null;
  boundary: Boundary;
}

/** The three convolutions of a twisted 3×3 convolution: K, the parameter of Kx, and Ky. */
interface TwistTriple {
  k: Conv2d;
  x: Conv2d;
  y: Conv2d;
}

/** The weights of a triple's Kx and Ky convolutions (`convNx.weight`, `convNy.weight`). */
const tripleTwistParameters = (...triples: TwistTriple[]): Tensor[] => triples.flatMap((t) => [t.x.weight, t.y.weight]);

/** A 3×3 convolution of a notebook block (bias-free, padding 1, the model's boundary condition). */
function conv3(inChannels: number, outChannels: number, stride: number, groups: number, boundary: Boundary): Conv2d {
  return new Conv2d(inChannels, outChannels, 3, { stride, padding: 1, groups, bias: false, paddingMode: boundary });
}

/** A block's registerModule. */
type Register = (name: string, conv: Conv2d) => Conv2d;

/** Registers `name`, `name`x and `name`y (in the notebook's order) and initializes Kx per `spec`. */
function twistTriple(
  register: Register,
  name: string,
  inChannels: number,
  outChannels: number,
  stride: number,
  groups: number,
  spec: NotebookTwistSpec,
): TwistTriple {
  const make = (suffix: string) =>
    register(`${name}${suffix}`, conv3(inChannels, outChannels, stride, groups, spec.boundary));
  const triple = { k: make(''), x: make('x'), y: make('y') };
  if (spec.initStd !== null) {
    const std = spec.initStd;
    noGrad(() => triple.x.weight.normal_(0, std));
  }
  return triple;
}

/** `conv` applied with another weight of the same shape (the derived Kx or Ky of the parametrized mode). */
function convWith(conv: Conv2d, u: Tensor, weight: Tensor): Tensor {
  const zeros = conv.paddingMode === 'zeros';
  return F.conv2d(zeros ? u : padBoundary(u, 1, conv.paddingMode), weight, null, {
    stride: conv.stride,
    padding: zeros ? 1 : 0,
    groups: conv.groups,
  });
}

/**
 * The twisted convolution's kernels for this forward: projected in place (`projected`), or derived with
 * their gradient (`parametrized`). Returns the convolutions Kx⋆· and Ky⋆· as functions.
 */
function twistKernels(
  t: TwistTriple,
  spec: NotebookTwistSpec,
): { kx: (u: Tensor) => Tensor; ky: (u: Tensor) => Tensor } {
  if (spec.mode === 'projected') {
    noGrad(() =>
      tidy(() => {
        t.x.weight.copy_(projectKx(t.x.weight, spec.variant));
        t.y.weight.copy_(kyFromKx(t.x.weight, spec.field));
      }),
    );
    return { kx: (u) => t.x.forward(u), ky: (u) => t.y.forward(u) };
  }
  const kx = projectKx(t.x.weight, spec.variant);
  const ky = kyFromKx(kx, spec.field);
  noGrad(() => t.y.weight.copy_(ky));
  return { kx: (u) => convWith(t.x, u, kx), ky: (u) => convWith(t.y, u, ky) };
}

/** K⋆u + X·(Kx⋆u) + Y·(Ky⋆u), X and Y the notebook's coordinates of the output grid. */
function twistSum(t: TwistTriple, kernels: ReturnType<typeof twistKernels>, u: Tensor): Tensor {
  return tidy(() => {
    const out = t.k.forward(u);
    // The notebook's coordinates are float32 (np.indices(…, dtype='float32')) whatever the model's dtype.
    const xy = coordinates(out.shape[2]!, out.shape[3]!, 'centered', 'float32');
    const [x, y] = out.dtype === 'float32' ? [xy.x, xy.y] : [xy.x.to(out.dtype), xy.y.to(out.dtype)];
    return out.add(x.mul(kernels.kx(u)).add(y.mul(kernels.ky(u))));
  });
}

/** The twisted convolution of `t` on u when `twist`, else its plain convolution K⋆u. */
function twistConv(t: TwistTriple, spec: NotebookTwistSpec, twist: boolean, u: Tensor): Tensor {
  return twist ? tidy(() => twistSum(t, twistKernels(t, spec), u)) : t.k.forward(u);
}

/** The notebook's shortcut: identity (an empty Sequential) or 1×1 conv with stride + BN. */
function shortcut(inChannels: number, outChannels: number, stride: number): Sequential {
  return stride !== 1 || inChannels !== outChannels
    ? new Sequential(new Conv2d(inChannels, outChannels, 1, { stride, bias: false }), new BatchNorm2d(outChannels))
    : new Sequential();
}

/** A block class of {@link NotebookResNet}. */
export interface NotebookBlockClass {
  readonly expansion: number;
  new (
    inChannels: number,
    channels: number,
    stride: number,
    spec: NotebookTwistSpec,
  ): Module & {
    twist: boolean;
    forward(x: Tensor): Tensor;
  };
}

/** The notebook's (pre-activation) BasicBlock, twist off until switched on. */
export class NotebookBasicBlock extends Module {
  static readonly expansion = 1;
  twist = false;
  readonly bn1: BatchNorm2d;
  readonly bn2: BatchNorm2d;
  readonly shortcut: Sequential;
  readonly #t1: TwistTriple;
  readonly #t2: TwistTriple;

  constructor(
    inChannels: number,
    channels: number,
    stride: number,
    readonly spec: NotebookTwistSpec,
  ) {
    super();
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(inChannels));
    this.#t1 = twistTriple((n, c) => this.registerModule(n, c), 'conv1', inChannels, channels, stride, 1, spec);
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(channels));
    this.#t2 = twistTriple((n, c) => this.registerModule(n, c), 'conv2', channels, channels, 1, 1, spec);
    this.shortcut = this.registerModule('shortcut', shortcut(inChannels, channels, stride));
  }

  /** The weights of the twist's Kx and Ky convolutions (see `twistParameters` in the zoo). */
  twistParameters(): Tensor[] {
    return tripleTwistParameters(this.#t1, this.#t2);
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const a = F.relu(this.bn1.forward(x));
      const x2 = chain(a, (u) => twistConv(this.#t1, this.spec, this.twist, u), this.bn2, F.relu);
      return chain(x2, (u) => twistConv(this.#t2, this.spec, this.twist, u)).add(this.shortcut.forward(a));
    });
  }
}
markBlock(NotebookBasicBlock);

/** The notebook's Bottleneck (expansion 4), the twist on its 3×3 `conv2`. */
export class NotebookBottleneck extends Module {
  static readonly expansion = 4;
  twist = false;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly shortcut: Sequential;
  readonly #t2: TwistTriple;

  constructor(
    inChannels: number,
    channels: number,
    stride: number,
    readonly spec: NotebookTwistSpec,
  ) {
    super();
    const out = channels * NotebookBottleneck.expansion;
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, channels, 1, { bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(channels));
    this.#t2 = twistTriple((n, c) => this.registerModule(n, c), 'conv2', channels, channels, stride, 1, spec);
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(channels));
    this.conv3 = this.registerModule('conv3', new Conv2d(channels, out, 1, { bias: false }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(out));
    this.shortcut = this.registerModule('shortcut', shortcut(inChannels, out, stride));
  }

  /** The weights of the twist's Kx and Ky convolutions (see `twistParameters` in the zoo). */
  twistParameters(): Tensor[] {
    return tripleTwistParameters(this.#t2);
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const out = chain(
        x,
        this.conv1,
        this.bn1,
        F.relu,
        (u) => twistConv(this.#t2, this.spec, this.twist, u),
        this.bn2,
        F.relu,
        this.conv3,
        this.bn3,
      );
      return F.relu(out.add(this.shortcut.forward(x)));
    });
  }
}
markBlock(NotebookBottleneck);

/** The notebook's PDEBlock: 2 forward-Euler steps of one twisted operator with groups 4 (see the module comment). */
export class NotebookPDEBlock extends Module {
  static readonly expansion = 1;
  static readonly iterations = 2;
  twist = false;
  readonly conv0: Conv2d | null;
  readonly bn0: BatchNorm2d | null;
  readonly bn: BatchNorm2d;
  readonly #t: TwistTriple;

  constructor(
    inChannels: number,
    channels: number,
    stride: number,
    readonly spec: NotebookTwistSpec,
  ) {
    super();
    const expand = inChannels !== channels || stride !== 1;
    this.conv0 = expand
      ? this.registerModule('conv0', new Conv2d(inChannels, channels, 1, { stride, padding: 1, bias: false }))
      : null;
    this.bn0 = expand ? this.registerModule('bn0', new BatchNorm2d(channels)) : null;
    this.#t = twistTriple((n, c) => this.registerModule(n, c), 'conv', channels, channels, 1, 4, spec);
    this.bn = this.registerModule('bn', new BatchNorm2d(channels));
  }

  /** The weights of the twist's Kx and Ky convolutions (see `twistParameters` in the zoo). */
  twistParameters(): Tensor[] {
    return tripleTwistParameters(this.#t);
  }

  forward(input: Tensor): Tensor {
    return tidy(() => {
      let x = this.conv0 && this.bn0 ? chain(input, this.conv0, this.bn0) : input;
      const n = NotebookPDEBlock.iterations;
      // The kernels are projected once per forward, as the notebook does, and shared by the Euler steps.
      const kernels = this.twist ? twistKernels(this.#t, this.spec) : null;
      for (let i = 0; i < n; i++) {
        const u = x;
        x = tidy(() => u.add((kernels ? twistSum(this.#t, kernels, u) : this.#t.k.forward(u)).div(n)));
      }
      return chain(x, this.bn, F.relu);
    });
  }
}
markBlock(NotebookPDEBlock);

/** The notebook's ResNet (see the module comment); `width` is its `in_channels` (32). */
export class NotebookResNet extends ZooModel {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layers: Sequential[];
  readonly linear: Linear;

  constructor(block: NotebookBlockClass, numBlocks: readonly number[], options: ResolvedOptions) {
    super();
    const { width, boundary, numClasses } = options;
    const spec: NotebookTwistSpec = {
      variant: options.twistVariant,
      field: options.twistField,
      mode: options.twistMode,
      initStd: options.twistInitStd,
      boundary,
    };
    const channels = [1, 2, 4, 4].map((m) => m * width);
    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d(3, channels[0]!, 3, { padding: 1, bias: false, paddingMode: boundary }),
    );
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(channels[0]!));
    let inChannels = width;
    this.layers = numBlocks.map((n, i) => {
      this.beginStage();
      const stride = i === 0 ? 1 : 2;
      const layer = new Sequential();
      if (n === 0) {
        layer.append(new Conv2d(inChannels, channels[i]!, 1, { stride, padding: 1, bias: false }));
        layer.append(new BatchNorm2d(channels[i]!));
      }
      for (let j = 0; j < n; j++) {
        const b = new block(inChannels, channels[i]!, j === 0 ? stride : 1, spec);
        b.twist = options.twist[i]!;
        this.inStage(b);
        layer.append(b);
        inChannels = channels[i]! * block.expansion;
      }
      if (n === 0) inChannels = channels[i]! * block.expansion;
      return this.registerModule(`layer${i + 1}`, layer);
    });
    this.linear = this.registerModule('linear', new Linear(channels[2]! * block.expansion, numClasses));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const out = chain(x, this.conv1, this.bn1, F.relu, ...this.layers);
      return this.linear.forward(F.adaptiveAvgPool2d(out, 1).flatten(1));
    });
  }
}

/** The builder of the notebook's networks: its options, its defaults (width 32; the twist kernels of `block`). */
export function _notebookResNet(
  name: string,
  block: NotebookBlockClass,
  numBlocks: readonly number[],
  options: NotebookModelOptions,
): NotebookResNet {
  const bottleneck = block === NotebookBottleneck;
  return new NotebookResNet(
    block,
    numBlocks,
    resolveOptions(name, options, {
      stages: 4,
      defaultWidth: 32,
      alwaysTwistable: true,
      twistModes: true,
      defaultVariant: bottleneck ? 'doubly-odd' : 'point',
      defaultField: bottleneck ? 'conformal' : 'strain',
      widthMultipleOf: block === NotebookPDEBlock ? 4 : 1,
    }),
  );
}

/** The notebook's `ResNet18()`: BasicBlock [2, 2, 2, 2]. */
export function notebookResnet18(options: NotebookModelOptions = {}): NotebookResNet {
  return _notebookResNet('notebook-resnet18', NotebookBasicBlock, [2, 2, 2, 2], options);
}

/** The notebook's `ResNet34()`: BasicBlock [3, 4, 6, 3] (the network its cell builds). */
export function notebookResnet34(options: NotebookModelOptions = {}): NotebookResNet {
  return _notebookResNet('notebook-resnet34', NotebookBasicBlock, [3, 4, 6, 3], options);
}

/** The notebook's `ResNet50()`: Bottleneck [3, 4, 6, 3]. */
export function notebookResnet50(options: NotebookModelOptions = {}): NotebookResNet {
  return _notebookResNet('notebook-resnet50', NotebookBottleneck, [3, 4, 6, 3], options);
}

/** The notebook's `ResNet101()`: Bottleneck [3, 4, 23, 3]. */
export function notebookResnet101(options: NotebookModelOptions = {}): NotebookResNet {
  return _notebookResNet('notebook-resnet101', NotebookBottleneck, [3, 4, 23, 3], options);
}

/** The notebook's `ResNet152()`: Bottleneck [3, 8, 36, 3]. */
export function notebookResnet152(options: NotebookModelOptions = {}): NotebookResNet {
  return _notebookResNet('notebook-resnet152', NotebookBottleneck, [3, 8, 36, 3], options);
}

/**
 * The notebook's PDEBlock network, [3, 3, 3, 0]. Its commented-out `ResNet(PDEBlock, [3,3,3])` fails
 * (`__init__` reads num_blocks[3]); a fourth stage of 0 blocks is the notebook's own way of leaving a stage
 * out (a 1×1 convolution with padding 1 + BN).
 */
export function notebookPdenet(options: NotebookModelOptions = {}): NotebookResNet {
  return _notebookResNet('notebook-pdenet', NotebookPDEBlock, [3, 3, 3, 0], options);
}

/**
 * A state dict of the notebook's code for these models: the keys are the notebook's own; a checkpoint of
 * its training loop (`{'net': state_dict, 'acc', 'epoch', 'lr'}`) gives its `net`, and the `module.` prefix
 * that `nn.DataParallel` adds (the notebook wraps the net on a GPU) is removed.
 */
export function notebookStateDict(loaded: Map<string, unknown>): Map<string, Tensor> {
  const net = loaded.get('net');
  const dict = (net instanceof Map ? net : loaded) as Map<string, Tensor>;
  return new Map([...dict].map(([k, v]) => [k.startsWith('module.') ? k.slice('module.'.length) : k, v]));
}
