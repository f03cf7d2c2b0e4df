/**
 * The statistics of a sweep: a sample's mean, standard deviation and Student-t confidence interval, and
 * Welch's comparison of two samples (unequal variances). Student's t distribution comes from stdlib.
 * @module
 */
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import { TorchError } from '../tensor/errors.js';

/** A sample's summary; std and the interval are null below two values. */
export interface SampleSummary {
  n: number;
  mean: number;
  /** Sample standard deviation (divisor n − 1). */
  std: number | null;
  /** mean ± t(1 − α/2, n − 1)·std/√n. */
  low: number | null;
  high: number | null;
}

/** Welch's comparison of sample b against sample a: the difference of means mean(b) − mean(a). */
export interface Comparison {
  difference: number;
  /** The Welch interval: difference ± t(1 − α/2, df)·se. */
  low: number | null;
  high: number | null;
  /** t = difference / se, se = √(s²a/na + s²b/nb). */
  t: number | null;
  /** Welch–Satterthwaite degrees of freedom. */
  df: number | null;
  /** Two-sided p-value of Welch's t-test. */
  p: number | null;
}

function checkSample(xs: readonly number[], what: string): void {
  if (xs.length === 0 || xs.some((x) => !Number.isFinite(x))) {
    throw new TorchError(
      `${what} must be a non-empty list of finite numbers, got ${JSON.stringify(xs)}`,
      'sweep.stats',
    );
  }
}

function checkLevel(level: number): void {
  if (!(level > 0 && level < 1))
    throw new TorchError(`the confidence level must be in (0, 1), got ${level}`, 'sweep.stats');
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length;
}

/** Σ(x − x̄)²/(n − 1). */
export function variance(xs: readonly number[]): number {
  const m = mean(xs);
  return xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1);
}

/** The quantile of Student's t distribution with df degrees of freedom at probability q. */
export function studentQuantile(q: number, df: number): number {
  return tQuantile(q, df);
}

/** n, mean, std and the confidence interval of the mean at `level` (default 95%). */
export function summarize(xs: readonly number[], level = 0.95): SampleSummary {
  checkSample(xs, 'the sample');
  checkLevel(level);
  const n = xs.length;
  const m = mean(xs);
  if (n < 2) return { n, mean: m, std: null, low: null, high: null };
  const std = Math.sqrt(variance(xs));
  const half = (studentQuantile(1 - (1 - level) / 2, n - 1) * std) / Math.sqrt(n);
  return { n, mean: m, std, low: m - half, high: m + half };
}

/** Welch's t-test and interval for mean(b) − mean(a); null fields when either sample has fewer than two values. */
export function welch(a: readonly number[], b: readonly number[], level = 0.95): Comparison {
  checkSample(a, 'the first sample');
  checkSample(b, 'the second sample');
  checkLevel(level);
  const difference = mean(b) - mean(a);
  if (a.length < 2 || b.length < 2) return { difference, low: null, high: null, t: null, df: null, p: null };
  const va = variance(a) / a.length;
  const vb = variance(b) / b.length;
  const se = Math.sqrt(va + vb);
  if (se === 0) {
    // Both samples constant: the difference is exact.
    return {
      difference,
      low: difference,
      high: difference,
      t: difference === 0 ? 0 : Math.sign(difference) * Infinity,
      df: a.length + b.length - 2,
      p: difference === 0 ? 1 : 0,
    };
  }
  const df = (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  const t = difference / se;
  const half = studentQuantile(1 - (1 - level) / 2, df) * se;
  return { difference, low: difference - half, high: difference + half, t, df, p: 2 * tCdf(-Math.abs(t), df) };
}

/**
 * The paired t-test and interval for mean(b − a) over pairs (a[i], b[i]) — the same seed, hence the same data
 * split, subset and order, in both runs — which removes what the pairs share from the comparison; null fields
 * below two pairs.
 */
export function paired(a: readonly number[], b: readonly number[], level = 0.95): Comparison {
  if (a.length !== b.length) {
    throw new TorchError(`paired samples must have equal lengths, got ${a.length} and ${b.length}`, 'sweep.stats');
  }
  checkSample(a, 'the first sample');
  checkSample(b, 'the second sample');
  const d = b.map((x, i) => x - a[i]!);
  const s = summarize(d, level);
  if (s.std === null) return { difference: s.mean, low: null, high: null, t: null, df: null, p: null };
  const df = d.length - 1;
  if (s.std === 0) {
    const t = s.mean === 0 ? 0 : Math.sign(s.mean) * Infinity;
    return { difference: s.mean, low: s.mean, high: s.mean, t, df, p: s.mean === 0 ? 1 : 0 };
  }
  const t = s.mean / (s.std / Math.sqrt(d.length));
  return { difference: s.mean, low: s.low, high: s.high, t, df, p: 2 * tCdf(-Math.abs(t), df) };
}
