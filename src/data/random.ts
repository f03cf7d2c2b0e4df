/**
 * Seeded random numbers for data work: shuffling, splits and augmentation.
 *
 * The data floor draws its own numbers in JavaScript instead of from libtorch's generator, for two
 * reasons: worker threads (which must not load the native addon) draw them too, and the numbers of
 * epoch e, batch b depend only on (seed, e, b) — never on how many numbers the model or another batch
 * drew before — so a resumed run sees exactly the batches of an uninterrupted one.
 *
 * The generator is sfc32 (Chris Doty-Humphrey's Small Fast Chaotic PRNG, PractRand-clean), seeded by
 * hashing all its keys with splitmix32, so `new Rng(seed, epoch, batch)` and `new Rng(seed, epoch,
 * batch + 1)` are unrelated streams.
 *
 * This file imports nothing: worker threads load it.
 * @module
 */

/** splitmix32: a good 32-bit mixing function (Steele, Lea and Flood's SplitMix, 32-bit variant). */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Purposes, mixed into the keys so that the streams of one (seed, epoch) never overlap. */
export const STREAM = { split: 1, order: 2, augment: 3, affine: 4, synthetic: 5, flip: 6 } as const;

/** A seeded generator of uniform numbers; the same keys give the same sequence on every platform. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** A generator for the stream named by `keys` (integers, e.g. seed, purpose, epoch, batch). */
  constructor(...keys: number[]) {
    let h = 0x243f6a88;
    for (const k of keys) {
      // fold the key in 32-bit halves, so seeds beyond 2^32 still matter
      const lo = k >>> 0;
      const hi = Math.floor(k / 0x100000000) >>> 0;
      h = mix32(h ^ lo);
      h = mix32(h ^ hi);
    }
    this.#a = mix32(h ^ 0x1);
    this.#b = mix32(h ^ 0x2);
    this.#c = mix32(h ^ 0x3);
    this.#d = 1;
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    const a = this.#a,
      b = this.#b,
      c = this.#c,
      d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    const r = (c << 21) | (c >>> 11);
    this.#c = (r + t) | 0;
    return t >>> 0;
  }

  /** A uniform number in [0, 1) with 53 random bits. */
  float(): number {
    return ((this.uint32() >>> 5) * 67108864 + (this.uint32() >>> 6)) / 9007199254740992;
  }

  /** A uniform number in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.float();
  }

  /** A uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.float() < p;
  }

  /** Shuffles `array` in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = array[i];
      array[i] = array[j];
      array[j] = t;
    }
    return array;
  }
}

/** A random permutation of 0…n−1 drawn from `rng`. */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return rng.shuffle(p);
}
