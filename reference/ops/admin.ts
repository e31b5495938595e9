// The operators' admin channel of a reference server: a unix socket, mode 0600, in a directory
// only the server's user can enter (systemd's RuntimeDirectory, or the data directory). Access is
// the file system's: whoever may open the socket is the server's user (or root). It is local
// operations tooling, not part of IMSP: nothing crosses the network (spec Appendix A).
//
// One request per connection: a JSON line `{"cmd":"sessions"}` or `{"cmd":"kick","user":"bob"}`,
// answered by one JSON line `{"ok":true,"result":...}` or `{"ok":false,"error":"..."}`, then the
// server closes. A request is at most 4096 octets and must arrive within 5 s.
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from './log.js';

export const ADMIN_MAX_REQUEST = 4096;
export const ADMIN_TIMEOUT_MS = 5000;

export interface AdminRequest {
  cmd: string;
  user?: string;
}

export type AdminReply = { ok: true; result: unknown } | { ok: false; error: string };

/** One handler per command; a thrown Error becomes `{ok:false,error:message}`. */
export type AdminHandlers = Record<string, (req: AdminRequest) => Promise<unknown> | unknown>;

export class AdminError extends Error {}

export interface AdminServer {
  path: string;
  close(): Promise<void>;
}

function parseRequest(line: string): AdminRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new AdminError('request is not JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AdminError('request is not a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.cmd !== 'string' || !/^[a-z-]{1,32}$/.test(o.cmd)) throw new AdminError('cmd must be a command name');
  if (o.user !== undefined && (typeof o.user !== 'string' || o.user.length > 64))
    throw new AdminError('user must be a user name');
  return { cmd: o.cmd, ...(typeof o.user === 'string' ? { user: o.user } : {}) };
}

/**
 * Listens on `path` (a stale socket there is removed; any other file is refused), mode 0600, in a
 * directory created 0700 when missing.
 */
export async function serveAdmin(path: string, handlers: AdminHandlers, logger?: Logger): Promise<AdminServer> {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    const st = lstatSync(path);
    if (!st.isSocket()) throw new AdminError(`${path} exists and is not a socket`);
    unlinkSync(path);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') throw e;
  }
  const server: Server = createServer((sock: Socket) => {
    let buf = '';
    let done = false;
    sock.setEncoding('utf8');
    sock.setTimeout(ADMIN_TIMEOUT_MS, () => sock.destroy());
    sock.on('error', () => undefined);
    const reply = (r: AdminReply) => {
      done = true;
      sock.end(JSON.stringify(r) + '\n');
    };
    sock.on('data', (chunk: string) => {
      if (done) return;
      buf += chunk;
      if (buf.length > ADMIN_MAX_REQUEST)
        return reply({ ok: false, error: `request longer than ${ADMIN_MAX_REQUEST} octets` });
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      done = true;
      let req: AdminRequest;
      try {
        req = parseRequest(buf.slice(0, nl));
      } catch (e) {
        return reply({ ok: false, error: (e as Error).message });
      }
      const h = handlers[req.cmd];
      if (!h)
        return reply({ ok: false, error: `unknown command '${req.cmd}' (known: ${Object.keys(handlers).join(', ')})` });
      logger?.info(
        { event: 'admin', cmd: req.cmd, ...(req.user ? { user: req.user } : {}) },
        `admin command ${req.cmd}`,
      );
      Promise.resolve()
        .then(() => h(req))
        .then(
          (result) => reply({ ok: true, result }),
          (e: unknown) => reply({ ok: false, error: e instanceof Error ? e.message : String(e) }),
        );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // [admin] owner only: the socket's permissions are the channel's authentication
  chmodSync(path, 0o600);
  logger?.info({ socket: path }, 'admin socket listening');
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        try {
          unlinkSync(path);
        } catch {
          // gone already
        }
      }),
  };
}

/** Sends one admin request and returns the reply. */
export function adminRequest(path: string, req: AdminRequest, timeoutMs = ADMIN_TIMEOUT_MS): Promise<AdminReply> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    sock.setEncoding('utf8');
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new AdminError(`no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (c: string) => {
      buf += c;
      if (buf.length > 16 * 1024 * 1024) sock.destroy(new AdminError('answer too long'));
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
          ? new AdminError(`no server listens on ${path} (is it running with --admin-socket ${path}?)`)
          : e.code === 'EACCES'
            ? new AdminError(`permission denied on ${path}: run as the server's user (or root)`)
            : e,
      );
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as AdminReply);
      } catch {
        reject(new AdminError(`bad answer from ${path}`));
      }
    });
  });
}
