// [§4 Message Format], client side, beyond the shared wire cases of cases/common: records bodies the client
// receives (the login bundle), messages inside an open peer session that break the registry (a missing header,
// a body where none is allowed, a status nobody defined), a method out of state on its listener, and the text
// limit on what it sends.
import { header, request, type Header, type RequestMessage, type ResponseMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext } from '../../lib/client-context.js';
import type { Conn } from '../../lib/conn.js';
import { buildInit, buildInitAck, openInit } from '../../lib/p2p.js';
import { errorSpec } from '../../lib/registry.js';
import { keylessSealedRefused } from '../../lib/wire-target.js';

/** The answer to a message the kit sent inside a peer session: the registry's status for `code`. */
async function expectSealedError(ctx: ClientContext, conn: Conn, code: string, what: string): Promise<void> {
  const e = errorSpec(code);
  const r = await conn.nextResponse(ctx.timeout, `the refusal of ${what}`).catch(() => null);
  ctx.must(r, e.req, `${what} must be answered ${e.status} ${code}, got nothing`);
  ctx.must(
    r.status === e.status,
    e.req,
    `${what} must be answered ${e.status} ${code}, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
  );
  ctx.should(header(r, 'Error-code') === code, e.req, `${what}: Error-code ${header(r, 'Error-code')}, not ${code}`);
}

const buddyMsg = (from: string, to: string | undefined, text: string): RequestMessage =>
  request(
    'MSG',
    [['From', from], ...(to === undefined ? [] : ([['To', to]] as Header[])), ['Content-type', 'text/plain']],
    Buffer.from(text),
  );

export const clientMessageFormatCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/records/1',
    section: 'records',
    title: 'a login bundle record with a field the client does not know: the field is ignored, the contact kept',
    reqs: ['REC-4', 'CTL-2'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const a = ctx.account([[...ctx.buddyRecord(p), ['Kit-future', 'ignored']]]);
      const { c, r } = await ctx.tryLogin(a);
      ctx.must(
        r?.event === 'ok',
        'REC-4',
        `an unknown record field must be ignored; the login failed: ${JSON.stringify(r)}`,
      );
      const view = await c.command('contacts', ctx.timeout);
      const entry = (view?.contacts as { user: string; status: string }[] | undefined)?.find((x) => x.user === p.name);
      ctx.must(
        entry?.status === 'online',
        'REC-4',
        `the record with an unknown field was dropped: ${JSON.stringify(view)}`,
      );
    },
  },
  {
    id: 'client/records/2',
    section: 'records',
    title: 'a login bundle record whose field fails its value type: the bundle is refused and the login fails',
    reqs: ['REC-2', 'REG-10'],
    async run(ctx: ClientContext) {
      const p = await ctx.peer();
      const bad = ctx.buddyRecord(p).map(([k, v]): Header => [k, k === 'Status' ? 'dancing' : v]);
      const a = ctx.account([bad]);
      const { r } = await ctx.tryLogin(a);
      ctx.must(
        r?.event === 'error',
        'REC-2',
        `a bundle record with Status: dancing must be rejected (ERR_BAD_RECORDS), the login reported ${JSON.stringify(r)}`,
      );
      const s = ctx.svc.sessions.get(a.name);
      if (s) ctx.must(await s.closedWithin(ctx.timeout), 'REG-10', 'an invalid response cannot be answered: close');
    },
  },
  {
    id: 'client/records/3',
    section: 'records',
    title: 'a login bundle of maxRecordsPerBody + 1 records is refused',
    reqs: ['REC-3'],
    async run(ctx: ClientContext) {
      const n = ctx.limits.get('maxRecordsPerBody') + 1;
      const bundle: Header[][] = [];
      for (let i = 0; i < n; i++)
        bundle.push([
          ['User', `k${i.toString(36)}`],
          ['Relation', 'buddy'],
          ['Status', 'offline'],
        ]);
      const a = ctx.account(bundle);
      const { r } = await ctx.tryLogin(a);
      ctx.must(
        r?.event === 'error',
        'REC-3',
        `a records body of ${n} records (maxRecordsPerBody + 1) must be rejected, the login reported ${JSON.stringify(r)?.slice(0, 200)}`,
      );
    },
  },
  {
    id: 'client/registry/30',
    section: 'registry',
    title: 'a MSG inside a peer session without its To header is answered 422 ERR_MISSING_HEADER',
    reqs: ['REG-3', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, conn } = await ctx.buddySession();
      conn.send(buddyMsg(p.name, undefined, 'no To'));
      await expectSealedError(ctx, conn, 'ERR_MISSING_HEADER', 'a MSG without To');
    },
  },
  {
    id: 'client/registry/31',
    section: 'registry',
    title: 'a PING with a body inside a peer session is answered 422 ERR_UNEXPECTED_BODY',
    reqs: ['REG-7', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { conn } = await ctx.buddySession();
      conn.send(request('PING', [['Tag', 'b']], Buffer.from('body')));
      await expectSealedError(ctx, conn, 'ERR_UNEXPECTED_BODY', 'a PING with a body');
    },
  },
  {
    id: 'client/registry/32',
    section: 'registry',
    title: "a status the registry does not define, answering the client's MSG: the MSG is not taken as delivered",
    reqs: ['REG-8', 'P2P-1', 'CTL-2'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy();
      const sent = c.command(`send ${p.name} hello`, ctx.timeout * 4);
      const conn = await ctx.acceptFrom(p, a);
      ctx.pre(conn, 'P2P-1', 'the client opened no peer session');
      // 299 is in no registry: built by hand, since response() gives registered statuses only.
      conn.auto = (m): ResponseMessage | undefined =>
        m.method === 'MSG'
          ? {
              kind: 'response',
              status: 299,
              reason: 'Kit',
              headers: header(m, 'Tag') ? [['Tag', header(m, 'Tag')!]] : [],
              body: Buffer.alloc(0),
            }
          : undefined;
      const r = await sent;
      ctx.must(
        r?.event === 'error',
        'REG-8',
        `a MSG answered with the undefined status 299 must not count as delivered; send reported ${JSON.stringify(r)}`,
      );
    },
  },
  {
    id: 'client/registry/33',
    section: 'registry',
    title:
      'a SEALED without Seq on its peer address, before any session has keys, is answered 422 ERR_MISSING_HEADER and the connection goes on: an INIT on it then opens the session',
    reqs: ['REG-9', 'REG-3', 'ERR-1', 'WIRE-22', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a } = await ctx.withBuddy();
      const conn = await ctx.connect(ctx.clientAddress(a), `peer-${p.name}`);
      // [REG-9] the client goes on reading the connection, so a buddy's INIT on it opens the session.
      const code = await keylessSealedRefused(ctx, conn, { from: 'client', to: 'client' }, 'client');
      conn.send(buildInit(p.name, p.identity, a.name, a.identity.publicKey).msg);
      const ack = await conn.waitEvent((m) => m.method === 'INIT-ACK', ctx.timeout);
      ctx.must(
        ack,
        'REG-9',
        `after ${code} the connection must go on: a valid INIT from a buddy on it must be answered INIT-ACK, got ${conn.closed ? 'a close' : 'nothing'}`,
      );
    },
  },
  {
    id: 'client/text/1',
    section: 'text',
    title: 'setprofile with an About of maxTextValue + 1 characters: no PROFILE carries it',
    reqs: ['HDR-TEXT-1'],
    async run(ctx: ClientContext) {
      const a = ctx.account();
      const c = await ctx.startLoggedIn(a);
      const max = ctx.limits.get('maxTextValue');
      await c.command(`setprofile about ${'x'.repeat(max + 1)}`, ctx.timeout * 2);
      const long = ctx.msRequests(a, 'PROFILE').find((q) => [...(header(q.msg, 'About') ?? '')].length > max);
      ctx.must(
        !long,
        'HDR-TEXT-1',
        `the client sent PROFILE with an About of ${[...(long ? (header(long.msg, 'About') ?? '') : '')].length} characters (maxTextValue ${max})`,
      );
    },
  },
  {
    id: 'client/state/1',
    section: 'state',
    title:
      "a stray INIT-ACK opening a connection to the client's peer address (no INIT of the client's to accept): 425 ERR_OUT_OF_STATE in clear, then close, and no session",
    reqs: ['STATE-1', 'STATE-5', 'CTL-2'],
    async run(ctx: ClientContext) {
      const { p, a, c } = await ctx.withBuddy();
      // A well-formed INIT-ACK from the buddy, signed with its key, accepting an INIT the client never
      // sent on this connection (one the kit made in the client's name): valid on the link, but the
      // listener's machine has no transition for it before an INIT [§12.5 Peer-to-peer session (at each client)].
      const { msg: init } = buildInit(a.name, a.identity, p.name, p.identity.publicKey);
      const opened = openInit(init, p.identity, (u) => (u === a.name ? a.identity.publicKey : undefined));
      if ('error' in opened) throw new Error(`the kit could not open its own INIT: ${opened.error}`); // a kit bug
      const conn = await ctx.connect(ctx.clientAddress(a), `peer-${p.name}`);
      conn.send(buildInitAck(opened, p.identity).msg);
      const what = 'an INIT-ACK with no INIT to answer';
      const r = await conn.nextResponse(ctx.timeout, `the refusal of ${what}`).catch(() => null);
      ctx.must(r, 'STATE-1', `${what} must be answered 425 ERR_OUT_OF_STATE, got nothing`);
      ctx.must(
        r.status === 425,
        'STATE-1',
        `${what} must be answered 425 ERR_OUT_OF_STATE, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
      );
      ctx.should(
        header(r, 'Error-code') === 'ERR_OUT_OF_STATE',
        'STATE-1',
        `${what}: Error-code ${header(r, 'Error-code')}`,
      );
      // [STATE-5] before the handshake completes, the 425 (in clear: no keys exist) closes the connection;
      // at once, not by the handshake timeout [CONN-4], which would close it anyway.
      const soon = Math.min(ctx.timeout, ctx.limits.get('handshakeTimeout') / 2);
      ctx.must(
        await conn.closedWithin(soon),
        'STATE-5',
        `after refusing ${what} the client must close the connection; it was still open ${soon} ms later`,
      );
      const s = await c.command('sessions', ctx.timeout);
      ctx.must(
        s?.event === 'ok' && !(s.sessions as string[] | undefined)?.includes(p.name),
        'STATE-1',
        `a stray INIT-ACK must not open a session; sessions says ${JSON.stringify(s)}`,
      );
    },
  },
];
