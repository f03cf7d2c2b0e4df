/**
 * What the command line writes beside a run after each epoch (the curves) and at the end (the report).
 * @module
 */
import { join } from 'node:path';
import type { EpochMetrics } from '../train/run.js';
import { plotCurves } from '../viz/charts.js';
import { writeRunReport } from '../viz/report.js';

export async function afterEpoch(runDir: string, metrics: EpochMetrics[]): Promise<void> {
  await plotCurves(metrics, join(runDir, 'curves.png'), { title: runDir });
}

export async function afterRun(runDir: string): Promise<void> {
  await writeRunReport(runDir);
}
