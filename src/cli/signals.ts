/**
 * Stopping a long command gracefully: the first SIGINT, SIGTERM, SIGHUP or SIGQUIT aborts a controller (the work
 * stops at a checkpoint), a second one exits at once. A process started by `pdenet launch` or `pdenet sweep`
 * (PDENET_PARENT_PID) stops the same way when its parent is gone, however the parent ended.
 * @module
 */
import { watchParent } from '../train/parent.js';
import { EXIT_CODES } from '../train/trainer.js';

/** The signals that stop a command at a checkpoint (a terminal's Ctrl-C and Ctrl-\, a kill, a closed terminal). */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/**
 * Aborts `controller` on the first of {@link STOP_SIGNALS}, or when the parent named by PDENET_PARENT_PID has
 * exited, printing `what` (what happens now); a second signal exits with code 130. Returns the function that
 * removes the handlers.
 */
export function stopOnSignals(controller: AbortController, what: string): () => void {
  const stop = (why: string) => {
    console.error(`\n${why}: ${what}`);
    controller.abort();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(EXIT_CODES.signal);
    stop(signal);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  const unwatch = watchParent((pid) => {
    if (!controller.signal.aborted) stop(`the parent process ${pid} has exited`);
  });
  return () => {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
    unwatch();
  };
}
