// `imsp crs` and `imsp ms`: run the reference servers. Options come from flags, IMSP_* environment
// variables and an optional --config JSON file (in that order of precedence; see reference/ops/config.ts).
// The listening address is printed on stdout as `listening HOST:PORT` (so scripts can use --port 0),
// then `metrics HOST:PORT` when --metrics-port is given (0 picks a free port there too);
// logs are JSON lines on stderr (pretty when stderr is a terminal).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Command, CommanderError } from 'commander';
import type { LevelWithSilent } from 'pino';
import { addOptions, resolveOptions, ConfigError, type OptionDef } from '../ops/config.js';
import { resolveLimits } from '../proto/limits.js';
import { createLogger } from '../ops/log.js';
import { createMetrics, serveMetrics, type Readiness } from '../ops/metrics.js';
import { serveAdmin, type AdminServer } from '../ops/admin.js';
import { crsAdminHandlers, crsReadiness, msAdminHandlers, msReadiness } from '../ops/admin-handlers.js';
import { onShutdown } from '../ops/shutdown.js';
import { CrsServer } from '../crs/crs.js';
import { MsServer } from '../ms/ms.js';
import { decodeMsKeyFile, looseMode, MsKeyFileError } from './key.js';
import { DEFAULT_SQLITE_PATH } from '../store/store.js';
import { openStore } from '../store/index.js';

const COMMON: OptionDef[] = [
  { key: 'host', flags: '--host <host>', type: 'string', help: 'address to listen on', default: '127.0.0.1' },
  {
    key: 'msKeyFile',
    flags: '--ms-key-file <path>',
    type: 'string',
    help: 'file holding the shared MS key (base64 or base64url, at least 32 octets; `imsp key generate FILE` makes one, mode 0600)',
  },
  { key: 'tlsCert', flags: '--tls-cert <path>', type: 'string', help: 'serve TLS with this certificate (PEM)' },
  { key: 'tlsKey', flags: '--tls-key <path>', type: 'string', help: 'private key of --tls-cert (PEM)' },
  {
    // 0 picks a free port, as --port 0 does; off is the default and the way to override a config file
    key: 'metricsPort',
    flags: '--metrics-port <port|off>',
    type: 'string',
    help: 'Prometheus /metrics, /healthz and /readyz on this port (0 picks a free one; its address is printed as `metrics HOST:PORT`); off when not given or "off"',
  },
  {
    key: 'metricsHost',
    flags: '--metrics-host <host>',
    type: 'string',
    help: 'address of the metrics endpoint',
    default: '127.0.0.1',
  },
  {
    key: 'adminSocket',
    flags: '--admin-socket <path>',
    type: 'string',
    help: 'serve `imsp admin` on this unix socket (mode 0600; its directory is created 0700); off when not given',
  },
  {
    key: 'logLevel',
    flags: '--log-level <level>',
    type: 'string',
    help: 'trace, debug, info, warn, error, fatal or silent',
    default: 'info',
  },
];

/** --metrics-port: a TCP port (0 picks a free one), or undefined (off) when not given or "off". */
export function metricsPortOf(v: unknown): number | undefined {
  if (v === undefined || v === 'off') return undefined;
  const s = String(v).trim();
  if (!/^[0-9]{1,5}$/.test(s) || Number(s) > 65535)
    throw new ConfigError(`metricsPort must be a port from 0 to 65535, or off; got ${JSON.stringify(v)}`);
  return Number(s);
}

export const CRS_OPTIONS: OptionDef[] = [
  { key: 'port', flags: '--port <port>', type: 'int', help: 'TCP port (0 picks a free one)', default: 7000 },
  {
    key: 'store',
    flags: '--store <path|url>',
    type: 'string',
    help: 'SQLite file (WAL mode) or postgres://user@host:port/db',
    default: DEFAULT_SQLITE_PATH,
  },
  // [PERSIST-4] full: a reported change survives an OS crash or power loss; normal (WAL, synchronous=NORMAL):
  // it survives a CRS process crash or restart, the last commits before an OS crash may be lost
  {
    key: 'durability',
    flags: '--durability <level>',
    type: 'string',
    choices: ['full', 'normal'],
    help: "SQLite commit durability: full syncs the WAL at every commit; normal survives a CRS crash or restart but not an OS crash or power loss (PostgreSQL: the server's synchronous_commit)",
    default: 'full',
  },
  ...COMMON,
];

