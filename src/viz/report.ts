/**
 * The report of a run: one self-contained `report.html` (pictures inlined as data URLs, no script, no
 * network) with the run's configuration, final metrics, curves and — when `inspectCheckpoint` has run —
 * the look inside the model. The PNG files stay beside it and are linked.
 * @module
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { TorchError } from '../tensor/errors.js';
import { type MetricsRow, plotCurves } from './charts.js';
import { escapeXml } from './svg.js';
import { readMetrics, RUN_FILES, runFile } from '../train/run.js';

/** Options of {@link writeRunReport}. */
export interface ReportOptions {
  /** Folder of an inspection (inspect.json and its pictures; default `<runDir>/inspect` when present). */
  inspectDir?: string;
  /** Where the report goes (default `<runDir>/report.html`). */
  outPath?: string;
  /** Also draw `<runDir>/curves.png` from metrics.jsonl (default true). */
  curves?: boolean;
}

const esc = escapeXml;

/** The parts of inspect.json (written by inspectCheckpoint) that the report reads. */
interface Manifest {
  checkpoint?: string | null;
  image?: string | null;
  parameters?: number;
  images?: Record<string, string | null>;
  operators?: {
    layer: string;
    type: string;
    shape: number[];
    norm: number;
    selfAdjoint: number | null;
    skewAdjoint: number | null;
    twistNorm?: number;
  }[];
}

/** The metrics of a run folder (metrics.jsonl, read by the run folder's owner). */
export function readRunMetrics(runDir: string): MetricsRow[] {
  return readMetrics(runDir);
}

function readJsonFile(path: string): unknown {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

function formatValue(key: string, v: unknown): string {
  if (typeof v === 'number') {
    if (/accuracy/i.test(key) && v >= 0 && v <= 1) return `${(v * 100).toFixed(2)}%`;
    if (Number.isInteger(v)) return String(v);
    return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? v.toFixed(4) : v.toExponential(3);
  }
  return esc(typeof v === 'string' ? v : JSON.stringify(v));
}

/** An epoch as the log and report.md count it: metrics.jsonl's 0-based epoch + 1. */
function shownEpoch(epoch: unknown): string {
  return typeof epoch === 'number' ? String(epoch + 1) : formatValue('epoch', epoch);
}

function figure(path: string, reportDir: string, title: string, caption: string): string {
  const bytes = readFileSync(path);
  const href = relative(reportDir, path).split('\\').join('/');
  // The pictures are drawn at 2 pixels per CSS pixel: shown at half their width (or the page's).
  const width = bytes.length > 24 ? Math.round(bytes.readUInt32BE(16) / 2) : 0;
  return (
    `<figure><h3>${esc(title)}</h3><img src="data:image/png;base64,${bytes.toString('base64')}" alt="${esc(title)}"` +
    `${width > 0 ? ` width="${width}"` : ''}>` +
    `<figcaption>${caption} <a href="${esc(href)}">${esc(basename(path))}</a></figcaption></figure>`
  );
}

function table(rows: [string, string][]): string {
  return `<table>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join('')}</table>`;
}

const CSS = `
body { font-family: "DejaVu Sans", system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1rem; margin: .5rem 0; } .sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; } th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: left; }
th { background: #f6f6f6; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; } figcaption { color: #555; font-size: .9rem; }
pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; font-size: .85rem; } nav a { margin-right: 1rem; }
`;

/** The summary of a run: its model and data, epochs, best accuracy, time, parameters. */
function summaryRows(
  config: Record<string, unknown> | null,
  metrics: MetricsRow[],
  inspection: Manifest | null,
): [string, string][] {
  const withVal = metrics.filter((m) => typeof m.valAccuracy === 'number');
  const best = withVal.reduce<MetricsRow | null>(
    (b, m) => (b === null || (m.valAccuracy as number) > (b.valAccuracy as number) ? m : b),
    null,
  );
  const seconds = metrics.reduce((s, m) => s + (typeof m.seconds === 'number' ? m.seconds : 0), 0);
  const summary: [string, string][] = [];
  if (config?.model !== undefined) summary.push(['model', esc(String(config.model))]);
  if (config?.modelOptions !== undefined)
    summary.push(['model options', `<code>${esc(JSON.stringify(config.modelOptions))}</code>`]);
  if (config?.data !== undefined) summary.push(['data', esc(String(config.data))]);
  summary.push(['epochs run', String(metrics.length)]);
  if (best)
    summary.push([
      'best validation accuracy',
      `${formatValue('valAccuracy', best.valAccuracy)} (epoch ${shownEpoch(best.epoch)})`,
    ]);
  if (seconds > 0) summary.push(['training time', `${seconds.toFixed(1)} s`]);
  if (typeof inspection?.parameters === 'number')
    summary.push(['parameters', inspection.parameters.toLocaleString('en-US')]);
  return summary;
}

/** The pictures and the operator table of an inspection. */
function inspectionParts(inspection: Manifest, reportDir: string): string[] {
  const images = inspection.images ?? {};
  const parts: string[] = [
    `<p class="sub">Checkpoint ${esc(String(inspection.checkpoint ?? '(model given)'))}` +
      `${inspection.image ? `, picture ${esc(String(inspection.image))}` : ', the default picture'}.</p>`,
  ];
  const img = (key: string, title: string, caption: string) => {
    const p = images[key];
    if (typeof p === 'string' && existsSync(p)) parts.push(figure(p, reportDir, title, caption));
  };
  img(
    'features',
    'Feature evolution through depth',
    'Hidden layers are the solution at intermediate times: a few channels ' +
      'of the state after each residual block (each block one or more time steps of the PDE), from the input (initial condition) down.',
  );
  img(
    'twistFields',
    'Learned twist: variable-coefficient vector fields',
    'For each twisted 3×3 operator, the first-order part of ' +
      'x·(Kx⋆u) + y·(Ky⋆u) is v·∇u with v(x, y) = M·(x, y): a rotation (ω), dilation (δ) and shear the layer can apply.',
  );
  img(
    'coordMix',
    'Learned coefficient fields (coordinate mix)',
    'The quadratic coefficient fields mix(1, x, y, x², xy, y²) that ' + 'multiply each depthwise operator.',
  );
  img(
    'operators',
    'Per-layer operator statistics',
    'Each 3×3 operator K splits into its self-adjoint part (K + K*)/2, which ' +
      'diffuses (changes ‖u‖), and its skew-adjoint part (K − K*)/2, which transports (keeps ‖u‖).',
  );
  const ops = inspection.operators ?? [];
  if (ops.length > 0) {
    const f = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toPrecision(3));
    parts.push(
      '<h3>Operators</h3><table><tr><th>layer</th><th>type</th><th>shape</th><th>‖K‖</th><th>‖(K+K*)/2‖ diffusion</th>' +
        '<th>‖(K−K*)/2‖ transport</th><th>‖Kx‖ twist</th></tr>' +
        ops
          .map(
            (o) =>
              `<tr><td>${esc(o.layer)}</td><td>${esc(o.type)}</td>` +
              `<td>${esc(o.shape.join('×'))}</td><td class="num">${f(o.norm)}</td><td class="num">${f(o.selfAdjoint)}</td>` +
              `<td class="num">${f(o.skewAdjoint)}</td><td class="num">${f(o.twistNorm)}</td></tr>`,
          )
          .join('') +
        '</table>',
    );
  }
  return parts;
}

