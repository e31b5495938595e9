// A lean XMPP load generator on Node `net` (issue 15): the anchor servers (ejabberd, Prosody) get the
// same storm as IMSP, from a client cheap enough not to take the cores from the server it measures.
// No XML parser: the client knows what it sent and scans the replies for substrings (TOOLCHAIN.md).
//
// A login is: stream header, features, [STARTTLS, proceed, TLS, stream header, features], SASL (PLAIN
// or SCRAM-SHA-256, RFC 7677), stream restart, features, resource bind, <presence/>. Its latency runs
// from connect to the bind result. Fan-out: a user logs out and in again with a marked presence
// (<status>P<i>.</status>); every online contact's socket scans for the marker, and the fan-out
// latency is the last contact's receipt minus the moment the marked presence was sent.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

export type Mechanism = 'PLAIN' | 'SCRAM-SHA-256';

/** How to reach and log in to the XMPP server. */
export interface XmppTarget {
  host: string;
  port: number;
  domain: string;
  password: string;
  mechanism: Mechanism;
  /** STARTTLS before SASL (the server must offer it). */
  starttls: boolean;
  timeoutMs: number;
}

/** One login's record (times from performance.now()). */
export interface XmppLogin {
  user: number;
  ok: boolean;
  error?: string;
  tStart: number;
  /** The bind result. */
  tDone: number;
  /** The (marked) presence written. */
  tPresence: number;
}

const NS_STREAM =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='";

// SCRAM-SHA-256 keys for one (password, salt, iterations): every synthetic user shares the password,
// and a client may cache SaltedPassword-derived keys (RFC 5802 section 5.1), as the IMSP load
// clients do. The server's per-login work is unchanged.
const scramCache = new Map<string, { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer }>();
function scramKeys(
  password: string,
  salt: Buffer,
  iterations: number,
): { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer } {
  const k = `${password}\0${salt.toString('base64')}\0${iterations}`;
  let v = scramCache.get(k);
  if (!v) {
    const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    v = {
      clientKey,
      storedKey: createHash('sha256').update(clientKey).digest(),
      serverKey: createHmac('sha256', salted).update('Server Key').digest(),
    };
    scramCache.set(k, v);
  }
  return v;
}

/**
 * The SCRAM-SHA-256 client-final message and the expected server signature for a server-first
 * message (RFC 5802 section 3, gs2 header "n,,": no channel binding). Throws on a malformed or
 * unsafe server-first (nonce not extending ours, iteration count below 4096).
 */