export const MS_OPTIONS: OptionDef[] = [
  {
    key: 'port',
    flags: '--port <port>',
    type: 'int',
    help: 'TCP port for clients (0 picks a free one)',
    default: 7100,
  },
  { key: 'crs', flags: '--crs <host:port>', type: 'string', help: 'address of the CRS', default: '127.0.0.1:7000' },
  {
    key: 'msId',
    flags: '--ms-id <id>',
    type: 'string',
    help: "this MS's name, unique among enrolled MSs (default: hostname-port)",
  },
  { key: 'capacity', flags: '--capacity <n>', type: 'int', help: 'most client sessions', default: 1000 },
  {
    key: 'advertise',
    flags: '--advertise <host:port>',
    type: 'string',
    help: 'address given to clients by LOCATE (default: the listening address)',
  },
  { key: 'crsTls', flags: '--crs-tls', type: 'bool', help: 'connect to the CRS over TLS', default: false },
  {
    key: 'crsTlsCa',
    flags: '--crs-tls-ca <path>',
    type: 'string',
    help: 'CA certificate (PEM) to verify the CRS with (implies --crs-tls)',
  },
  ...COMMON,
];

function need(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${what} is required`);
  return v;
}

/** Entry point: argv[0] is 'crs' or 'ms'. Resolves with the exit status once the server has stopped. */
export async function run(argv: string[]): Promise<number> {
  const [which, ...rest] = argv;
  if (which !== 'crs' && which !== 'ms') {
    process.stderr.write(`imsp: expected 'crs' or 'ms', got '${which ?? ''}'\n`);
    return 2;
  }
  const cmd = new Command(`imsp ${which}`)
    .description(which === 'crs' ? 'Run the Central Repository Server.' : 'Run a Messaging Server.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  addOptions(cmd, which === 'crs' ? CRS_OPTIONS : MS_OPTIONS);
  try {
    cmd.parse(rest, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 || e.code === 'commander.helpDisplayed' ? 0 : 2;
    throw e;
  }
  let stopper: (() => Promise<void>) | null = null;
  let address = '';
  try {
    const { values: v, limits: limitOverrides } = resolveOptions(
      which === 'crs' ? CRS_OPTIONS : MS_OPTIONS,
      cmd.opts(),
    );
    const limits = resolveLimits(limitOverrides);
    const level = String(v.logLevel) as LevelWithSilent;
    const logger = createLogger({
      level,
      name: which,
      destination: process.stderr.isTTY ? undefined : process.stderr,
      pretty: process.stderr.isTTY === true,
    });
    const msKey = readMsKeyFile(need(v.msKeyFile, '--ms-key-file (or IMSP_MS_KEY_FILE)'), logger);
    const tlsOpts =
      v.tlsCert || v.tlsKey
        ? { cert: readFileSync(need(v.tlsCert, '--tls-cert')), key: readFileSync(need(v.tlsKey, '--tls-key')) }
        : undefined;
    const metrics = createMetrics(which, { defaultMetrics: true });
    const metricsPort = metricsPortOf(v.metricsPort);
    // /readyz asks the server started below; until then it is not ready
    let readiness: () => Promise<Readiness> | Readiness = () => ({ ready: false, checks: { started: 'starting' } });
    const metricsServer =
      metricsPort !== undefined
        ? await serveMetrics(metrics, metricsPort, String(v.metricsHost), () => readiness())
        : null;
    if (metricsServer)
      logger.info({ address: metricsServer.address }, 'metrics endpoint (/metrics, /healthz, /readyz)');
    const adminPath = typeof v.adminSocket === 'string' && v.adminSocket !== '' ? v.adminSocket : undefined;
    let admin: AdminServer | undefined;
    if (which === 'crs') {
      // The store enforces the configured limits too (maxContacts, maxBlocked, maxPendingAdds, ...).
      const store = await openStore(String(v.store), {
        limits,
        durability: v.durability === 'normal' ? 'normal' : 'full',
      });
      const crs = await CrsServer.start({
        store,
        msKey,
        host: String(v.host),
        port: Number(v.port),
        tls: tlsOpts,
        limits,
        logger,
        metrics,
      });
      readiness = () => crsReadiness(crs);
      stopper = async () => {
        await admin?.close();
        await crs.close();
        await store.close();
        await metricsServer?.close();
      };
      if (adminPath) admin = await serveAdmin(adminPath, crsAdminHandlers(crs), logger);
      address = crs.address;
    } else {
      const ca = v.crsTlsCa ? readFileSync(String(v.crsTlsCa)) : undefined;
      const crsTls = v.crsTls || ca ? { ca, rejectUnauthorized: ca !== undefined } : undefined;
      const ms = await MsServer.start({
        crs: String(v.crs),
        msKey,
        msId:
          typeof v.msId === 'string' && v.msId ? v.msId : `${hostname().replace(/[^A-Za-z0-9._-]/g, '-')}-${v.port}`,
        capacity: Number(v.capacity),
        host: String(v.host),
        port: Number(v.port),
        advertise: typeof v.advertise === 'string' ? v.advertise : undefined,
        crsTls,
        tls: tlsOpts,
        limits,
        logger,
        metrics,
      });
      readiness = () => msReadiness(ms);
      stopper = async () => {
        await admin?.close();
        await ms.stop('SIGTERM');
        await metricsServer?.close();
      };
      if (adminPath) admin = await serveAdmin(adminPath, msAdminHandlers(ms, String(v.crs)), logger);
      address = ms.address;
    }
    const stop = stopper;
    // The signal handlers go in before `listening` is printed: whoever reads that line may signal at
    // once (a service manager, a test), and on a busy machine that can come before our next statement.
    let exited!: (code: number) => void;
    const done = new Promise<number>((resolve) => (exited = resolve));
    onShutdown(() => stop(), { logger, exit: exited });
    // `listening` stays the first line: scripts that read one line keep working
    process.stdout.write(`listening ${address}\n${metricsServer ? `metrics ${metricsServer.address}\n` : ''}`);
    return await done;
  } catch (e) {
    if (e instanceof ConfigError || (e instanceof Error && 'code' in e && (e as { code: unknown }).code === 'ENOENT')) {
      process.stderr.write(`imsp ${which}: ${e.message}\n`);
      await stopper?.();
      return 2;
    }
    process.stderr.write(`imsp ${which}: ${e instanceof Error ? e.message : String(e)}\n`);
    await stopper?.();
    return 1;
  }
}

/**
 * Reads the MS key file: the key as base64url text on one line, at least 32 octets; anything else
 * (raw key octets above all) stops the server at start with a message naming the file and the
 * format, instead of failing every enrollment later with ERR_AUTH_FAILED [ENROLL-14].
 */
export function readMsKeyFile(path: string, logger?: { warn(o: object, m: string): void }): Buffer {
  const text = readFileSync(path, 'utf8');
  let key: Buffer;
  try {
    key = decodeMsKeyFile(text);
  } catch (e) {
    if (!(e instanceof MsKeyFileError)) throw e;
    throw new ConfigError(`--ms-key-file ${path}: ${e.message} [ENROLL-14]`);
  }
  // [ENROLL-16] a key others can read is reported
  const loose = looseMode(path);
  if (loose) logger?.warn({ event: 'key_file_mode', file: path }, `MS key file ${loose}`);
  return key;
}
