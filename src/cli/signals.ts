/**
 * Stopping a long command gracefully: the first SIGINT or SIGTERM aborts a controller (the work stops at a
 * checkpoint), a second one exits at once.
 * @module
 */
import { EXIT_CODES } from '../train/trainer.js';

/**
 * Aborts `controller` on the first SIGINT or SIGTERM, printing `what` (what happens now); a second signal exits
 * with code 130. Returns the function that removes the handlers.
 */
export function stopOnSignals(controller: AbortController, what: string): () => void {
  const stop = (signal: string) => {
    if (controller.signal.aborted) process.exit(EXIT_CODES.signal);
    console.error(`\n${signal}: ${what}`);
    controller.abort();
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  };
}
