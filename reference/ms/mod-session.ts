// MS lock and session [§6.2 Login Proof] [§8.1 Login]: LOGIN and PROOF (the per-user lock at the CRS,
// the challenge, the proof, ONLINE and the login bundle), LOGOUT and PING.
import { randomBytes } from 'node:crypto';
import { requiredHeaderOf, headerOf, type ErrorCode, type RequestOf, type ResponseMessage } from '../../codec/index.js';
import { b64, unb64 } from '../crypto/b64.js';
import { generateEphemeralKey, x25519 } from '../crypto/keys.js';
import {
  makeNonce,
  loginAuthMessage,
  verifyClientProof,
  serverProof,
  loginLinkKeys,
  decoySalt,
  SCRAM_MIN_ITERATIONS,
} from '../crypto/scram.js';
import { startHeartbeat } from '../net/heartbeat.js';
import { stage } from '../ops/stage-trace.js';
import { closeSoon } from '../net/server-link.js';
import { req, ok, fail, type Fields } from '../proto/messages.js';
import {
  clientAddress,
  type ClientConn,
  type ClientHandlers,
  type ConnState,
  type LoginAttempt,
  type MsContext,
  type Relation,
  type Session,
} from './context.js';
import { ContactList } from './contact-list.js';
import { bundleContacts } from './mod-presence.js';

export function sessionModule(ms: MsContext): Pick<ClientHandlers, 'LOGIN' | 'PROOF' | 'LOGOUT' | 'PING'> {
  return {
    LOGIN: { state: 'idle', run: (conn, m) => login(ms, conn, m) },
    PROOF: { state: 'challenged', run: (conn, m) => proof(ms, conn, m) },
    LOGOUT: {
      state: 'active',
      async run(s) {
        // [LOGOUT-1] OFFLINE to the CRS, 200, close.
        ms.forget(s);
        s.conn.state = 'ended';
        await ms.crsRequest(req('OFFLINE', { User: s.user, Epoch: s.epoch }));
        closeSoon(s.conn.link);
        ms.sessionEnded(s, 'logout');
        return ok(200);
      },
    },
    PING: { state: 'active', run: async () => ok(200) },
  };
}

// LOGIN ([§6.2 Login Proof] [§8.1 Login], steps 1-3)
/**
 * Whether this MS takes a login now: not while the user or address is locked out for failed logins
 * [RATE-4] [RATE-5], not enrolled at the CRS, or full. The refusal, or null.
 */
function admissionRefusal(ms: MsContext, conn: ClientConn, user: string): ResponseMessage | null {
  const wait = Math.max(ms.failedByUser.retryAfter(user), ms.failedByAddress.retryAfter(conn.ip));
  if (wait > 0) {
    ms.metrics.logins.inc({ result: 'rate_limited' });
    // the line fail2ban-like tools watch: who, from where, for how long
    ms.logger.warn(
      { event: 'lockout', user, client: clientAddress(conn), retryAfterMs: wait },
      `login refused: too many failed logins for ${user} or from ${conn.ip}; retry in ${Math.ceil(wait / 1000)} s`,
    );
    return fail('ERR_RATE_LIMITED', { 'Retry-after': wait, Reason: 'too many failed logins' });
  }
  if (!ms.enrolled) {
    ms.metrics.logins.inc({ result: 'unavailable' });
    ms.logger.warn(
      { event: 'login_unavailable', user, client: clientAddress(conn) },
      'login refused with 503: this MS is not enrolled at the CRS (is the CRS reachable?)',
    );
    return fail('ERR_UNAVAILABLE', { Reason: 'CRS unreachable' });
  }
  if (ms.sessions.size + ms.loggingIn.size >= ms.capacity) {
    ms.metrics.logins.inc({ result: 'unavailable' });
    return fail('ERR_UNAVAILABLE', { Reason: 'Messaging Server full' });
  }
  return null;
}

