/**
 * Weight initialization, identical to `torch.nn.init`: the same formulas, drawn from libtorch's same
 * generator, so that with the same seed a layer starts from the same weights as in PyTorch.
 * Every function fills its tensor in place (without recording gradients) and returns it.
 * @module
 */
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/memory.js';
import { check } from '../tensor/errors.js';
import * as linalg from '../tensor/linalg.js';
import type { Tensor } from '../tensor/tensor.js';
import { randn } from '../tensor/creation.js';

export type Nonlinearity = 'linear' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** The recommended gain for a nonlinearity (torch.nn.init.calculate_gain). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv2d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new Error(`unknown nonlinearity ${String(nonlinearity)}`);
  }
}

/**
 * fan_in and fan_out of a weight: dimension 1 and dimension 0 times the receptive field
 * (for a conv weight out×in×kH×kW: fan_in = in·kH·kW, fan_out = out·kH·kW).
 */
export function calculateFanInAndFanOut(t: Tensor): { fanIn: number; fanOut: number } {
  const shape = t.shape;
  check(shape.length >= 2, 'init', `fan in and fan out need at least 2 dimensions, got [${shape.join(', ')}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

function fan(t: Tensor, mode: 'fanIn' | 'fanOut'): number {
  return calculateFanInAndFanOut(t)[mode];
}

export function uniform_(t: Tensor, a = 0, b = 1): Tensor {
  return noGrad(() => t.uniform_(a, b));
}

export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  return noGrad(() => t.normal_(mean, std));
}

export function constant_(t: Tensor, value: number): Tensor {
  return noGrad(() => t.fill_(value));
}

export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

/** Options of the Kaiming (He) initializers. */
export interface KaimingOptions {
  /** Negative slope of the leaky ReLU that follows (a = √5 gives PyTorch's Conv/Linear default). */
  a?: number;
  mode?: 'fanIn' | 'fanOut';
  nonlinearity?: Nonlinearity;
}

/** U(−b, b) with b = gain·√(3 / fan) (He et al. 2015). */
export function kaimingUniform_(t: Tensor, options: KaimingOptions = {}): Tensor {
  const { a = 0, mode = 'fanIn', nonlinearity = 'leaky_relu' } = options;
  const bound = (Math.sqrt(3) * calculateGain(nonlinearity, a)) / Math.sqrt(fan(t, mode));
  return uniform_(t, -bound, bound);
}

/** N(0, std²) with std = gain / √fan (He et al. 2015). */
export function kaimingNormal_(t: Tensor, options: KaimingOptions = {}): Tensor {
  const { a = 0, mode = 'fanIn', nonlinearity = 'leaky_relu' } = options;
  return normal_(t, 0, calculateGain(nonlinearity, a) / Math.sqrt(fan(t, mode)));
}

/** U(−b, b) with b = gain·√(6 / (fan_in + fan_out)) (Glorot & Bengio 2010). */
export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound);
}

/** N(0, std²) with std = gain·√(2 / (fan_in + fan_out)). */
export function xavierNormal_(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

/**
 * A (semi-)orthogonal matrix times `gain`, from the QR decomposition of a Gaussian matrix with the
 * signs of R's diagonal folded into Q (Saxe et al. 2013), as torch.nn.init.orthogonal_.
 */
export function orthogonal_(t: Tensor, gain = 1): Tensor {
  const shape = t.shape;
  check(shape.length >= 2, 'orthogonal_', `needs at least 2 dimensions, got [${shape.join(', ')}]`);
  const rows = shape[0]!;
  const cols = t.numel / rows;
  tidy(() =>
    noGrad(() => {
      let flat = randn([rows, cols], { dtype: t.dtype });
      if (rows < cols) flat = flat.t();
      const { Q, R } = linalg.qr(flat);
      let m = Q.mul(R.diagonal().sign());
      if (rows < cols) m = m.t();
      t.copy_(m.reshape(shape).mul(gain));
    }),
  );
  return t;
}

/** The Conv/Linear default: weight kaimingUniform(a = √5), i.e. U(±1/√fan_in); bias U(±1/√fan_in). */
export function defaultLayerInit_(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, { a: Math.sqrt(5) });
  if (bias !== null) {
    const { fanIn } = calculateFanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound);
  }
}
