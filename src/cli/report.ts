/**
 * What the command line writes beside a run after each epoch and at the end: curves and the HTML report.
 * @module
 */
import type { EpochMetrics } from '../train/trainer.js';

export async function afterEpoch(_runDir: string, _metrics: EpochMetrics[]): Promise<void> {}

export async function afterRun(_runDir: string): Promise<void> {}
