// What the wire cases need from a role: the connection it opens and the harmless first message of
// each server role (CRS: LOCATE, MS: LOGIN), the registry's error check, and the answer a state-machine
// transition names. Shared by cases/common ([§4 Message Format]) and by the role sections.
import { randomBytes } from 'node:crypto';
import {
  decode,
  encode,
  ERROR_HANDLING,
  header,
  LIMITS,
  request,
  type ErrorCode,
  type Header,
  type MachineTransition,
  type Message,
  type ResponseMessage,
  type Role,
  validate,
} from '../../codec/index.js';
import type { Conn } from './conn.js';
import { b64 } from './crypto.js';
import { errorSpec, type Limits } from './registry.js';
import type { Checker } from './runner.js';

export interface WireCtx extends Checker {
  connect(name?: string): Promise<Conn>;
  readonly timeout: number;
  readonly limits: Limits;
}

export interface WireTarget {
  role: Role;
  /** The sender role the kit plays on this connection. */
  from: Role;
  /** The start line of the harmless first message (e.g. LOCATE). */
  start: string;
  /** A complete harmless first message with the headers it needs. */
  first: () => Message;
  /** Is this an acceptable answer to `first`? */
  firstOk: (r: ResponseMessage) => boolean;
  /**
   * The requirement by which the role tells connections apart by their first message and closes after
   * any other (the CRS: [CONN-1]); unset for a role whose links are known. Data of the target, so that a
   * factory-built case names it only where it holds (test/conformance/named-ids.test.ts).
   */
  firstMessageDecides?: string;
  /** The sender role a first message with this method implies (CRS: ENROLL comes from an MS); default `from`. */
  senderFor?: (method: string) => Role;
  /** A registered method the sender role may not send to this role [REG-2]; default BYE. */
  notAllowed?: string;
  /** Whether `first` has a body of its own (then [REG-7] cannot be shown with it, and is skipped). */
  firstHasBody?: boolean;
  /** The registry allows no Tag on `first` (INIT): the cases that echo a Tag do without one. */
  noTag?: boolean;
}

/** Check that `r` is the registry's error response for `code` (status MUST, Error-code MUST). */
/**
 * [SEAL-14] maxRecordsPerEnvelope PINGs sealed in one envelope on `conn` (a client's MS session, or a
 * peer session): each is answered 200 in order (MUST), and the answers, all ready in one turn,
 * should come in fewer envelopes than records (SHOULD). Shared by ms/seal/12 and client/seal/5.
 */
export async function checkBatchCoalesced(ctx: Checker, conn: Conn, timeoutMs: number): Promise<void> {
  const max = LIMITS.maxRecordsPerEnvelope;
  const before = conn.envelopesIn.length;
  conn.sendBatch(Array.from({ length: max }, (_, i) => request('PING', [['Tag', `p${i}`]])));
  for (let i = 0; i < max; i++) {
    const r = await conn.nextResponse(timeoutMs, `the answer to record ${i + 1} of ${max}`).catch(() => null);
    ctx.must(
      r?.status === 200 && header(r, 'Tag') === `p${i}`,
      'SEAL-14',
      `each of ${max} PING records must be answered 200 in order: record ${i + 1} got ${r ? `${r.status} Tag ${header(r, 'Tag')}` : 'no answer'}`,
    );
  }
  const envelopes = conn.envelopesIn.length - before;
  ctx.should(
    envelopes < max,
    'SEAL-14',
    `${max} answers ready in one turn should be sealed into as few envelopes as the limits allow; they came in ${envelopes}`,
  );
}

export function checkError(
  ctx: Checker,
  r: ResponseMessage | null,
  code: string,
  what: string,
  offsetOrReq?: number | string,
): void {
  const e = { ...errorSpec(code), ...(typeof offsetOrReq === 'string' ? { req: offsetOrReq } : {}) };
  const offset = typeof offsetOrReq === 'number' ? offsetOrReq : undefined;
  ctx.must(r, e.req, `${what}: expected ${e.status} ${code}, the connection was closed without an answer`);
  ctx.must(r.status === e.status, e.req, `${what}: expected status ${e.status} (${code}), got ${r.status} ${r.reason}`);
  const got = header(r, 'Error-code');
  ctx.must(got !== undefined, 'ERR-1', `${what}: an error response must carry Error-code`);
  ctx.must(got === code, e.req, `${what}: expected Error-code ${code}, got ${got}`);
  if (offset !== undefined) {
    const off = header(r, 'Offset');
    ctx.should(
      off === undefined || off === String(offset),
      'WIRE-22',
      `${what}: Offset ${off}, the grammar puts the error at ${offset}`,
    );
  }
  // [WIRE-22] a validation error has no offset: its response carries no Offset.
  if (code in ERROR_HANDLING && ERROR_HANDLING[code as ErrorCode].class === 'validation')
    ctx.must(
      header(r, 'Offset') === undefined,
      'WIRE-22',
      `${what}: a validation error (${code}) must not carry Offset`,
    );
}