/** The CRS refused the LOCK (neither 200 nor 404): the connection goes back to idle and the client is told why. */
function lockRefused(ms: MsContext, conn: ClientConn, user: string, r: ResponseMessage): ResponseMessage {
  conn.state = 'idle';
  ms.loggingIn.delete(user);
  // [ERR-2] the status decides, not the code (which may be one this MS does not know): 409 to LOCK is
  // "online elsewhere" and 423 "locked" [LOCK-1] [LOCK-2]; any other refusal is the CRS's, a 503.
  const code: ErrorCode = r.status === 409 ? 'ERR_ALREADY_ONLINE' : r.status === 423 ? 'ERR_LOCKED' : 'ERR_UNAVAILABLE';
  if (code === 'ERR_ALREADY_ONLINE') ms.metrics.logins.inc({ result: 'already_online' });
  else if (code === 'ERR_LOCKED') ms.metrics.logins.inc({ result: 'locked' });
  else ms.metrics.logins.inc({ result: 'unavailable' });
  ms.logger.info(
    { event: 'login_refused', user, client: clientAddress(conn), code: headerOf(r, 'Error-code'), status: r.status },
    `login of ${user} refused by the CRS: ${code}`,
  );
  // [LOCK-1] [LOCK-2] 423 and 409 go to the client as they are; the connection stays open.
  return code === 'ERR_ALREADY_ONLINE' || code === 'ERR_LOCKED'
    ? fail(code)
    : fail('ERR_UNAVAILABLE', { Reason: 'CRS refused the lock' });
}

async function login(ms: MsContext, conn: ClientConn, m: RequestOf<'LOGIN'>): Promise<ResponseMessage> {
  const user = requiredHeaderOf(m, 'User');
  if (headerOf(m, 'Imsp-version') !== '1') {
    closeSoon(conn.link); // [CONN-2] [ERR-5] answered, then closed
    return fail('ERR_VERSION');
  }
  if (ms.isStopping) return fail('ERR_SHUTDOWN');
  const busy = admissionRefusal(ms, conn, user);
  if (busy) return busy;
  const statusH = headerOf(m, 'Status') ?? 'online';
  // [LOGIN-14] a user logs in present; [LOGIN-3] the refused LOGIN leaves the connection idle
  if (statusH !== 'online' && statusH !== 'busy' && statusH !== 'away')
    return fail('ERR_BAD_VALUE', { Reason: 'Status must be online, busy or away' });
  // [AUTH-15] the challenge Nonce is the client's text followed by 24 characters: only 18-octet client
  // nonces make that the b64 of the concatenated octets too.
  if (requiredHeaderOf(m, 'Nonce').length !== 24)
    return fail('ERR_BAD_VALUE', { Reason: 'Nonce must be 18 octets (24 characters)' });
  if (ms.sessions.has(user)) {
    ms.metrics.logins.inc({ result: 'already_online' });
    return fail('ERR_ALREADY_ONLINE'); // [LOCK-2]
  }
  conn.state = 'locking';
  ms.loggingIn.add(user);
  const r = await ms.crsRequest(req('LOCK', { User: user }));
  if (conn.state !== 'locking') {
    // The client went away while we waited: give the lock back.
    ms.loggingIn.delete(user);
    if (r.status === 200) void ms.crsRequest(req('UNLOCK', { User: user, Epoch: requiredHeaderOf(r, 'Epoch') }));
    return fail('ERR_SESSION_ENDED');
  }
  const share = generateEphemeralKey();
  const base = {
    user,
    cnonce: requiredHeaderOf(m, 'Nonce'),
    eC: requiredHeaderOf(m, 'Key-share'),
    address: requiredHeaderOf(m, 'Address'),
    status: statusH,
    ePriv: share.privateKey,
    eS: b64(share.publicKey),
  } as const;
  let attempt: LoginAttempt;
  if (r.status === 200) {
    attempt = {
      ...base,
      nonce: base.cnonce + makeNonce(),
      salt: requiredHeaderOf(r, 'Salt'),
      iterations: Number(requiredHeaderOf(r, 'Iterations')),
      lock: {
        epoch: Number(requiredHeaderOf(r, 'Epoch')),
        storedKey: unb64(requiredHeaderOf(r, 'Stored-key')),
        serverKey: unb64(requiredHeaderOf(r, 'Server-key')),
      },
    };
  } else if (r.status === 404) {
    // [AUTH-8] [AUTH-9] an unknown user gets a challenge like any other: the decoy salt, 4096 iterations;
    // [AUTH-14] from the decoy key, so every MS gives the same salt for the same name.
    attempt = {
      ...base,
      nonce: base.cnonce + makeNonce(),
      salt: b64(decoySalt(ms.decoy, user)),
      iterations: SCRAM_MIN_ITERATIONS,
    };
  } else return lockRefused(ms, conn, user, r);
  conn.attempt = attempt;
  conn.state = 'challenged';
  return ok(300, { Nonce: attempt.nonce, Salt: attempt.salt, Iterations: attempt.iterations, 'Key-share': attempt.eS });
}

