/**
 * Atomic file writes: a save either replaces the target completely or leaves it as it was.
 *
 * The bytes go to a temporary file in the target's directory (so the final rename stays on one
 * file system), which is flushed to disk with fsync and then renamed over the target; rename is
 * atomic on POSIX file systems, so a reader sees the old file or the new one, never a half-written
 * one, even if the process dies mid-save. On any error the temporary file is removed and an
 * existing target is untouched.
 * @module
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  openSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { TorchError } from '../tensor/errors.js';

/**
 * Writes the chunks `chunks` yields to `path`, atomically.
 *
 * `chunks` may be a generator that produces the bytes piece by piece (a tensor at a time), so a
 * large file is never held in memory at once; if it throws, the save is abandoned and the error
 * rethrown. If `path` is a symbolic link, the file it points to is replaced. The new file keeps the
 * permission bits of the file it replaces.
 *
 * @param op the operation named in errors, e.g. `saveSafetensors`
 * @throws TorchError when the file cannot be written or `chunks` throws: a TorchError from `chunks`
 *   as it is, any other error as the `cause` of one that names `path`
 */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>, op = 'writeFileAtomic'): void {
  let target = resolve(path);
  try {
    target = realpathSync(target);
  } catch {
    // no such file yet: write it where it was asked for
  }
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | null = null;
  let created = false;
  try {
    fd = openSync(temp, 'wx', 0o666);
    created = true;
    try {
      fchmodSync(fd, statSync(target).mode & 0o7777);
    } catch {
      // no previous file: keep the default permissions (0666 less the umask)
    }
    for (const chunk of chunks) {
      for (let done = 0; done < chunk.byteLength; ) done += writeSync(fd, chunk, done, chunk.byteLength - done);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(temp, target);
    created = false;
  } catch (e) {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    if (created) {
      try {
        unlinkSync(temp);
      } catch {
        // nothing more can be done; the original error is the one to report
      }
    }
    if (e instanceof TorchError) throw e;
    const error = new TorchError(`cannot write ${path}: ${(e as Error).message}`, op);
    (error as Error & { cause?: unknown }).cause = e;
    throw error;
  }
  syncDirectory(dir);
}

/** Makes the rename durable (a crash right after it keeps the new file); not every platform can. */
function syncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows and some file systems cannot fsync a directory; the rename has happened regardless
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
