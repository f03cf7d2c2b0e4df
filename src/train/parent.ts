/**
 * A training's parent: a process that starts trainings as children in their own process group (`pdenet launch`,
 * `pdenet sweep`) gives them its pid in PDENET_PARENT_PID, and a child watching it stops as on SIGTERM (a
 * checkpoint, then exit) once the parent is gone — even when the parent was killed (SIGKILL) and could not
 * stop them itself, so no training is left running without it.
 * @module
 */
import { alive } from './run.js';

/** The variable that names a child's parent process. */
export const PARENT_PID_ENV = 'PDENET_PARENT_PID';

/** The variable a parent adds to its children's environment. */
export function parentEnv(): Record<string, string> {
  return { [PARENT_PID_ENV]: String(process.pid) };
}

/**
 * Calls `onGone` once when the parent named by PDENET_PARENT_PID has exited (this process's parent changes),
 * looking every `intervalMs` without keeping the process alive. Nothing is watched when the variable is unset,
 * or names a live process that is not this one's parent (it was passed on by the parent's environment). Returns
 * the function that stops watching.
 */
export function watchParent(
  onGone: (pid: number) => void,
  env: NodeJS.ProcessEnv = process.env,
  intervalMs = 500,
): () => void {
  const text = env[PARENT_PID_ENV];
  const pid = Number(text);
  if (text === undefined || !Number.isSafeInteger(pid) || pid <= 1) return () => {};
  if (process.ppid !== pid && alive(pid)) return () => {};
  let timer: NodeJS.Timeout | null = null;
  const look = () => {
    if (timer === null || process.ppid === pid) return;
    clearInterval(timer);
    timer = null;
    onGone(pid);
  };
  timer = setInterval(look, intervalMs);
  timer.unref();
  // Gone before this process started watching.
  if (process.ppid !== pid) setImmediate(look);
  return () => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };
}