// PROOF ([§6.2 Login Proof] [§8.1 Login], steps 4-6)
async function proof(ms: MsContext, conn: ClientConn, m: RequestOf<'PROOF'>): Promise<ResponseMessage> {
  const a = conn.attempt!;
  stage(a.user, 'ms.proof');
  const auth = loginAuthMessage(a);
  let clientKey: Buffer | null = null;
  let shared: Buffer | null = null;
  try {
    if (a.lock) clientKey = verifyClientProof(a.lock.storedKey, auth, unb64(requiredHeaderOf(m, 'Proof')));
    if (clientKey) shared = x25519(a.ePriv, unb64(a.eC));
  } catch {
    clientKey = null;
  }
  if (!clientKey || !shared || !a.lock) return proofFailed(ms, conn, a);
  conn.state = 'onlining';
  // [PRESENCE-8] from before ONLINE is sent: a change the bundle misses is committed after it was read.
  conn.buffered = [];
  ms.onlining.add(conn);
  stage(a.user, 'ms.online');
  const r = await ms.crsRequest(
    req('ONLINE', { User: a.user, Epoch: a.lock.epoch, Address: a.address, Status: a.status }),
  );
  stage(a.user, 'ms.online200');
  // From here on (synchronously) the connection has a session or is ended: pushes find it by its session.
  ms.onlining.delete(conn);
  ms.loggingIn.delete(a.user);
  if (r.status !== 200) {
    conn.state = 'ended';
    conn.buffered = null;
    closeSoon(conn.link);
    ms.metrics.logins.inc({ result: 'unavailable' });
    // 410: the lock lease ran out before the proof came [LOCK-3].
    // [LOGIN-8] ONLINE failed (410: the lock lease ran out first, or no answer): 503, then close.
    return fail('ERR_UNAVAILABLE', {
      Reason: headerOf(r, 'Error-code') === 'ERR_STALE_EPOCH' ? 'login lock expired' : 'CRS did not confirm the login',
    });
  }
  if ((conn.state as ConnState) === 'ended') {
    conn.buffered = null;
    // The client left while ONLINE was in flight: end the session we just opened.
    void ms.crsRequest(req('OFFLINE', { User: a.user, Epoch: a.lock.epoch }));
    return fail('ERR_SESSION_ENDED');
  }
  const session = openSession(ms, conn, a, a.lock.epoch, r.body);
  // [SEAL-1] this 200 is the first SEALED envelope MS->client; from now on everything is sealed.
  const keys = loginLinkKeys('ms', shared, clientKey, auth);
  conn.link.enableSealing(keys);
  // [HB-8] PING a client we sent nothing to for clientHeartbeatInterval ([HB-2] is the session sweep's).
  startHeartbeat(conn.link, { interval: ms.limits.clientHeartbeatInterval, timeout: 0 });
  flushBuffered(ms, conn, session);
  ms.logger.info(
    {
      event: 'login_ok',
      user: a.user,
      client: clientAddress(conn),
      address: a.address,
      epoch: a.lock.epoch,
      session: session.id,
      status: a.status,
    },
    `login ${a.user} from ${clientAddress(conn)}`,
  );
  ms.emit('login', a.user);
  const fields: Fields = {
    'Server-proof': b64(serverProof(a.lock.serverKey, auth)),
    Session: session.id,
    Heartbeat: ms.limits.clientHeartbeatInterval,
    'Session-timeout': ms.limits.sessionTimeout, // [HB-11] the client ends a silent session in step with us [HB-6]
    'Key-blob': requiredHeaderOf(r, 'Key-blob'),
    'Public-key': requiredHeaderOf(r, 'Public-key'),
    Status: a.status,
    'Content-type': r.body.length > 0 ? 'application/imsp-records' : undefined,
  };
  stage(a.user, 'ms.answer');
  return ok(200, fields, r.body);
}

