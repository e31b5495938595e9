// The rules of the spec that are not in spec/machines, as the Promela processes of the model
// (issue 18): the CRS, each MS, each client, the lease timer and the invariant monitor. Every state
// change of a machine goes through the <P>_step inline generated from its JSON (steps.ts); the
// code here does each transition's effects (messages, stored fields), keyed by transition name.
//
// Abstractions (each one stated in generated/model/README.md): crypto is gone (every proof and
// seal verifies, a handshake is one message), addresses and keys are the presence status, time is
// nondeterministic (a lease may run out at any moment, a timer fires when enabled), counters are
// bounded by the configuration's budgets, and one message on a channel is one TCP segment in order.
import type { ModelConfig } from './configs.js';

const FAULT_FLAGS = ['crash', 'ms-lease', 'vanish', 'crs-restart', 'hang'] as const;

function flag(kind: string): string {
  return `F_${kind.replace(/-/g, '_').toUpperCase()}`;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** One #if block per configuration: sizes, budgets, the client table and the invariants unrolled. */
export function configBlock(c: ModelConfig): string {
  const L: string[] = [];
  L.push(`#if CFG == ${c.id} /* ${c.name}: ${c.text} */`);
  L.push(`#define CFG_NAME "${c.name}"`);
  L.push(`#define NMS ${c.ms}`);
  L.push(`#define NU ${c.users}`);
  L.push(`#define NC ${c.clients.length}`);
  L.push(`#define INIT_BUDDIES ${c.buddies ? 1 : 0}`);
  const def = (n: string, v: number): void => {
    L.push(`#ifndef ${n}`, `#define ${n} ${v}`, '#endif');
  };
  def('LOGINS', c.logins);
  def('RECONNECTS', c.faults > 0 ? 1 : 0);
  def('NSTATUS', c.status);
  def('NLOGOUT', c.logouts);
  def('NOPS', c.contactOps);
  def('FAULTS', c.faults);
  for (const k of FAULT_FLAGS) def(flag(k), c.kinds.includes(k) ? 1 : 0);
  def('F_LOCK_LEASE', c.lockLease ? 1 : 0);
  L.push('inline init_clients() {');
  c.clients.forEach((cl, i) =>
    L.push(`  cu[${i}] = ${cl.user}; cm[${i}] = ${cl.ms}; clientOf[${cl.ms * c.users + cl.user}] = ${i};`),
  );
  L.push('}');
  // INV-1: at most one MS with a live link holds an active session for a user.
  const inv1 = range(c.users).map((u) => {
    const terms = range(c.ms).map(
      (m) => `(ss[${m * c.users + u}] == CS_active && me[${m}] == ME_enrolled && cinc[${m}] == minc[${m}] -> 1 : 0)`,
    );
    return `((${terms.join(' + ')}) <= 1)`;
  });
  L.push(`#define INV1 (${inv1.join(' && ')})`);
  // INV-9: buddy relations are mutual.
  const inv9: string[] = [];
  for (const x of range(c.users))
    for (const y of range(c.users))
      if (x < y) inv9.push(`((rel[${x * c.users + y}] == BR_buddy) == (rel[${y * c.users + x}] == BR_buddy))`);
  L.push(`#define INV9 (${inv9.length > 0 ? inv9.join(' && ') : '1'})`);
  // Quiet: nothing in flight on any link, no client between the 200 to PROOF and loading its bundle.
  const quiet: string[] = [];
  for (const m of range(c.ms)) quiet.push(`len(m2c[${m}]) == 0`, `len(c2m[${m}]) == 0`);
  for (const i of range(c.clients.length)) quiet.push(`len(up[${i}]) == 0`, `loading[${i}] == 0`);
  L.push(`#define QUIET (${quiet.join(' && ')})`);
  // INV-3 and INV-4 at quiet, for every client in session.
  const conv: string[] = [];
  c.clients.forEach((cl, i) => {
    const u = cl.user;
    const per: string[] = [];
    for (const v of range(c.users)) {
      if (v === u) continue;
      per.push(`cview[${i * c.users + v}] == EXPECT(${u}, ${v})`);
    }
    conv.push(`(cs[${i}] != CV_active || (${per.length > 0 ? per.join(' && ') : '1'}))`);
  });
  L.push(`#define CONVERGED (${conv.join(' && ')})`);
  const adds: string[] = [];
  c.clients.forEach((cl, i) => {
    const u = cl.user;
    const per: string[] = [];
    for (const v of range(c.users)) {
      if (v === u) continue;
      per.push(`(!DELIVERABLE(${v}, ${u}) || (cin[${i}] & (1 << ${v})) != 0 || (unblk[${i}] & (1 << ${v})) != 0)`);
    }
    adds.push(`(cs[${i}] != CV_active || (${per.length > 0 ? per.join(' && ') : '1'}))`);
  });
  L.push(`#define ADDS_DELIVERED (${adds.join(' && ')})`);
  // Liveness propositions for INV-2 (user 0): a lock is held; a record is held for a session that no longer exists.
  L.push('#define LOCKED0 (rec[0] == UR_locked)');
  L.push('#define ORPHAN0 (rec[0] != UR_offline && !SESSION_LIVE(0))');
  L.push('#endif');
  return L.join('\n');
}

/** The processes. Written once; sizes come from the configuration block. */
export const PROCESSES = String.raw`
/* ================================ declarations ================================ */
#ifndef QCRS
#define QCRS 6
#endif
#ifndef QMS
#define QMS 8
#endif
#ifndef QUP
#define QUP 3
#endif
#ifndef QDOWN
#define QDOWN 6
#endif
#define IX(a, b) ((a) * NU + (b))
#define me_up 1   /* login-allowed: capacity, and the CRS link is up (an MS re-enrolls at once) */
#define NOTO 255
#define ANY_INC 255
#define OFF 0
#define ON 1
#define AWAY 2
#define BIT(v) (1 << (v))

mtype = {
  mENROLL, mLINK_CLOSED, mLOCK, mUNLOCK, mONLINE, mOFFLINE, mSTATUS, mADD, mANSWER, mREM, mBLOCK,
  rLOCK_OK, rLOCK_REFUSED, rONLINE_OK, rSTALE, pPRESENCE, pCONTACT, pADD, pANSWER, xLINK_CLOSED,
  cLOGIN, cPROOF, cLOGOUT, cSTATUS, cADD, cANSWER, cREM, cBLOCK, cCLOSED,
  dCHALLENGE, dREFUSED, dACCEPTED, dPRESENCE, dCONTACT, dADD, dANSWER, dNOTICE_END, dCLOSED, dLOGOUT_OK
};

/* Links: one FIFO channel per TCP connection direction; nothing orders two channels. */
chan m2c[NMS] = [QCRS] of { mtype, byte, byte, byte, byte, int };  /* MS -> CRS: kind, incarnation, user, a, b, c */
chan c2m[NMS] = [QMS] of { mtype, byte, byte, byte, byte, int };   /* CRS -> MS: kind, incarnation, user, a, b, c */
chan up[NC] = [QUP] of { mtype, byte, byte, byte };                /* client -> MS: kind, connection, a, b */
chan cq[NC] = [8] of { mtype, byte, byte, int };                   /* pushes a client keeps until its bundle is applied (PRESENCE-9) */

/* CRS: user records (12.4), buddy relations (12.6), enrollments (12.1). */
byte rec[NU]; byte ep[NU]; byte hm[NU]; byte hi[NU]; bool lexp[NU]; byte pst[NU]; byte pseq[NU];
byte rel[NU * NU];
byte me[NMS]; byte cinc[NMS];
byte faults = FAULTS;
/* Ghosts: the live grant of each user (INV-8), records held for no session (INV-2). */
byte g_ep[NU]; byte g_m[NU]; byte g_i[NU]; bool g_live[NU]; bool orphan[NU];
/* MS: incarnation, client sessions (12.2) with epoch, connection and the copy of the buddy list. */
byte minc[NMS]; byte ss[NMS * NU]; byte sep[NMS * NU]; byte scn[NMS * NU]; byte mbud[NMS * NU];
/* Clients: connection machine (12.3), connection number, budgets, the view. */
byte cu[NC]; byte cm[NC]; byte clientOf[NMS * NU];
byte cs[NC]; byte ccn[NC]; byte logins[NC]; byte reconn[NC]; byte nstat[NC]; byte nlogout[NC]; byte nops[NC]; byte cst[NC];
byte cview[NC * NU]; byte cseq[NC * NU]; byte cbud[NC]; byte cin[NC]; byte unblk[NC]; bool hung[NC];
bool loading[NC]; int pending[NC];

/* RECONNECT: a client whose session the MS or the CRS ended logs in again (8.5), once in the model. */
#define RECONNECT(c) if :: reconn[c] > 0 -> reconn[c]--; logins[c]++ :: else -> skip fi
#define FENCED(u, m, i, e) ((e) == ep[u] && hm[u] == (m) && hi[u] == (i))
#define ONLINE_AT(u) (rec[u] == UR_online && me[hm[u]] == ME_enrolled && cinc[hm[u]] == hi[u])
#define VISIBLE(u, v) (rel[IX(u, v)] == BR_buddy && rec[v] == UR_online)
#define EXPECT(u, v) (VISIBLE(u, v) -> pst[v] : OFF)
/* The MS session the record of u is held for still exists (INV-2: otherwise the record is orphaned). */
#define SESSION_LIVE(u) (minc[hm[u]] == hi[u] && me[hm[u]] == ME_enrolled && (ss[IX(hm[u], u)] == CS_locking || ((ss[IX(hm[u], u)] == CS_challenged || ss[IX(hm[u], u)] == CS_onlining || ss[IX(hm[u], u)] == CS_active) && sep[IX(hm[u], u)] == ep[u])))
#define DELIVERABLE(x, y) (rel[IX(x, y)] == BR_pending && rel[IX(y, x)] != BR_blocked)

/* The bundle (8.1.1) of user u, packed: buddy bits 0-2, incoming ADD bits 3-5, presence 2 bits per
   user from bit 6, presence sequence 4 bits per user from bit 12. */
#define B_BUD(b, v) (((b) >> (v)) & 1)
#define B_IN(b, v) (((b) >> (3 + (v))) & 1)
#define B_ST(b, v) (((b) >> (6 + 2 * (v))) & 3)
#define B_SEQ(b, v) (((b) >> (12 + 4 * (v))) & 15)

/* INV-8: a write on behalf of (m, i) with epoch e is done only for the live grant. */
#define INV8(u, m, i, e) assert(g_live[u] && g_ep[u] == (e) && g_m[u] == (m) && g_i[u] == (i))
#define INV8_HOLDER(u, m, i, e) assert(g_ep[u] == (e) && g_m[u] == (m) && g_i[u] == (i))

/* ================================ CRS ================================ */

inline push_all(kind, uu, aa, bb, cc) {
  w = 0;
  do
  :: w < NMS ->
     if
     :: me[w] == ME_enrolled -> printf("@ CRS MS%d PRESENCE User=u%d Status=%d\n", w, uu, aa); c2m[w]!kind, cinc[w], uu, aa, bb, cc
     :: else -> skip
     fi;
     w++
  :: else -> break
  od;
  w = 0
}

inline push_to(uu, kind, aa, bb, cc) {
  if
  :: ONLINE_AT(uu) -> q = hm[uu]; c2m[q]!kind, hi[uu], uu, aa, bb, cc; q = 0
  :: else -> skip
  fi
}

/* PRESENCE To: target about user (BLOCK-2). */
inline presence_to(target, about) {
  if
  :: ONLINE_AT(target) -> q = hm[target]; c2m[q]!pPRESENCE, hi[target], about, OFF, target, pseq[about]; q = 0
  :: else -> skip
  fi
}

inline presence_changed(uu) {
#if PRESENCE_SEQ
  pseq[uu] = (pseq[uu] + 1) % 16;
#endif
  push_all(pPRESENCE, uu, pst[uu], NOTO, pseq[uu])
}

/* CONTACT To: owner about contact, with the relation of the (owner, contact) instance. */
inline contact_to(owner, contact) {
  if :: ONLINE_AT(owner) -> printf("@ CRS MS%d CONTACT To=u%d User=u%d Relation=%d\n", hm[owner], owner, contact, rel[IX(owner, contact)]) :: else -> skip fi;
  e = EXPECT(owner, contact);
  e = e | (pseq[contact] << 2);
  push_to(owner, pCONTACT, contact, rel[IX(owner, contact)], e);
  e = 0
}

inline bundle(uu) {
  bb = 0; w = 0;
  do
  :: w < NU ->
     if
     :: w != uu ->
        if :: rel[IX(uu, w)] == BR_buddy -> bb = bb | BIT(w) :: else -> skip fi;
#ifndef MUT_BUNDLE_WITHOUT_ADDS
        if :: DELIVERABLE(w, uu) -> bb = bb | BIT(3 + w) :: else -> skip fi;
#endif
        bb = bb | (EXPECT(uu, w) << (6 + 2 * w)) | (pseq[w] << (12 + 4 * w))
     :: else -> skip
     fi;
     w++
  :: else -> break
  od;
  w = 0
}

inline end_record(uu) {
  hm[uu] = 0; hi[uu] = 0; lexp[uu] = 0; g_live[uu] = 0; orphan[uu] = 0
}

/* LOCK-9: every lock and session of the enrollment (m, i) ends. */
inline ms_gone(mm, ii) {
  v = 0;
  do
  :: v < NU ->
     if
     :: rec[v] != UR_offline && hm[v] == mm && hi[v] == ii ->
        UR_step(rec[v], UR_E_MS_GONE, lexp[v], 0, nx, tid);
        rec[v] = nx;
        if
        :: tid == UR_T_ms_gone_online -> pst[v] = OFF; end_record(v); presence_changed(v)
        :: tid == UR_T_ms_gone_locked -> end_record(v)
        :: else -> skip
        fi
     :: else -> skip
     fi;
     v++
  :: else -> break
  od;
  v = 0
}

/* A GRANT on instance (owner, contact); pushes go to the owner. */
inline br_grant(owner, contact) {
  BR_step(rel[IX(owner, contact)], BR_E_GRANT, rel[IX(contact, owner)] == BR_blocked, rel[IX(contact, owner)] == BR_pending, nx2, tid2);
  rel[IX(owner, contact)] = nx2;
  if
  :: tid2 == BR_T_granted -> if :: ONLINE_AT(owner) -> printf("@ CRS MS%d ANSWER To=u%d From=u%d Decision=grant\n", hm[owner], owner, contact) :: else -> skip fi; push_to(owner, pANSWER, contact, 1, 0); contact_to(owner, contact)
  :: tid2 == BR_T_grant -> contact_to(owner, contact)
  :: else -> skip
  fi
}

inline crs_request() {
  if
  :: k == mENROLL ->
     if
     :: me[m] == ME_enrolled ->   /* ENROLL-7: the older incarnation is superseded */
        ME_step(me[m], ME_E_SUPERSEDED, 0, 1, nx, tid); me[m] = nx; ms_gone(m, cinc[m])
     :: else -> skip
     fi;
     me[m] = ME_idle;   /* a new connection: the handshake (ENROLL, 300, PROOF, 200) in one step */
     ME_step(me[m], ME_E_ENROLL, 0, 1, nx, tid); me[m] = nx;
     ME_step(me[m], ME_E_PROOF, 0, 1, nx, tid); me[m] = nx;
     cinc[m] = i
  :: k == mLINK_CLOSED ->
     if
     :: me[m] == ME_enrolled && cinc[m] == i -> ME_step(me[m], ME_E_CLOSED, 0, 1, nx, tid); me[m] = nx; ms_gone(m, i)
     :: else -> skip
     fi
  :: else ->
  if
  :: me[m] != ME_enrolled || cinc[m] != i -> skip   /* sent on a connection that is closed: never arrives */
  :: else ->
  ME_step(me[m], ME_E_REQUEST, 0, 1, nx, tid); me[m] = nx;   /* HB-4: renews the MS lease */
  if
  :: k == mLOCK ->   /* a = connection */
     UR_step(rec[u], UR_E_LOCK, lexp[u], 0, nx, tid);
     if
     :: tid == UR_T_lock || tid == UR_T_relock_expired ->
        rec[u] = nx; ep[u]++; hm[u] = m; hi[u] = i; lexp[u] = 0;
        g_ep[u] = ep[u]; g_m[u] = m; g_i[u] = i; g_live[u] = 1; orphan[u] = 0;
        printf("@ CRS MS%d 200 LOCK User=u%d Epoch=%d\n", m, u, ep[u]);
        c2m[m]!rLOCK_OK, i, u, a, ep[u], 0
     :: else ->
        if :: rec[u] == UR_online -> printf("@ CRS MS%d 409 LOCK User=u%d\n", m, u) :: else -> printf("@ CRS MS%d 423 LOCK User=u%d\n", m, u) fi;
        c2m[m]!rLOCK_REFUSED, i, u, a, 0, 0
     fi
  :: k == mONLINE ->   /* a = epoch, b = connection, c = status */
     UR_step(rec[u], UR_E_ONLINE, lexp[u], FENCED(u, m, i, a) && !lexp[u], nx, tid);
     if
     :: tid == UR_T_online ->
        INV8(u, m, i, a);
        rec[u] = nx; pst[u] = c;
        presence_changed(u);
        bundle(u);
        printf("@ CRS MS%d 200 ONLINE User=u%d (bundle)\n", m, u);
        c2m[m]!rONLINE_OK, i, u, b, a, bb; bb = 0
     :: else ->
        rec[u] = nx;
        printf("@ CRS MS%d 410 ONLINE User=u%d Epoch=%d\n", m, u, a);
        c2m[m]!rSTALE, i, u, b, 0, 0
     fi
  :: k == mUNLOCK ->   /* a = epoch */
     UR_step(rec[u], UR_E_UNLOCK, lexp[u], FENCED(u, m, i, a), nx, tid);
     if
     :: tid == UR_T_unlock -> INV8_HOLDER(u, m, i, a); rec[u] = nx; end_record(u)   /* the holder may give back its own expired lock: as the sweep would */
     :: else -> skip   /* 410, or 200 with no change (LOCK-8): nothing the MS acts on */
     fi
  :: k == mOFFLINE ->   /* a = epoch */
     UR_step(rec[u], UR_E_OFFLINE, lexp[u], FENCED(u, m, i, a), nx, tid);
     if
     :: tid == UR_T_offline -> INV8(u, m, i, a); rec[u] = nx; pst[u] = OFF; end_record(u); presence_changed(u)
     :: else -> skip
     fi
  :: k == mSTATUS ->   /* a = epoch, b = connection, c = status */
     UR_step(rec[u], UR_E_STATUS, lexp[u], FENCED(u, m, i, a), nx, tid);
     if
     :: tid == UR_T_status -> INV8(u, m, i, a); pst[u] = c; presence_changed(u)
     :: else -> printf("@ CRS MS%d 410 STATUS User=u%d\n", m, u); c2m[m]!rSTALE, i, u, b, 0, 0
     fi
  :: else ->   /* ADD, ANSWER, REM, BLOCK: From = u, a = epoch, b = the other user, c = connection + 256 * decision */
     if
     :: !(rec[u] == UR_online && FENCED(u, m, i, a)) ->   /* LOCK-6 */
        printf("@ CRS MS%d 410 %e From=u%d\n", m, k, u);
        c2m[m]!rSTALE, i, u, c % 256, 0, 0
     :: else ->
        INV8(u, m, i, a);
        x = b;
        if
        :: k == mADD ->
           BR_step(rel[IX(u, x)], BR_E_ADD, rel[IX(x, u)] == BR_blocked, rel[IX(x, u)] == BR_pending, nx, tid);
           rel[IX(u, x)] = nx;
           if
           :: tid == BR_T_add ->
              if
              :: ONLINE_AT(x) -> printf("@ CRS MS%d ADD From=u%d To=u%d\n", hm[x], u, x); push_to(x, pADD, u, 0, 0)
              :: else -> skip   /* 202 Stored: delivered in the bundle (ADD-3) */
              fi
           :: tid == BR_T_add_crossing -> br_grant(x, u); contact_to(u, x)
           :: else -> skip   /* add-withheld (202), add-pending, add-buddy, add-blocked: no push */
           fi
        :: k == mANSWER ->
           if
           :: rel[IX(x, u)] != BR_pending || rel[IX(u, x)] == BR_blocked -> skip   /* ADD-9: 404 ERR_NO_PENDING (also for an ADD withheld by the answerer's block) */
           :: else ->
              if
              :: c / 256 == 1 -> br_grant(x, u); br_grant(u, x)
              :: else ->
                 BR_step(rel[IX(x, u)], BR_E_DENY, rel[IX(u, x)] == BR_blocked, rel[IX(u, x)] == BR_pending, nx, tid);
                 rel[IX(x, u)] = nx;
                 if
                 :: tid == BR_T_denied -> if :: ONLINE_AT(x) -> printf("@ CRS MS%d ANSWER To=u%d From=u%d Decision=deny\n", hm[x], x, u) :: else -> skip fi; push_to(x, pANSWER, u, 0, 0)
                 :: else -> skip
                 fi
              fi
           fi
        :: k == mREM ->
           BR_step(rel[IX(u, x)], BR_E_REM, rel[IX(x, u)] == BR_blocked, rel[IX(x, u)] == BR_pending, nx, tid);
           rel[IX(u, x)] = nx;
           if
           :: tid == BR_T_remove ->
              contact_to(u, x);
              BR_step(rel[IX(x, u)], BR_E_PEER_REM, rel[IX(u, x)] == BR_blocked, rel[IX(u, x)] == BR_pending, nx2, tid2);
              rel[IX(x, u)] = nx2;
              if :: tid2 == BR_T_removed -> contact_to(x, u) :: else -> skip fi
           :: tid == BR_T_rem_blocked || tid == BR_T_unblock ->
              contact_to(u, x);
              if :: clientOf[IX(hm[u], u)] != 255 -> unblk[clientOf[IX(hm[u], u)]] = unblk[clientOf[IX(hm[u], u)]] | BIT(x) :: else -> skip fi
           :: else -> skip   /* withdraw (REM-3), or 404 ERR_NOT_CONTACT */
           fi
        :: k == mBLOCK ->
           BR_step(rel[IX(u, x)], BR_E_BLOCK, rel[IX(x, u)] == BR_blocked, rel[IX(x, u)] == BR_pending, nx, tid);
           if
           :: tid == BR_T_block ->
              rel[IX(u, x)] = nx;
              if :: ONLINE_AT(x) -> printf("@ CRS MS%d PRESENCE To=u%d User=u%d Status=0\n", hm[x], x, u) :: else -> skip fi;
              presence_to(x, u);
              BR_step(rel[IX(x, u)], BR_E_PEER_BLOCK, rel[IX(u, x)] == BR_blocked, rel[IX(u, x)] == BR_pending, nx2, tid2);
              rel[IX(x, u)] = nx2;
              if
              :: tid2 == BR_T_blocked_while_buddy -> contact_to(x, u)
              :: tid2 == BR_T_blocked_while_pending -> if :: ONLINE_AT(x) -> printf("@ CRS MS%d ANSWER To=u%d From=u%d Decision=deny\n", hm[x], x, u) :: else -> skip fi; push_to(x, pANSWER, u, 0, 0)
              :: else -> skip
              fi;
              contact_to(u, x)   /* BLOCK-2: CONTACT Relation blocked to the sender */
           :: else -> skip
           fi
        :: else -> skip
        fi;
        x = 0
     fi
  fi
  fi
  fi
}

/* PERSIST-2: the CRS restarts over its store: no MS enrolled, every record offline with its epoch. */
inline crs_restart() {
  printf("@ CRS CRS FAULT restart over the store\n");
  v = 0;
  do
  :: v < NU -> rec[v] = UR_offline; pst[v] = OFF; end_record(v); v++
  :: else -> break
  od;
  v = 0;
  w = 0;
  do
  :: w < NMS ->
     me[w] = ME_ended;
     do :: m2c[w]?k, i, u, a, b, c :: empty(m2c[w]) -> break od;
     c2m[w]!xLINK_CLOSED, ANY_INC, 0, 0, 0, 0;
     w++
  :: else -> break
  od;
  w = 0
}

inline crs_clear() {
  k = mENROLL; m = 0; i = 0; u = 0; a = 0; b = 0; c = 0; v = 0; w = 0; x = 0; nx = 0; tid = 0; nx2 = 0; tid2 = 0; bb = 0
}

proctype CRS() {
  mtype k; byte m, i, u, a, b, v, w, x, q, nx, tid, nx2, tid2; int c, bb, e;
end:
  do
  :: atomic {
       if
       :: m2c[0]?k, i, u, a, b, c -> m = 0
#if NMS > 1
       :: m2c[1]?k, i, u, a, b, c -> m = 1
#endif
#if NMS > 2
       :: m2c[2]?k, i, u, a, b, c -> m = 2
#endif
       fi;
       crs_request(); crs_clear() }
  :: atomic { faults > 0 && F_CRS_RESTART -> faults--; crs_restart(); crs_clear() }
  /* HB-4: an MS paused (or cut off) past msLease: its enrollment ends while it still runs. */
  :: atomic { faults > 0 && F_MS_LEASE && me[0] == ME_enrolled -> faults--; m = 0;
       printf("@ CRS MS0 FAULT msLease ran out\n");
       ME_step(me[m], ME_E_LEASE_EXPIRED, 0, 1, nx, tid); me[m] = nx; ms_gone(m, cinc[m]); c2m[m]!xLINK_CLOSED, cinc[m], 0, 0, 0, 0; crs_clear() }
#if NMS > 1
  :: atomic { faults > 0 && F_MS_LEASE && me[1] == ME_enrolled -> faults--; m = 1;
       printf("@ CRS MS1 FAULT msLease ran out\n");
       ME_step(me[m], ME_E_LEASE_EXPIRED, 0, 1, nx, tid); me[m] = nx; ms_gone(m, cinc[m]); c2m[m]!xLINK_CLOSED, cinc[m], 0, 0, 0, 0; crs_clear() }
#endif
  od
}

/* The lock lease (lockLease) as time: it may run out at any moment; then the CRS's sweep ends it. */
inline lease_runs_out(uu) {
  lexp[uu] = 1; g_live[uu] = 0; printf("@ CRS CRS TIME lockLease of u%d ran out\n", uu)
}

inline lock_sweep(uu) {
  UR_step(rec[uu], UR_E_LOCK_EXPIRED, lexp[uu], 0, nx, tid);
  if :: tid == UR_T_lock_expired -> rec[uu] = nx; end_record(uu); printf("@ CRS CRS TIME lock of u%d expired\n", uu) :: else -> skip fi;
  nx = 0; tid = 0
}

proctype Timer() {
  byte nx, tid;
end:
  do
${'@@TIMER_BRANCHES@@'}
  od
}

/* ================================ client ================================ */

inline view_clear(dc) {
  dw = 0;
  do
  :: dw < NU -> cview[IX(dc, dw)] = OFF; cseq[IX(dc, dw)] = 0; dw++
  :: else -> break
  od;
  dw = 0; cbud[dc] = 0; cin[dc] = 0; unblk[dc] = 0; loading[dc] = 0; pending[dc] = 0; cst[dc] = 0;
  do :: cq[dc]?_, _, _, _ :: empty(cq[dc]) -> break od
}

/* Loading the bundle into the contact list. */
inline load_bundle(dc, bd) {
  dw = 0;
  do
  :: dw < NU ->
     if
     :: dw != cu[dc] ->
@@LOAD_RULE@@
        if :: B_IN(bd, dw) -> cin[dc] = cin[dc] | BIT(dw) :: else -> skip fi
     :: else -> skip
     fi;
     dw++
  :: else -> break
  od;
  dw = 0
}

/* A push applied to the client's view (9.1, 9.1.1, 9.5). */
inline apply_push(dc, dk, dv, da, db) {
  if
  :: dk == dPRESENCE ->
     if
     :: (cbud[dc] & BIT(dv)) != 0 -> cview[IX(dc, dv)] = da   /* PRESENCE-7 */
     :: else -> skip   /* PRESENCE-11: not a buddy in the view */
     fi
  :: dk == dCONTACT ->   /* a CONTACT always applies */
     if :: da == BR_buddy -> cbud[dc] = cbud[dc] | BIT(dv) :: else -> cbud[dc] = cbud[dc] & (7 - BIT(dv)) fi;
     cview[IX(dc, dv)] = db & 3
  :: dk == dADD -> cin[dc] = cin[dc] | BIT(dv)
  :: else -> skip
  fi
}

/* A message from the MS arrives at client dc (the MS -> client link delivers at once; see README). */
inline deliver(dc, dk, dv, da, db) {
  if
  :: cs[dc] == CV_ended -> skip   /* the connection is closed */
  :: dk == dCHALLENGE ->
     CV_step(cs[dc], CV_E_CHALLENGE, 1, 1, dnx, dtid); cs[dc] = dnx;
     if :: dtid == CV_T_challenge -> up[dc]!cPROOF, ccn[dc], ON, 0 :: else -> skip fi
  :: dk == dREFUSED ->
     CV_step(cs[dc], CV_E_REFUSED, 1, 1, dnx, dtid); cs[dc] = dnx;
     skip   /* 423/409: may log in again; 401/503: the MS closed the connection */
  :: dk == dACCEPTED ->
     CV_step(cs[dc], CV_E_ACCEPTED, 1, 1, dnx, dtid); cs[dc] = dnx;
     if
     :: dtid == CV_T_accepted ->
        cst[dc] = ON;
@@ACCEPT_RULE@@
     :: dtid == CV_T_logout_done -> view_clear(dc)
     :: else -> skip
     fi
  :: dk == dLOGOUT_OK ->
     CV_step(cs[dc], CV_E_ACCEPTED, 1, 1, dnx, dtid); cs[dc] = dnx;
     if :: cs[dc] == CV_ended -> view_clear(dc) :: else -> skip fi
  :: (dk == dPRESENCE || dk == dCONTACT || dk == dADD) && cs[dc] == CV_active ->
@@PRESENCE_RULE@@
  :: dk == dANSWER -> skip
  :: dk == dNOTICE_END ->
     CV_step(cs[dc], CV_E_NOTICE_END, 1, 1, dnx, dtid); cs[dc] = dnx;
     if :: dtid == CV_T_session_ended -> view_clear(dc); RECONNECT(dc) :: else -> skip fi
  :: dk == dCLOSED ->
     CV_step(cs[dc], CV_E_CLOSED, 1, 1, dnx, dtid);
     cs[dc] = CV_ended; view_clear(dc); RECONNECT(dc)   /* closed before the session: the connection is gone too */
  :: else -> skip
  fi
}


/* ================================ MS ================================ */

/* MS -> client: queued during the step, delivered at its end in order (deliver_all). */
inline to_client(uu, kind, aa, bb, cc) {
  cl = clientOf[IX(m, uu)];
  if :: scn[IX(m, uu)] == ccn[cl] -> dq!cl, kind, aa, bb, cc :: else -> skip fi;   /* only to the client's current connection */
  cl = 0
}

inline deliver_all() {
  do
  :: dq?dcl, dk, dv, da, db -> deliver(dcl, dk, dv, da, db)
  :: empty(dq) -> break
  od;
  dcl = 0; dk = dCLOSED; dv = 0; da = 0; db = 0
}

/* ENROLL-12: the CRS link is lost: end every session, enroll again with a higher incarnation. */
inline ms_link_lost() {
  printf("@ MS%d MS%d CRS link closed: sessions end, enroll again\n", m, m);
  u = 0;
  do
  :: u < NU ->
     s = IX(m, u);
     if
     :: ss[s] == CS_active ->
        CS_step(ss[s], CS_E_SESSION_LOST, 1, 1, 1, nx, tid); ss[s] = nx; mbud[s] = 0;
        printf("@ MS%d u%d NOTICE Error-code=ERR_SESSION_ENDED\n", m, u);
        to_client(u, dNOTICE_END, 0, 0, 0)
     :: ss[s] == CS_locking || ss[s] == CS_challenged || ss[s] == CS_onlining ->
        ss[s] = CS_ended; to_client(u, dCLOSED, 0, 0, 0)
     :: else -> skip
     fi;
     u++
  :: else -> break
  od;
  u = 0;
  minc[m]++;
  m2c[m]!mENROLL, minc[m], 0, 0, 0, 0
}

inline ms_crs_message() {
  if
  :: i != minc[m] && i != ANY_INC -> skip   /* for an older incarnation's link */
  :: k == xLINK_CLOSED -> ms_link_lost()
  :: else ->
  s = IX(m, u);
  if
  :: k == rLOCK_OK ->   /* a = connection, b = epoch */
     if
     :: ss[s] == CS_locking && scn[s] == a ->
        CS_step(ss[s], CS_E_LOCK_GRANTED, 1, 1, 1, nx, tid); ss[s] = nx; sep[s] = b;
        printf("@ MS%d u%d 300 Challenge\n", m, u);
        to_client(u, dCHALLENGE, 0, 0, 0)
     :: else -> printf("@ MS%d CRS UNLOCK User=u%d Epoch=%d (client gone)\n", m, u, b); m2c[m]!mUNLOCK, minc[m], u, b, 0, 0   /* LOGIN-9 */
     fi
  :: k == rLOCK_REFUSED ->
     if
     :: ss[s] == CS_locking && scn[s] == a ->
        CS_step(ss[s], CS_E_LOCK_REFUSED, 1, 1, 1, nx, tid); ss[s] = nx;
        printf("@ MS%d u%d 423 LOGIN (or 409)\n", m, u);
        to_client(u, dREFUSED, 0, 0, 0)
     :: else -> skip
     fi
  :: k == rONLINE_OK ->   /* a = connection, b = epoch, c = bundle */
     if
     :: ss[s] == CS_onlining && scn[s] == a ->
        CS_step(ss[s], CS_E_ONLINE_OK, 1, 1, 1, nx, tid); ss[s] = nx;
        mbud[s] = c & 7;   /* LOGIN-13: the MS keeps the contact list */
        printf("@ MS%d u%d 200 PROOF (bundle)\n", m, u);
        to_client(u, dACCEPTED, 0, 0, c)
     :: else ->   /* the session ended while ONLINE was in flight */
        CS_step(CS_ended, CS_E_ONLINE_OK, 1, 1, 1, nx, tid);
        if
${'@@LATE_ONLINE@@'}
        :: else -> skip
        fi
     fi
  :: k == rSTALE ->   /* a = connection */
     if
     :: ss[s] == CS_active && scn[s] == a ->
        CS_step(ss[s], CS_E_SESSION_LOST, 1, 1, 1, nx, tid); ss[s] = nx; mbud[s] = 0;
        printf("@ MS%d u%d NOTICE Error-code=ERR_SESSION_ENDED\n", m, u);
        to_client(u, dNOTICE_END, 0, 0, 0)
     :: ss[s] == CS_onlining && scn[s] == a ->
        CS_step(ss[s], CS_E_ONLINE_FAILED, 1, 1, 1, nx, tid); ss[s] = nx;
        printf("@ MS%d u%d 503 PROOF\n", m, u);
        to_client(u, dREFUSED, 0, 0, 0)
     :: else -> skip
     fi
  :: k == pPRESENCE ->   /* about u; a = status, b = To (NOTO: every buddy), c = sequence */
     x = 0;
     do
     :: x < NU ->
        if
        :: ss[IX(m, x)] == CS_active && ((b == NOTO && (mbud[IX(m, x)] & BIT(u)) != 0) || b == x) ->   /* PRESENCE-4 */
           printf("@ MS%d u%d PRESENCE User=u%d Status=%d\n", m, x, u, a);
           to_client(x, dPRESENCE, u, a, c)
        :: else -> skip
        fi;
        x++
     :: else -> break
     od;
     x = 0
  :: k == pCONTACT ->   /* To u; a = contact, b = relation, c = status | sequence << 2 */
     if
     :: ss[s] == CS_active ->
#ifndef MUT_MS_IGNORES_CONTACT
        if :: b == BR_buddy -> mbud[s] = mbud[s] | BIT(a) :: else -> mbud[s] = mbud[s] & (7 - BIT(a)) fi;   /* CONTACT-1 */
#endif
        printf("@ MS%d u%d CONTACT User=u%d Relation=%d\n", m, u, a, b);
        to_client(u, dCONTACT, a, b, c)
     :: else -> skip
     fi
  :: k == pADD ->
     if :: ss[s] == CS_active -> printf("@ MS%d u%d ADD From=u%d\n", m, u, a); to_client(u, dADD, a, 0, 0) :: else -> skip fi
  :: k == pANSWER ->
     if :: ss[s] == CS_active -> printf("@ MS%d u%d ANSWER From=u%d Decision=%d\n", m, u, a, b); to_client(u, dANSWER, a, b, 0) :: else -> skip fi
  :: else -> skip
  fi
  fi
}

inline ms_client_message() {   /* from client cl of user u: kind k, connection a, then b, x */
  s = IX(m, u);
  if
  :: k == cLOGIN && (ss[s] == CS_ended || ss[s] == CS_idle) ->
     ss[s] = CS_idle; scn[s] = a;   /* a new connection: a new instance of the machine */
     CS_step(ss[s], CS_E_LOGIN, me_up, 1, 1, nx, tid); ss[s] = nx;
     if
     :: tid == CS_T_login -> printf("@ MS%d CRS LOCK User=u%d\n", m, u); m2c[m]!mLOCK, minc[m], u, a, 0, 0
     :: else -> printf("@ MS%d u%d 503 LOGIN\n", m, u); to_client(u, dREFUSED, 0, 0, 0)
     fi
  :: scn[s] != a || ss[s] == CS_ended -> skip   /* an old connection's message */
  :: k == cPROOF ->
     CS_step(ss[s], CS_E_PROOF, 1, 1, 1, nx, tid); ss[s] = nx;
     if
     :: tid == CS_T_proof_ok -> printf("@ MS%d CRS ONLINE User=u%d Epoch=%d\n", m, u, sep[s]); m2c[m]!mONLINE, minc[m], u, sep[s], a, b
     :: else -> skip
     fi
  :: k == cLOGOUT ->
     CS_step(ss[s], CS_E_LOGOUT, 1, 1, 1, nx, tid); ss[s] = nx;
     if
     :: tid == CS_T_logout ->
        mbud[s] = 0;
        printf("@ MS%d CRS OFFLINE User=u%d Epoch=%d\n", m, u, sep[s]); m2c[m]!mOFFLINE, minc[m], u, sep[s], 0, 0;
        to_client(u, dLOGOUT_OK, 0, 0, 0)
     :: else -> skip
     fi
  :: k == cCLOSED ->
     y = ss[s];
     CS_step(ss[s], CS_E_CLOSED, 1, 1, 1, nx, tid); ss[s] = nx; mbud[s] = 0;
     if
     :: tid == CS_T_handshake_closed && (y == CS_challenged || y == CS_onlining) ->   /* LOGIN-9 */
        printf("@ MS%d CRS UNLOCK User=u%d Epoch=%d\n", m, u, sep[s]); m2c[m]!mUNLOCK, minc[m], u, sep[s], 0, 0
     :: tid == CS_T_closed ->   /* LOGOUT-3 */
        printf("@ MS%d CRS OFFLINE User=u%d Epoch=%d\n", m, u, sep[s]); m2c[m]!mOFFLINE, minc[m], u, sep[s], 0, 0
     :: else -> skip
     fi;
     y = 0
  :: else ->   /* STATUS, ADD, ANSWER, REM, BLOCK: a request in session (AUTH-10: From and Epoch from the session) */
     CS_step(ss[s], CS_E_REQUEST, 1, 1, 1, nx, tid);
     if
     :: tid == CS_T_request ->
        if
        :: k == cSTATUS -> printf("@ MS%d CRS STATUS User=u%d Status=%d\n", m, u, b); m2c[m]!mSTATUS, minc[m], u, sep[s], a, b
        :: k == cADD -> printf("@ MS%d CRS ADD From=u%d To=u%d\n", m, u, b); m2c[m]!mADD, minc[m], u, sep[s], b, a
        :: k == cANSWER -> printf("@ MS%d CRS ANSWER From=u%d To=u%d Decision=%d\n", m, u, b, x); m2c[m]!mANSWER, minc[m], u, sep[s], b, a + 256 * x
        :: k == cREM -> printf("@ MS%d CRS REM From=u%d User=u%d\n", m, u, b); m2c[m]!mREM, minc[m], u, sep[s], b, a
        :: k == cBLOCK -> printf("@ MS%d CRS BLOCK From=u%d User=u%d\n", m, u, b); m2c[m]!mBLOCK, minc[m], u, sep[s], b, a
        :: else -> skip
        fi
     :: else -> skip   /* 425 ERR_OUT_OF_STATE */
     fi
  fi
}

/* The MS process crashes and starts again: its connections close, it enrolls with a new incarnation. */
inline ms_crash() {
  printf("@ MS%d MS%d FAULT crash and restart\n", m, m);
  u = 0;
  do
  :: u < NU ->
     s = IX(m, u);
     cl = clientOf[s];
     if
     :: cl != 255 ->
        do :: up[cl]?k, a, b, x :: empty(up[cl]) -> break od;
        if :: ss[s] != CS_ended && ss[s] != CS_idle && scn[s] == ccn[cl] -> dq!cl, dCLOSED, 0, 0, 0 :: else -> skip fi
     :: else -> skip
     fi;
     ss[s] = CS_ended; sep[s] = 0; mbud[s] = 0;
     u++
  :: else -> break
  od;
  u = 0; cl = 0;
  do :: c2m[m]?k, i, u, a, b, c :: empty(c2m[m]) -> break od;
  m2c[m]!mLINK_CLOSED, minc[m], 0, 0, 0, 0;
  minc[m]++;
  m2c[m]!mENROLL, minc[m], 0, 0, 0, 0
}

inline ms_clear() {
  k = mENROLL; i = 0; u = 0; a = 0; b = 0; c = 0; x = 0; y = 0; s = 0; cl = 0; nx = 0; tid = 0
}

proctype MS(byte m) {
  mtype k, dk; byte i, u, a, b, x, y, s, cl, nx, tid, dw, dnx, dtid, dcl, dv, da; int c, db;
  chan dq = [6] of { byte, mtype, byte, byte, int };
end:
  do
  :: atomic { c2m[m]?k, i, u, a, b, c -> ms_crs_message(); deliver_all(); ms_clear() }
${'@@CLIENT_BRANCHES@@'}
  :: atomic { faults > 0 && F_CRASH -> faults--; ms_crash(); deliver_all(); ms_clear() }
  :: atomic { faults > 0 && F_HANG && ${'@@HANGABLE@@'} -> faults--;   /* a login handler hangs; the link stays up */
       u = 0;
       do
       :: u < NU -> if :: ss[IX(m, u)] == CS_challenged && clientOf[IX(m, u)] != 255 -> break :: else -> u++ fi
       :: else -> break
       od;
       s = IX(m, u); ss[s] = CS_ended; hung[clientOf[s]] = 1;
       printf("@ MS%d MS%d FAULT login handler of u%d hangs\n", m, m, u);
       ms_clear() }
  od
}

inline pick_other() {   /* v := some user other than this client's */
  if
  :: cu[c] != 0 -> v = 0
  :: cu[c] != 1 -> v = 1
  :: NU > 2 && cu[c] != 2 -> v = 2
  fi
}

inline client_clear() {
  v = 0; nx = 0; tid = 0
}

proctype Client(byte c) {
  byte v, nx, tid, dw, qv, qa; mtype qk; int qb;
end:
  do
  :: atomic { cs[c] == CV_connected && logins[c] > 0 ->
       CV_step(cs[c], CV_E_SEND_LOGIN, 1, 1, nx, tid); cs[c] = nx; logins[c]--;
       printf("@ c%d MS%d LOGIN User=u%d\n", c, cm[c], cu[c]);
       up[c]!cLOGIN, ccn[c], 0, 0; client_clear() }
  :: atomic { cs[c] == CV_active && loading[c] -> loading[c] = 0; printf("@ c%d c%d key blob open: the bundle is applied\n", c, c); load_bundle(c, pending[c]); pending[c] = 0;
       do   /* PRESENCE-9: then every push kept meanwhile, in the order received */
       :: cq[c]?qk, qv, qa, qb -> apply_push(c, qk, qv, qa, qb)
       :: empty(cq[c]) -> break
       od;
       qk = dCLOSED; qv = 0; qa = 0; qb = 0; client_clear() }
  :: atomic { cs[c] == CV_active && nlogout[c] > 0 -> nlogout[c]--;
       CV_step(cs[c], CV_E_SEND_LOGOUT, 1, 1, nx, tid); cs[c] = nx;
       printf("@ c%d MS%d LOGOUT\n", c, cm[c]);
       up[c]!cLOGOUT, ccn[c], 0, 0; client_clear() }
  :: atomic { cs[c] == CV_active && nstat[c] > 0 -> nstat[c]--;
       cst[c] = (cst[c] == ON -> AWAY : ON);
       printf("@ c%d MS%d STATUS Status=%d\n", c, cm[c], cst[c]);
       up[c]!cSTATUS, ccn[c], cst[c], 0; client_clear() }
  :: atomic { cs[c] == CV_active && nops[c] > 0 -> nops[c]--; pick_other();
       if
       :: printf("@ c%d MS%d ADD To=u%d\n", c, cm[c], v); up[c]!cADD, ccn[c], v, 0
       :: printf("@ c%d MS%d ANSWER User=u%d Decision=grant\n", c, cm[c], v); up[c]!cANSWER, ccn[c], v, 1; cin[c] = cin[c] & (7 - BIT(v))
       :: printf("@ c%d MS%d ANSWER User=u%d Decision=deny\n", c, cm[c], v); up[c]!cANSWER, ccn[c], v, 0; cin[c] = cin[c] & (7 - BIT(v))
       :: printf("@ c%d MS%d REM User=u%d\n", c, cm[c], v); up[c]!cREM, ccn[c], v, 0
       :: printf("@ c%d MS%d BLOCK User=u%d\n", c, cm[c], v); up[c]!cBLOCK, ccn[c], v, 0; cin[c] = cin[c] & (7 - BIT(v))
       fi;
       client_clear() }
  :: atomic { faults > 0 && F_VANISH && (cs[c] == CV_active || cs[c] == CV_login_sent || cs[c] == CV_proof_sent) -> faults--;
       printf("@ c%d MS%d FAULT client vanishes (connection closed)\n", c, cm[c]);
       up[c]!cCLOSED, ccn[c], 0, 0; cs[c] = CV_ended; view_clear(c); client_clear() }
  :: atomic { hung[c] && (cs[c] == CV_login_sent || cs[c] == CV_proof_sent) ->
       CV_step(cs[c], CV_E_TIMEOUT, 1, 1, nx, tid); cs[c] = nx; hung[c] = 0;
       printf("@ c%d MS%d TIMEOUT handshakeTimeout\n", c, cm[c]);
       up[c]!cCLOSED, ccn[c], 0, 0; view_clear(c); client_clear() }
  :: atomic { cs[c] == CV_ended && logins[c] > 0 -> cs[c] = CV_connected; ccn[c]++ }
  od
}

/* ================================ invariants ================================ */

active proctype Monitor() {
end:
  do
  :: atomic { !(INV1) -> printf("@ CRS CRS VIOLATION INV-1\n"); assert(INV1) }
  :: atomic { !(INV9) -> printf("@ CRS CRS VIOLATION INV-9\n"); assert(INV9) }
  :: atomic { QUIET && !(CONVERGED) -> printf("@ CRS CRS VIOLATION INV-3\n"); assert(CONVERGED) }
  :: atomic { QUIET && !(ADDS_DELIVERED) -> printf("@ CRS CRS VIOLATION INV-4\n"); assert(ADDS_DELIVERED) }
  od
}

/* INV-2 under weak fairness (pan -a -f): every lock ends; every record held for a gone session ends. */
ltl inv2_lock { [] (LOCKED0 -> <> !LOCKED0) }
ltl inv2_orphan { [] (ORPHAN0 -> <> !ORPHAN0) }

init {
  byte j;
  atomic {
    init_clients();
    j = 0;
    do
    :: j < NC -> logins[j] = LOGINS; reconn[j] = RECONNECTS; nstat[j] = NSTATUS; nlogout[j] = NLOGOUT; nops[j] = NOPS; j++
    :: else -> break
    od;
    j = 0;
    do
    :: j < NMS -> me[j] = ME_enrolled; cinc[j] = 1; minc[j] = 1; j++
    :: else -> break
    od;
    j = 0;
    do
    :: j < NMS * NU -> ss[j] = CS_ended; j++
    :: else -> break
    od;
    j = 0;
    do
    :: j < NU * NU -> rel[j] = (INIT_BUDDIES && (j / NU) != (j % NU) -> BR_buddy : BR_none); j++
    :: else -> break
    od;
    j = 0;
    run CRS();
    run Timer();
    do
    :: j < NMS -> run MS(j); j++
    :: else -> break
    od;
    j = 0;
    do
    :: j < NC -> run Client(j); j++
    :: else -> break
    od;
    j = 0
  }
}
`;

/** The branches of the MS loop that read each client's link (only the MS that client uses). */
export function clientBranches(maxClients: number): string {
  const out: string[] = ['  :: atomic {', '       if'];
  for (let i = 0; i < maxClients; i++) {
    const body = `       :: nempty(up[${i}]) && cm[${i}] == m -> up[${i}]?k, a, b, x; cl = ${i}`;
    out.push(i === 0 ? body : `#if NC > ${i}\n${body}\n#endif`);
  }
  out.push('       fi;', '       u = cu[cl]; ms_client_message(); deliver_all(); ms_clear() }');
  return out.join('\n');
}

export function hangable(maxUsers: number): string {
  const terms: string[] = [];
  for (let u = 0; u < maxUsers; u++)
    terms.push(`(${u} < NU && ss[m * NU + ${u}] == CS_challenged && clientOf[m * NU + ${u}] != 255)`);
  return `(${terms.join(' || ')})`;
}

export function timerBranches(maxUsers: number): string {
  const out: string[] = [];
  for (let u = 0; u < maxUsers; u++) {
    const b = [
      '#ifndef MUT_LEASE_NEVER_RUNS_OUT',
      `  :: atomic { F_LOCK_LEASE && rec[${u}] == UR_locked && !lexp[${u}] -> lease_runs_out(${u}) }`,
      '#endif',
      `  :: atomic { rec[${u}] == UR_locked && lexp[${u}] -> lock_sweep(${u}) }`,
    ].join('\n');
    out.push(u === 0 ? b : `#if NU > ${u}\n${b}\n#endif`);
  }
  return out.join('\n');
}

/** How a client orders the login bundle against presence pushes (spec 9.1 and 8.1; issue 14). */
export const CLIENT_RULES = {
  accept: String.raw`#if CLIENT_RULE == 0
        load_bundle(dc, db)   /* the bundle is applied on the 200 */
#else
        loading[dc] = 1; pending[dc] = db   /* the bundle is applied later (after the key blob is open) */
#endif`,
  presence: String.raw`#if CLIENT_RULE == 1
     if   /* the reference before the presence fix: a PRESENCE about a user not (yet) in the list is dropped */
     :: dk == dPRESENCE && (cbud[dc] & BIT(dv)) == 0 -> printf("@ c%d c%d PRESENCE about u%d dropped: not in the list yet\n", dc, dc, dv)
     :: else -> apply_push(dc, dk, dv, da, db)
     fi
#else
     if
     :: loading[dc] -> assert(len(cq[dc]) < 8); cq[dc]!dk, dv, da, db   /* PRESENCE-9: kept until the bundle is applied */
     :: else -> apply_push(dc, dk, dv, da, db)
     fi
#endif`,
  load: String.raw`        if :: B_BUD(bd, dw) -> cbud[dc] = cbud[dc] | BIT(dw) :: else -> cbud[dc] = cbud[dc] & (7 - BIT(dw)) fi;
        cview[IX(dc, dw)] = B_ST(bd, dw);`,
};
