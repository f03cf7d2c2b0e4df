/**
 * Medians and how far samples disagree, and the number formats of the reports.
 * @module
 */

/** A set of samples and its median, fastest and slowest. */
export interface Stats {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export function stats(samples: number[]): Stats {
  if (samples.length === 0) throw new Error('stats of no samples');
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, samples };
}

/** The median (of an even number of samples, the mean of the middle two). */
export function median(samples: number[]): number {
  return stats(samples).median;
}

/** (max − min) / median: how much the repeats disagree. */
export function spread(s: Stats): number {
  return (s.max - s.min) / s.median;
}

/** `x` with `digits` decimals, or "–" for a figure that was not measured. */
export function fixed(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined ? '–' : x.toFixed(digits);
}

export function percent(x: number): string {
  return `${(x * 100).toFixed(0)}%`;
}

export const MiB = 1 << 20;

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(2)} MiB`;
}
