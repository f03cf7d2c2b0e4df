/**
 * SVG to PNG with resvg (@resvg/resvg-js: a self-contained renderer, no browser), and the small SVG
 * pieces the pictures are composed of: text, embedded raster tiles, arrows.
 * @module
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Resvg as ResvgClass } from '@resvg/resvg-js';
import { decodePng, encodePng, pngDataUrl, type RGBAImage } from './image.js';

/** The font family every picture asks for (Debian's fonts-dejavu-core), with fallbacks. */
export const FONT_FAMILY = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';

const FONT_DIRS = [
  '/usr/share/fonts/truetype/dejavu',
  '/usr/share/fonts/truetype/liberation',
  '/usr/share/fonts/TTF',
  '/usr/local/share/fonts',
];

let fontFiles: string[] | null = null;
let resvgClass: typeof ResvgClass | null = null;

/** resvg's renderer, loaded on first use (a native addon: importing pdenet does not load it). */
function Resvg(): typeof ResvgClass {
  resvgClass ??= (createRequire(import.meta.url)('@resvg/resvg-js') as { Resvg: typeof ResvgClass }).Resvg;
  return resvgClass;
}

/** The font files handed to resvg: DejaVu (or Liberation) when installed; else resvg's scan of the system. */
function fonts(): string[] {
  if (fontFiles === null) {
    fontFiles = [];
    for (const dir of FONT_DIRS) {
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) {
        if (/^(DejaVuSans(-Bold)?|LiberationSans-(Regular|Bold))\.ttf$/.test(name)) fontFiles.push(join(dir, name));
      }
    }
  }
  return fontFiles;
}

/** Renders SVG text to PNG bytes (white background unless `background` says otherwise). */
export function svgToPng(svg: string, options: { scale?: number; background?: string } = {}): Buffer {
  const files = fonts();
  const resvg = new (Resvg())(svg, {
    background: options.background ?? 'white',
    fitTo: options.scale && options.scale !== 1 ? { mode: 'zoom', value: options.scale } : { mode: 'original' },
    font:
      files.length > 0
        ? { loadSystemFonts: false, fontFiles: files, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' }
        : { loadSystemFonts: true },
    imageRendering: 1, // optimizeSpeed: embedded rasters are scaled with nearest neighbour
    shapeRendering: 2,
    textRendering: 1,
  });
  return resvg.render().asPng();
}

/** Renders SVG text to an RGBA image. */
export function svgToImage(svg: string): RGBAImage {
  return decodePng(svgToPng(svg));
}

/** Escapes text for SVG and HTML. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** An SVG document of the given size with the children inside. */
export function svgDocument(width: number, height: number, children: string[], background = 'white'): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" ` +
    `height="${height}" viewBox="0 0 ${width} ${height}"><rect width="${width}" height="${height}" fill="${background}"/>` +
    `${children.join('')}</svg>`
  );
}

/** A text element. */
export function svgText(
  x: number,
  y: number,
  text: string,
  options: {
    size?: number;
    anchor?: 'start' | 'middle' | 'end';
    weight?: 'normal' | 'bold';
    fill?: string;
    rotate?: number;
  } = {},
): string {
  const { size = 12, anchor = 'start', weight = 'normal', fill = '#222', rotate } = options;
  const transform = rotate ? ` transform="rotate(${rotate} ${x} ${y})"` : '';
  return (
    `<text x="${x}" y="${y}" font-family="${FONT_FAMILY}" font-size="${size}" font-weight="${weight}" ` +
    `text-anchor="${anchor}" fill="${fill}"${transform}>${escapeXml(text)}</text>`
  );
}

/** A raster image placed at (x, y), drawn at its own size (or `width`×`height`) with crisp pixels. */
export function svgImage(image: RGBAImage, x: number, y: number, width = image.width, height = image.height): string {
  return (
    `<image x="${x}" y="${y}" width="${width}" height="${height}" preserveAspectRatio="none" ` +
    `style="image-rendering:pixelated" image-rendering="optimizeSpeed" xlink:href="${pngDataUrl(encodePng(image))}"/>`
  );
}

/** An arrow from (x0, y0) to (x1, y1) with a head of `head` pixels. */
export function svgArrow(
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  options: { stroke?: string; width?: number; head?: number } = {},
): string {
  const { stroke = 'white', width = 1.2, head = 4 } = options;
  const len = Math.hypot(x1 - x0, y1 - y0);
  if (len < 0.5)
    return `<circle cx="${x0.toFixed(2)}" cy="${y0.toFixed(2)}" r="${(width * 0.8).toFixed(2)}" fill="${stroke}"/>`;
  const [ux, uy] = [(x1 - x0) / len, (y1 - y0) / len];
  const h = Math.min(head, len * 0.6);
  const [bx, by] = [x1 - ux * h, y1 - uy * h];
  const [px, py] = [-uy * h * 0.5, ux * h * 0.5];
  const f = (v: number) => v.toFixed(2);
  return (
    `<line x1="${f(x0)}" y1="${f(y0)}" x2="${f(bx)}" y2="${f(by)}" stroke="${stroke}" stroke-width="${width}"/>` +
    `<polygon points="${f(x1)},${f(y1)} ${f(bx + px)},${f(by + py)} ${f(bx - px)},${f(by - py)}" fill="${stroke}"/>`
  );
}