export function scramFinal(
  password: string,
  clientFirstBare: string,
  clientNonce: string,
  serverFirst: string,
): { final: string; serverSignature: string } {
  const attrs = new Map<string, string>();
  for (const part of serverFirst.split(',')) attrs.set(part.slice(0, 1), part.slice(2));
  const nonce = attrs.get('r') ?? '';
  const salt = Buffer.from(attrs.get('s') ?? '', 'base64');
  const iterations = Number(attrs.get('i'));
  if (!nonce.startsWith(clientNonce) || nonce.length <= clientNonce.length)
    throw new Error('SCRAM: server nonce does not extend the client nonce');
  if (!Number.isInteger(iterations) || iterations < 4096 || iterations > 1_000_000)
    throw new Error(`SCRAM: iteration count ${attrs.get('i')}`);
  const { clientKey, storedKey, serverKey } = scramKeys(password, salt, iterations);
  const withoutProof = `c=biws,r=${nonce}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const sig = createHmac('sha256', storedKey).update(authMessage).digest();
  for (let i = 0; i < sig.length; i++) sig[i]! ^= clientKey[i]!;
  return {
    final: `${withoutProof},p=${sig.toString('base64')}`,
    serverSignature: createHmac('sha256', serverKey).update(authMessage).digest('base64'),
  };
}

// One client TLS context for every connection of the generator (issue 15): Node builds a new
// SecureContext (an OpenSSL SSL_CTX) per tls.connect without one, which cost the generator about
// 0.3-0.8 ms of CPU per login (3.9/4.4 -> 3.6/3.7 ms, 1,000 users, SCRAM+TLS, alternating runs,
// load 10-12). The server's work is unchanged: no session is resumed (the client never offers one,
// and login() checks it), so every login is a full handshake.
let sharedTls: tls.SecureContext | null = null;
const tlsContext = (): tls.SecureContext => (sharedTls ??= tls.createSecureContext({ minVersion: 'TLSv1.2' }));

/** Escapes a SASL username for SCRAM (RFC 5802: "=" and ","). */
const saslName = (u: string): string => u.replace(/=/g, '=3D').replace(/,/g, '=2C');

/** Text between the first '>' after `open` and the next '<' (the element's character data). */
function textOf(s: string, open: string): string {
  const i = s.indexOf(open);
  if (i < 0) return '';
  const a = s.indexOf('>', i);
  const b = s.indexOf('<', a);
  return a < 0 || b < 0 ? '' : s.slice(a + 1, b);
}

/** Marker prefix of a probe's presence status. */
const MARK = '<status>P';

/**
 * Calls `onMark(i, t)` for every probe marker `<status>Pi.` in `tail + chunk`, each once however the
 * stream is cut into chunks; returns the new tail (what may hold the start of a cut marker).
 */
export function scanMarks(tail: string, chunk: string, t: number, onMark: (user: number, t: number) => void): string {
  const s = tail + chunk;
  let done = 0;
  let i = s.indexOf(MARK);
  while (i >= 0) {
    const e = s.indexOf('.', i + MARK.length);
    if (e < 0) break;
    onMark(Number(s.slice(i + MARK.length, e)), t);
    done = e + 1;
    i = s.indexOf(MARK, done);
  }
  return s.slice(Math.max(done, s.length - 24));
}

/** One simulated XMPP client. */
export class XmppClient {
  private socket: net.Socket | null = null;
  private buf = '';
  private want: { needles: string[]; resolve: (s: string) => void; reject: (e: Error) => void } | null = null;
  private tail = '';
  private closedP: Promise<void> = Promise.resolve();
  online = false;

  constructor(
    readonly index: number,
    readonly user: string,
    /** Called for every probe marker this socket sees: the probed user's index. */
    private readonly onMarker: (user: number, t: number) => void,
    private readonly isRecording: () => boolean,
  ) {}

  private fail(e: Error): void {
    const w = this.want;
    this.want = null;
    w?.reject(e);
  }

  private onContactMark = (user: number, t: number): void => {
    if (user !== this.index) this.onMarker(user, t);
  };

  private onData = (d: Buffer): void => {
    // Timed when the octets arrive, before anything is done with them: the rule of the IMSP load
    // clients too (reference/load/sim-client.ts, timeOnArrival). With TLS, 'data' comes after Node
    // decrypted and verified the records read (in C++, the same read), as an IMSP push's receipt
    // counts only after its envelope opened.
    const t = performance.now();
    if (this.want) {
      this.buf += d.toString('latin1');
      this.check();
      return;
    }
    if (!this.isRecording()) return;
    // Online: scan for probe markers only, across chunk borders. A server echoes a user's presence to
    // the user's own resource (RFC 6121 4.2.2): that is not a contact's receipt, and IMSP sends none.
    this.tail = scanMarks(this.tail, d.toString('latin1'), t, this.onContactMark);
  };

  private check(): void {
    const w = this.want;
    if (!w) return;
    for (const n of w.needles) {
      const i = this.buf.indexOf(n);
      if (i >= 0) {
        const got = this.buf.slice(0, i + n.length);
        this.buf = this.buf.slice(i + n.length);
        this.want = null;
        w.resolve(got);
        return;
      }
    }
    if (this.buf.includes('<stream:error') || this.buf.includes('</stream:stream>'))
      this.fail(new Error(`stream error: ${this.buf.slice(0, 200)}`));
  }

  /** Resolves with everything up to and including the first of `needles`. */
  private expect(...needles: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      this.want = { needles, resolve, reject };
      this.check();
    });
  }

  private write(s: string): void {
    this.socket!.write(s);
  }

  private attach(s: net.Socket): void {
    this.socket = s;
    s.on('data', this.onData);
  }

  /** Logs in; `presence` is the stanza sent after the bind result. */
  async login(t: XmppTarget, presence = '<presence/>'): Promise<XmppLogin> {
    const tStart = performance.now();
    const rec: XmppLogin = { user: this.index, ok: false, tStart, tDone: tStart, tPresence: tStart };
    const timer = setTimeout(() => this.fail(new Error('timeout')), t.timeoutMs);
    try {
      const raw = net.connect({ host: t.host, port: t.port });
      raw.setNoDelay(true);
      this.closedP = new Promise((r) => raw.once('close', () => r()));
      raw.on('error', (e) => this.fail(e));
      raw.on('close', () => {
        this.online = false;
        this.fail(new Error('closed'));
      });
      this.attach(raw);
      await new Promise<void>((resolve, reject) => {
        raw.once('connect', resolve);
        this.want = { needles: [], resolve: () => undefined, reject };
      });
      this.want = null;
      const header = `${NS_STREAM}${t.domain}'>`;
      this.write(header);
      let features = await this.expect('</stream:features>');
      if (t.starttls) {
        if (!features.includes('<starttls')) throw new Error('server offers no STARTTLS');
        this.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        await this.expect('<proceed');
        raw.removeListener('data', this.onData);
        this.buf = '';
        const sec = tls.connect({
          socket: raw,
          servername: t.domain,
          rejectUnauthorized: false,
          secureContext: tlsContext(),
        });
        sec.on('error', (e) => this.fail(e));
        await new Promise<void>((resolve, reject) => {
          sec.once('secureConnect', resolve);
          this.want = { needles: [], resolve: () => undefined, reject };
        });
        this.want = null;
        if (sec.isSessionReused()) throw new Error('TLS session resumed: not a full handshake');
        this.attach(sec);
        this.write(header);
        features = await this.expect('</stream:features>');
      }
      if (!features.includes(`>${t.mechanism}<`)) throw new Error(`server does not offer ${t.mechanism}`);
      const sasl = "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'";
      if (t.mechanism === 'PLAIN') {
        this.write(
          `<auth ${sasl} mechanism='PLAIN'>${Buffer.from(`\0${this.user}\0${t.password}`).toString('base64')}</auth>`,
        );
        const r = await this.expect('<success', '<failure');
        if (r.endsWith('<failure')) throw new Error('SASL failure');
      } else {
        const nonce = randomBytes(18).toString('base64');
        const bare = `n=${saslName(this.user)},r=${nonce}`;
        this.write(`<auth ${sasl} mechanism='SCRAM-SHA-256'>${Buffer.from(`n,,${bare}`).toString('base64')}</auth>`);
        let r = await this.expect('</challenge>', '<failure');
        if (r.endsWith('<failure')) throw new Error('SASL failure');
        const serverFirst = Buffer.from(textOf(r, '<challenge'), 'base64').toString();
        const { final, serverSignature } = scramFinal(t.password, bare, nonce, serverFirst);
        this.write(`<response ${sasl}>${Buffer.from(final).toString('base64')}</response>`);
        r = await this.expect('</success>', '<failure');
        if (r.endsWith('<failure')) throw new Error('SASL failure');
        const v = Buffer.from(textOf(r, '<success'), 'base64').toString();
        if (v !== `v=${serverSignature}`) throw new Error('SCRAM: wrong server signature');
      }
      this.buf = '';
      this.write(header);
      await this.expect('</stream:features>');
      this.write(
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>load</resource></bind></iq>",
      );
      const bound = await this.expect('</iq>');
      if (!bound.includes('result')) throw new Error('bind refused');
      rec.tDone = performance.now();
      this.buf = '';
      this.tail = '';
      this.write(presence);
      rec.tPresence = performance.now();
      this.online = true;
      rec.ok = true;
    } catch (e) {
      rec.error = e instanceof Error ? e.message : String(e);
      this.close();
    } finally {
      clearTimeout(timer);
      this.want = null;
    }
    return rec;
  }

  /** Ends the stream and waits (bounded) for the socket to close. */
  async logout(maxMs = 5000): Promise<void> {
    if (!this.socket || this.socket.destroyed) return;
    this.online = false;
    this.socket.write('</stream:stream>');
    this.socket.end();
    const timer = setTimeout(() => this.socket?.destroy(), maxMs);
    await this.closedP;
    clearTimeout(timer);
  }

  close(): void {
    this.online = false;
    this.socket?.destroy();
  }

  closed(): Promise<void> {
    return this.closedP;
  }
}

/** Marked presence of probe `i`. */
export const markedPresence = (i: number): string => `<presence><status>P${i}.</status></presence>`;
