// Prometheus metrics of one server (prom-client). Each server owns its own Registry so that several
// servers in one process (the test cluster) do not collide; `serveMetrics` exposes it over HTTP.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, Counter, Gauge, collectDefaultMetrics } from 'prom-client';

export interface ServerMetrics {
  registry: Registry;
  /** Client sessions (MS) or enrolled MSs / online users (CRS) right now. */
  sessions: Gauge<'kind'>;
  /** Login attempts by result: ok, auth_failed, already_online, locked, unavailable, rate_limited. */
  logins: Counter<'result'>;
  /** LOCK requests refused because another login holds the lock (423) or the user is online (409). */
  lockContention: Counter<'result'>;
  /** Pushes sent, by method (PRESENCE, ADD, ANSWER, CONTACT, NOTICE). */
  pushes: Counter<'method'>;
  /** Error responses and notices sent, by Error-code. */
  errors: Counter<'code'>;
  /** Requests handled, by method. */
  requests: Counter<'method'>;
}

export function createMetrics(role: 'crs' | 'ms', opts: { defaultMetrics?: boolean } = {}): ServerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    sessions: new Gauge({
      name: 'imsp_sessions',
      help: 'Live sessions by kind (client, ms, online_users)',
      labelNames: ['kind'],
      registers,
    }),
    logins: new Counter({
      name: 'imsp_logins_total',
      help: 'Login attempts by result',
      labelNames: ['result'],
      registers,
    }),
    lockContention: new Counter({
      name: 'imsp_lock_contention_total',
      help: 'Lock requests refused: locked (423) or already online (409)',
      labelNames: ['result'],
      registers,
    }),
    pushes: new Counter({
      name: 'imsp_pushes_total',
      help: 'Pushes sent by method',
      labelNames: ['method'],
      registers,
    }),
    errors: new Counter({
      name: 'imsp_errors_total',
      help: 'Error responses and notices by Error-code',
      labelNames: ['code'],
      registers,
    }),
    requests: new Counter({
      name: 'imsp_requests_total',
      help: 'Requests handled by method',
      labelNames: ['method'],
      registers,
    }),
  };
}

export interface MetricsServer {
  /** host:port the endpoint listens on. */
  address: string;
  close(): Promise<void>;
}

/** What /readyz reports: ready, and each check by name (true, or why not). */
export interface Readiness {
  ready: boolean;
  checks: Record<string, true | string>;
}

/**
 * Serves, on host:port (port 0 picks a free port; loopback by default):
 * - GET /metrics: Prometheus text;
 * - GET /healthz: 200 while the process serves (liveness);
 * - GET /readyz: 200 when `ready()` says so (an MS: enrolled at the CRS; a CRS: its store open and
 *   answering), else 503; both with a JSON body naming each check.
 */
export async function serveMetrics(
  metrics: ServerMetrics,
  port: number,
  host = '127.0.0.1',
  ready?: () => Promise<Readiness> | Readiness,
): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }) + '\n');
      return;
    }
    if (req.method === 'GET' && path === '/readyz') {
      Promise.resolve()
        .then(() => (ready ? ready() : { ready: true, checks: {} }))
        .then(
          (r) =>
            res
              .writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' })
              .end(JSON.stringify({ status: r.ready ? 'ready' : 'not ready', checks: r.checks }) + '\n'),
          (e: unknown) =>
            res
              .writeHead(503, { 'content-type': 'application/json' })
              .end(JSON.stringify({ status: 'not ready', error: e instanceof Error ? e.message : String(e) }) + '\n'),
        );
      return;
    }
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/')) {
      res.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
