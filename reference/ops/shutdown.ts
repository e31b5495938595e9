// Graceful shutdown: on SIGTERM or SIGINT run the server's stop() once, with a deadline;
// a second signal, or the deadline passing, exits at once.
import type { Logger } from 'pino';

export interface ShutdownOptions {
  logger: Logger;
  /** Most ms the graceful stop may take before the process exits anyway. Default 10 s. */
  deadlineMs?: number;
  signals?: NodeJS.Signals[];
  /** Called instead of process.exit (tests). */
  exit?: (code: number) => void;
}

/** Installs the handlers; returns a function that removes them. */
export function onShutdown(stop: (signal: NodeJS.Signals) => Promise<void>, opts: ShutdownOptions): () => void {
  const signals = opts.signals ?? ['SIGTERM', 'SIGINT'];
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      opts.logger.warn({ signal }, 'second signal: exiting now');
      exit(1);
      return;
    }
    stopping = true;
    opts.logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      opts.logger.error('shutdown deadline passed: exiting');
      exit(1);
    }, opts.deadlineMs ?? 10_000);
    timer.unref();
    stop(signal).then(
      () => {
        clearTimeout(timer);
        opts.logger.info('stopped');
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        opts.logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}