/** The weight files of a run and their sizes, as an HTML table (null when there are none). */
function checkpointsTable(dir: string): string | null {
  const checkpointDir = join(dir, 'checkpoints');
  if (!existsSync(checkpointDir)) return null;
  const files = readdirSync(checkpointDir)
    .filter((f) => f.endsWith('.safetensors'))
    .sort();
  return files.length === 0
    ? null
    : table(
        files.map((f) => [f, `${(statSync(join(checkpointDir, f)).size / 1e6).toFixed(2)} MB`] as [string, string]),
      );
}

/**
 * Writes `<runDir>/report.html`: configuration, final and best metrics, the curves (drawn from
 * metrics.jsonl into `<runDir>/curves.png`) and the inspection pictures and tables (from `inspect.json` of
 * `inspectDir`, default `<runDir>/inspect`). Returns the report's path. Called at the end of
 * `pdenet train` and by {@link inspectCheckpoint}.
 */
export async function writeRunReport(runDir: string, options: ReportOptions = {}): Promise<string> {
  const dir = resolve(runDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new TorchError(`no run folder at ${runDir}`, 'writeRunReport');
  const outPath = resolve(options.outPath ?? join(dir, 'report.html'));
  const reportDir = dirname(outPath);
  const config = readJsonFile(runFile(dir, RUN_FILES.config)) as Record<string, unknown> | null;
  const metrics = readRunMetrics(dir);
  const inspectDir = resolve(options.inspectDir ?? join(dir, 'inspect'));
  const inspection = readJsonFile(join(inspectDir, 'inspect.json')) as Manifest | null;

  const sections: string[] = [];
  const nav: string[] = [];
  const name = basename(dir);

  const last = metrics.at(-1);
  const summary = summaryRows(config, metrics, inspection);
  sections.push(`<section id="summary"><h2>Summary</h2>${table(summary)}</section>`);
  nav.push('<a href="#summary">summary</a>');

  if (last) {
    const rows = Object.entries(last as object).map(
      ([k, v]) => [k, k === 'epoch' ? shownEpoch(v) : formatValue(k, v)] as [string, string],
    );
    sections.push(
      `<section id="metrics"><h2>Final metrics (epoch ${shownEpoch(last.epoch)})</h2>${table(rows)}</section>`,
    );
    nav.push('<a href="#metrics">final metrics</a>');
  }

  // Curves.
  if (metrics.length > 0 && options.curves !== false) {
    const curves = await plotCurves(metrics, join(dir, 'curves.png'));
    sections.push(
      `<section id="curves"><h2>Curves</h2>${figure(
        curves,
        reportDir,
        'Loss, accuracy and learning rate by epoch',
        'Training and validation loss and accuracy; the learning-rate schedule.',
      )}</section>`,
    );
    nav.push('<a href="#curves">curves</a>');
  }

  // Inspection.
  if (inspection !== null) {
    sections.push(
      `<section id="inspect"><h2>Inside the model</h2>${inspectionParts(inspection, reportDir).join('')}</section>`,
    );
    nav.push('<a href="#inspect">inside the model</a>');
  }

  // Configuration and files.
  if (config !== null) {
    sections.push(
      `<section id="config"><h2>Configuration</h2><pre>${esc(JSON.stringify(config, null, 2))}</pre></section>`,
    );
    nav.push('<a href="#config">configuration</a>');
  }
  const files = checkpointsTable(dir);
  if (files !== null) sections.push(`<section id="files"><h2>Checkpoints</h2>${files}</section>`);

  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pdenet run ${esc(name)}</title><style>${CSS}</style></head>
<body><h1>Run ${esc(name)}</h1><p class="sub">pdenet report · ${esc(new Date().toISOString().slice(0, 19).replace('T', ' '))} UTC</p>
<nav>${nav.join('')}</nav>
${sections.join('\n')}
</body></html>
`;
  mkdirSync(reportDir, { recursive: true });
  writeFileAtomic(outPath, [new TextEncoder().encode(html)], 'writeRunReport');
  return outPath;
}
