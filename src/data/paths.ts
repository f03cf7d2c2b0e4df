/**
 * Where datasets and decoded caches live: the data directory.
 * @module
 */
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';

/**
 * The data directory: `flag` (the `--data` option) if given, else `PDENET_DATA`, else the user cache
 * directory (`$XDG_CACHE_HOME/pdenet`, by default `~/.cache/pdenet`).
 */
export function resolveDataDir(flag?: string | null): string {
  if (flag) return resolve(flag);
  if (process.env.PDENET_DATA) return resolve(process.env.PDENET_DATA);
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'pdenet');
}

/**
 * The default folder of decoded caches: `$XDG_CACHE_HOME/pdenet/decoded` (by default
 * `~/.cache/pdenet/decoded`). Not under the data directory: an image folder may sit on a read-only disk.
 */
export function defaultCacheDir(): string {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'pdenet', 'decoded');
}

/** A file name for the decoded cache of `source` (its base name and a hash of its absolute path and `variant`). */
export function cacheFileName(source: string, variant: string): string {
  const abs = resolve(source);
  const hash = createHash('sha256').update(`${abs}\n${variant}`).digest('hex').slice(0, 16);
  const name =
    basename(abs)
      .replace(/\.(tar\.gz|tgz|tar)$/i, '')
      .replace(/[^A-Za-z0-9._-]/g, '_') || 'dataset';
  return `${name}-${hash}.pdnimg`;
}