/** A PROOF that does not verify, or of an unknown user: 401 in clear, then close. */
async function proofFailed(ms: MsContext, conn: ClientConn, a: LoginAttempt): Promise<ResponseMessage> {
  conn.state = 'ended';
  ms.loggingIn.delete(a.user);
  // [AUTH-8] wrong password and unknown user look the same: 401 in clear, then close.
  // [LOGIN-9] the lock is given back before the client hears of the failure.
  if (a.lock) await ms.crsRequest(req('UNLOCK', { User: a.user, Epoch: a.lock.epoch }));
  ms.failedByUser.fail(a.user);
  ms.failedByAddress.fail(conn.ip);
  ms.metrics.logins.inc({ result: 'auth_failed' });
  // [AUTH-8] the client cannot tell an unknown user from a wrong password; the operator can
  ms.logger.warn(
    {
      event: 'login_failed',
      user: a.user,
      client: clientAddress(conn),
      reason: a.lock ? 'wrong password' : 'unknown user',
    },
    `login failed for ${a.user} from ${clientAddress(conn)}: ${a.lock ? 'wrong password' : 'unknown user'}`,
  );
  closeSoon(conn.link);
  return fail('ERR_AUTH_FAILED');
}

/** The session of a confirmed login: its contact list from the bundle (`body`), registered on the MS. */
function openSession(ms: MsContext, conn: ClientConn, a: LoginAttempt, epoch: number, body: Buffer): Session {
  const contacts: Array<[string, Relation]> = [];
  for (const [user, relation] of bundleContacts(body)) {
    if (user && (relation === 'buddy' || relation === 'pending' || relation === 'blocked'))
      contacts.push([user, relation]);
  }
  const session: Session = {
    id: b64(randomBytes(16)), // [LOGIN-11]
    user: a.user,
    epoch,
    address: ownCopy(a.address),
    status: a.status,
    conn,
    contacts: new ContactList(contacts),
    startedAt: ms.now(),
  };
  ms.pushes.index(session);
  conn.session = session;
  conn.state = 'active';
  conn.attempt = null;
  ms.sessions.set(a.user, session);
  ms.failedByUser.clear(a.user);
  ms.metrics.sessions.set({ kind: 'client' }, ms.sessions.size);
  ms.metrics.logins.inc({ result: 'ok' });
  return session;
}

/**
 * [PRESENCE-8] Pushes that came while ONLINE was in flight follow the 200 (written when PROOF returns),
 * in the order received, through the contact list of the new session; a failed ONLINE discards them.
 */
function flushBuffered(ms: MsContext, conn: ClientConn, session: Session): void {
  setImmediate(() => {
    const buffered = conn.buffered ?? [];
    conn.buffered = null;
    if (conn.session === session && ms.sessions.get(session.user) === session) {
      for (const p of buffered) if (ms.pushes.deliver(session, p)) ms.metrics.pushes.inc({ method: p.method });
    }
  });
}

/**
 * A copy of `s` that does not keep alive the string it was cut from: V8 makes a substring of 13 or more
 * characters a slice of its parent (here the LOGIN's header text), and a session holds its address for
 * as long as it lives (~170 octets per session, heap snapshot of a 5,000-session MS; issue 15).
 */
function ownCopy(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}
