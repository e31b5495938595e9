// Logging for the reference servers: pino JSON lines, pretty-printed when stdout is a terminal.
// Tests and embedded use pass `level: 'silent'` (or a ready logger) so nothing is printed.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export interface LogOptions {
  /** pino level; 'silent' turns logging off. Default 'info'. */
  level?: LevelWithSilent;
  /** Name bound into every line (`crs`, `ms:ms-1`). */
  name?: string;
  /** Force pretty output (default: when stdout is a TTY). */
  pretty?: boolean;
  /** Write JSON lines here instead of stdout (tests). */
  destination?: NodeJS.WritableStream;
}

/** Creates the logger of one server. Secrets are never passed to the logger; `redact` is a second net. */
export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const base = {
    level,
    name: opts.name,
    redact: {
      paths: ['password', 'msKey', '*.password', '*.msKey', 'proof', 'storedKey', 'serverKey'],
      censor: '[redacted]',
    },
  };
  if (opts.destination) return pino(base, opts.destination as pino.DestinationStream);
  const pretty = opts.pretty ?? (process.stdout.isTTY === true && level !== 'silent');
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  return pino(base);
}

/** A logger that prints nothing (the default for servers embedded in tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