export function withHeaders(m: Message, extra: Header[]): Buffer {
  return encode({ ...m, headers: [...m.headers, ...extra] } as Message);
}
export function withBody(m: Message, body: Buffer): Buffer {
  return encode({ ...m, body } as Message);
}
/** The message the generated codec reads from these octets (the oracle of the validation cases). */
export function oracleDecode(b: Buffer): Message {
  return decode(b)[0]!;
}

/**
 * Writes on `conn` a SEALED without Seq before the link has keys. Registry validation comes before state
 * [REG-16], so it must get the generated validator's answer (ERR_MISSING_HEADER [REG-3]) and the connection
 * must go on [REG-9] (ms/seal/13, client/registry/33). Returns that code for the caller's next step.
 */
export async function keylessSealedRefused(
  ctx: Checker & { readonly timeout: number },
  conn: Conn,
  link: { from: Role; to: Role },
  who: string,
): Promise<string> {
  const env = Buffer.concat([Buffer.from('SEALED\r\nContent-length: 16\r\n\r\n', 'latin1'), randomBytes(16)]);
  const code = validate(oracleDecode(env), link)?.code ?? 'ERR_MISSING_HEADER';
  conn.writeRaw(env, `SEALED without Seq on a fresh connection to the ${who} (the link has no keys yet)`);
  const r = await conn.nextResponse(ctx.timeout, 'the answer to a SEALED without Seq');
  checkError(ctx, r, code, 'a SEALED without Seq');
  ctx.must(!conn.closed, 'REG-9', `after ${code} the connection must go on; the ${who} closed it`);
  return code;
}

export const crsWireTarget: WireTarget = {
  role: 'crs',
  from: 'client',
  start: 'LOCATE',
  first: () => request('LOCATE', [['Imsp-version', '1']]),
  firstOk: (r) => r.status === 200 || r.status === 503,
  firstMessageDecides: 'CONN-1',
  // [CONN-1] ENROLL as a first message opens an MS connection.
  senderFor: (method) => (method === 'ENROLL' ? 'ms' : 'client'),
};

export const msWireTarget = (ctx: { uniq?: (p: string) => string } = {}): WireTarget => ({
  role: 'ms',
  from: 'client',
  start: 'LOGIN',
  first: () =>
    request('LOGIN', [
      ['Imsp-version', '1'],
      ['User', (ctx.uniq ?? ((p: string) => p + randomBytes(3).toString('hex')))('ghost')],
      ['Nonce', b64(randomBytes(18))],
      ['Key-share', b64(randomBytes(32))],
      ['Address', '127.0.0.1:9'],
    ]),
  firstOk: (r: ResponseMessage) => r.status === 300,
});

/**
 * A client as a receiver on its own peer address [§10.1 INIT and INIT-ACK]: the kit connects as another client. The
 * harmless first message is an INIT whose body does not decrypt: every receiver must refuse it 401
 * ERR_DECRYPT in clear and close [P2P-18], whoever the client's buddies are, so the answer is known
 * without a session. BYE is registered client to client, so [REG-2] is shown with LOCATE.
 */
export const clientWireTarget: WireTarget = {
  role: 'client',
  from: 'client',
  start: 'INIT',
  first: () =>
    request(
      'INIT',
      [
        ['Imsp-version', '1'],
        ['Key-share', b64(randomBytes(32))],
        ['Nonce', b64(randomBytes(18))],
        ['Content-length', '80'],
      ],
      randomBytes(80),
    ),
  firstOk: (r) => r.status === 401 && header(r, 'Error-code') === 'ERR_DECRYPT',
  notAllowed: 'LOCATE',
  firstHasBody: true,
  noTag: true,
};

/** The status a transition's actions say to answer, e.g. "answer 423 ERR_LOCKED" -> 423. */
export function answerOf(t: MachineTransition | null): number | null {
  if (!t) return null;
  for (const a of t.actions) {
    const m = /\banswer (\d{3})\b/.exec(a);
    if (m) return Number(m[1]);
  }
  return null;
}
