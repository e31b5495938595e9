// What `imsp admin` can ask a running server (reference/ops/admin.ts carries it):
//   CRS: sessions (online users, the MS each is on, its status), ms (enrolled MSs), kick (says which MS)
//   MS:  sessions (its users, client address, status, since), ms (itself and its CRS link), kick USER
import type { CrsServer } from '../crs/crs.js';
import type { MsServer } from '../ms/ms.js';
import type { AdminHandlers } from './admin.js';
import type { Readiness } from './metrics.js';

/** Users scanned at most by a CRS `sessions` (the admin view of a large store is paged by the CLI's --limit). */
const CRS_SCAN_LIMIT = 100_000;

export interface SessionRow {
  user: string;
  ms: string;
  status: string;
  address?: string;
  since?: number;
}

export interface MsRow {
  msId: string;
  incarnation: number;
  listen: string;
  load: number;
  capacity: number;
  enrolledAt?: number;
  leaseExpiresAt?: number;
  crs?: string;
  enrolled?: boolean;
}

export function crsAdminHandlers(crs: CrsServer): AdminHandlers {
  return {
    async sessions(): Promise<SessionRow[]> {
      const out: SessionRow[] = [];
      let cursor: string | null = null;
      let scanned = 0;
      while (scanned < CRS_SCAN_LIMIT) {
        const page = await crs.store.listUsers(cursor, 500);
        if (page.length === 0) break;
        scanned += page.length;
        for (const name of page) {
          const u = await crs.store.getUser(name);
          if (u?.state.kind === 'online')
            out.push({ user: name, ms: u.state.msId, status: u.state.status, address: u.state.address });
          else if (u?.state.kind === 'locked') out.push({ user: name, ms: u.state.msId, status: 'logging-in' });
        }
        cursor = page[page.length - 1];
      }
      return out;
    },
    async ms(): Promise<MsRow[]> {
      return (await crs.store.listMs()).map((m) => ({
        msId: m.msId,
        incarnation: m.incarnation,
        listen: m.listen,
        load: m.load,
        capacity: m.capacity,
        enrolledAt: m.enrolledAt,
        leaseExpiresAt: m.leaseExpiresAt,
      }));
    },
    async kick(req) {
      if (!req.user) throw new Error('kick needs a user');
      const u = await crs.store.getUser(req.user);
      if (!u) throw new Error(`no user ${req.user}`);
      if (u.state.kind !== 'online') throw new Error(`${req.user} is not online`);
      // The CRS has no request that ends one session at an MS: the MS's own admin socket does it.
      throw new Error(
        `${req.user} is on MS ${u.state.msId}: run imsp admin --socket <that MS's admin socket> kick ${req.user}`,
      );
    },
  };
}

/** A CRS is ready when its store answers. */
export async function crsReadiness(crs: CrsServer): Promise<Readiness> {
  try {
    await crs.store.listMs();
    return { ready: true, checks: { store: true } };
  } catch (e) {
    return { ready: false, checks: { store: `store not answering: ${e instanceof Error ? e.message : String(e)}` } };
  }
}

/** An MS is ready when it is enrolled at the CRS (it refuses logins with 503 otherwise). */
export function msReadiness(ms: MsServer): Readiness {
  return ms.enrolled
    ? { ready: true, checks: { enrolled: true } }
    : { ready: false, checks: { enrolled: 'not enrolled at the CRS' } };
}

/** The session details an MS gives its admin (MsServer.adminSessions when it has it). */
interface MsAdminView {
  adminSessions?(): SessionRow[];
  kick?(user: string, reason?: string): boolean;
}

export function msAdminHandlers(ms: MsServer, crsAddress: string): AdminHandlers {
  const view = ms as MsServer & MsAdminView;
  return {
    sessions(): SessionRow[] {
      return view.adminSessions
        ? view.adminSessions()
        : ms.users().map((user) => ({ user, ms: ms.msId, status: 'online' }));
    },
    ms(): MsRow[] {
      return [
        {
          msId: ms.msId,
          incarnation: ms.incarnation,
          listen: ms.address,
          load: ms.load,
          capacity: ms.capacity,
          crs: crsAddress,
          enrolled: ms.enrolled,
        },
      ];
    },
    kick(req) {
      if (!req.user) throw new Error('kick needs a user');
      if (!view.kick) throw new Error('this MS cannot end sessions');
      if (!view.kick(req.user, 'ended by the operator')) throw new Error(`${req.user} has no session here`);
      return { user: req.user, kicked: true };
    },
  };
}
