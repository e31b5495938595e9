// [§9.8 PASSWD], client side: the client checks the current password against its key blob before it sends
// anything, and what it sends is a verifier of the new password under a fresh Salt and the same private keys
// re-sealed under the new password with a fresh salt and iv. The kit, as the MS, recomputes both.
import { randomBytes } from 'node:crypto';
import { header } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext } from '../../lib/client-context.js';
import { b64, headerOctets, openKeyBlob, safeEqual, scramKeys } from '../../lib/crypto.js';

/** salt and iv of a key blob `v1.SALT.LOG2N.IV.CT` ([§6.5 Identity Keys and the Sealed Key Blob]), or null when it is not one. */
const blobParts = (blob: string): { salt: string; iv: string } | null => {
  const m = /^v1\.([A-Za-z0-9_-]+)\.[0-9]{1,2}\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+$/.exec(blob);
  return m ? { salt: m[1]!, iv: m[2]! } : null;
};

export const clientPasswdCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/passwd/1',
    section: 'passwd',
    title: 'passwd with a wrong current password: the key blob does not open, the command fails and no PASSWD is sent',
    reqs: ['PASSWD-1'],
    async run(ctx: ClientContext) {
      const a = ctx.account();
      const c = await ctx.startLoggedIn(a);
      const wrong = `${a.password}x`;
      const r = await c.command(`passwd ${wrong} ${b64(randomBytes(9))}`, ctx.timeout * 4);
      ctx.must(
        r?.event === 'error',
        'PASSWD-1',
        `the current password given does not open the key blob: passwd must fail, the client reported ${JSON.stringify(r)}`,
      );
      ctx.must(
        ctx.msRequests(a, 'PASSWD').length === 0,
        'PASSWD-1',
        'the client sent PASSWD although the current password it was given does not open its key blob',
      );
    },
  },
  {
    id: 'client/passwd/2',
    section: 'passwd',
    title:
      'passwd: a verifier of the new password under a fresh Salt, and the same private keys re-sealed under it with a fresh salt and iv',
    reqs: ['PASSWD-2', 'PASSWD-1'],
    async run(ctx: ClientContext) {
      const a = ctx.account();
      const c = await ctx.startLoggedIn(a);
      const fresh = b64(randomBytes(9));
      const r = await c.command(`passwd ${a.password} ${fresh}`, ctx.timeout * 10);
      const sent = ctx.msRequests(a, 'PASSWD')[0]?.msg;
      ctx.must(
        sent,
        'PASSWD-1',
        `the current password opens the key blob: the client must send PASSWD (it reported ${JSON.stringify(r)})`,
      );
      ctx.must(r?.event === 'ok', 'PASSWD-2', `PASSWD was answered 200, yet passwd reported ${JSON.stringify(r)}`);
      const salt = headerOctets(sent, 'Salt');
      const iterations = Number(header(sent, 'Iterations'));
      ctx.must(
        salt.length >= 16 && !safeEqual(salt, a.salt),
        'PASSWD-2',
        `the new verifier must have a fresh Salt of at least 16 octets (got ${salt.length} octets${safeEqual(salt, a.salt) ? ', the old Salt' : ''})`,
      );
      ctx.must(
        Number.isSafeInteger(iterations) && iterations >= ctx.limits.get('scramMinIterations'),
        'PASSWD-2',
        `Iterations ${header(sent, 'Iterations')} is below scramMinIterations`,
      );
      // Bounded before PBKDF2 runs: the kit does not let a client make it work without end.
      ctx.must(
        iterations <= ctx.limits.get('scramMaxIterations'),
        'PASSWD-2',
        `Iterations ${iterations} is above scramMaxIterations`,
      );
      const k = scramKeys(fresh, salt, iterations);
      ctx.must(
        safeEqual(headerOctets(sent, 'Stored-key'), k.storedKey) &&
          safeEqual(headerOctets(sent, 'Server-key'), k.serverKey),
        'PASSWD-2',
        'Stored-key and Server-key are not the SCRAM verifier of the new password under the Salt and Iterations sent',
      );
      const blob = header(sent, 'Key-blob') ?? '';
      const id = openKeyBlob(fresh, a.name, blob, 'PASSWD');
      ctx.must(id, 'PASSWD-2', 'the new Key-blob does not open with the new password');
      ctx.must(
        id.publicKey === a.identity.publicKey,
        'PASSWD-2',
        'the new Key-blob holds other private keys than the old one: the same keys must be re-sealed',
      );
      const before = blobParts(a.keyBlob);
      const after = blobParts(blob);
      ctx.must(
        before && after && after.salt !== before.salt && after.iv !== before.iv,
        'PASSWD-2',
        'the re-sealed key blob must have a fresh salt and a fresh iv',
      );
    },
  },
];
