/**
 * A training's parent and its children. A process that starts trainings (`pdenet launch`, `pdenet sweep`) owns
 * them ({@link spawnOwned}): each runs in its own process group, so a terminal's Ctrl-C reaches the parent alone,
 * which decides how to stop them; the parent's pid is in their PDENET_PARENT_PID, and a child watching it
 * ({@link watchParent}) stops as on SIGTERM (a checkpoint, then exit) once the parent is gone — even when the
 * parent was killed (SIGKILL) and could not stop them itself; and a parent that exits first (process.exit, an
 * uncaught error) kills their process groups. No training is left running without its parent.
 * @module
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { alive } from './run.js';

/** The variable that names a child's parent process. */
export const PARENT_PID_ENV = 'PDENET_PARENT_PID';

/** The variable a parent adds to its children's environment. */
export function parentEnv(): Record<string, string> {
  return { [PARENT_PID_ENV]: String(process.pid) };
}

/**
 * This process's ancestors, its parent first, as far as /proc shows them (Linux); elsewhere its parent alone. An
 * ancestor that ends while they are read ends the list there.
 */
function ancestors(): number[] {
  const chain = [process.ppid];
  try {
    for (let pid = process.ppid; pid > 1 && chain.length < 256; chain.push(pid)) {
      // "pid (name) state ppid …"; the name may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    }
  } catch {
    // no /proc, or an ancestor ended meanwhile: the chain so far
  }
  return chain;
}

/**
 * Calls `onGone` once when the parent named by PDENET_PARENT_PID has exited, looking every `intervalMs` without
 * keeping the process alive. The parent may be this process's parent or a further ancestor (a worker started
 * through a wrapper, `pdenet launch --exec -- sh -c …`); it is gone when it is no longer among the ancestors.
 * Nothing is watched when the variable is unset, or names a live process that is not an ancestor (the variable
 * was passed on by an environment). Returns the function that stops watching.
 */
export function watchParent(
  onGone: (pid: number) => void,
  env: NodeJS.ProcessEnv = process.env,
  intervalMs = 500,
): () => void {
  const text = env[PARENT_PID_ENV];
  const pid = Number(text);
  if (text === undefined || !Number.isSafeInteger(pid) || pid <= 1) return () => {};
  const present = () => process.ppid === pid || ancestors().includes(pid);
  const there = present();
  if (!there && alive(pid)) return () => {};
  let timer: NodeJS.Timeout | null = null;
  const look = () => {
    if (timer === null || present()) return;
    clearInterval(timer);
    timer = null;
    onGone(pid);
  };
  timer = setInterval(look, intervalMs);
  timer.unref();
  // Gone before this process started watching.
  if (!there) setImmediate(look);
  return () => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };
}

/** The process groups of the owned children running now (each child leads its own). */
const ownedGroups = new Set<number>();

/** This process exits before its owned children: their process groups are killed. */
function killOwnedGroups(): void {
  for (const group of ownedGroups) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // the group has ended already
    }
  }
}

/**
 * Starts a child this process owns (see the module documentation): `spawn` with the child leading its own
 * process group and PDENET_PARENT_PID added to its environment (`options.env`, else this process's). Stopping it
 * is the caller's: `child.kill(signal)`.
 */
export function spawnOwned(
  command: string,
  args: readonly string[],
  options: Omit<SpawnOptions, 'detached'> = {},
): ChildProcess {
  const child = spawn(command, args, {
    ...options,
    detached: true,
    env: { ...(options.env ?? process.env), ...parentEnv() },
  });
  const group = child.pid;
  if (group === undefined) return child; // it did not start: its 'error' event says why
  if (ownedGroups.size === 0) process.on('exit', killOwnedGroups);
  ownedGroups.add(group);
  child.once('exit', () => {
    if (ownedGroups.delete(group) && ownedGroups.size === 0) process.off('exit', killOwnedGroups);
  });
  return child;
}
