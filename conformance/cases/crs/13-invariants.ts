// Section "invariants" [§13 Invariants], CRS side: what a wire peer can see of the invariants that
// the CRS alone keeps. [INV-8] a holder whose lock lease expired cannot act, even on a live link and
// even when nobody else took the lock; its UNLOCK of what already expired is a 200 no-op [LOCK-8]
// (Appendix A.2), until another grant moves the epoch on.
import { header, type ResponseMessage } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { CrsContext } from '../../lib/crs-context.js';
import { checkError } from '../../lib/wire-target.js';

export const invariantCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/inv/1',
    section: 'inv',
    title:
      'a holder whose lock lease expired cannot act on its live link: ONLINE, STATUS and session requests get 410, its UNLOCK is a 200 no-op, and after a new grant even its UNLOCK and OFFLINE get 410',
    reqs: ['INV-8', 'LOCK-8', 'LOCK-6', 'LOCK-11', 'LOCK-3', 'LOCK-4', 'LOGOUT-5', 'ERR-1'],
    async run(ctx: CrsContext) {
      const [alice, bob] = await ctx.users(2);
      const stale = await ctx.enroll();
      const lock = await stale.req('LOCK', [['User', alice!.name]]);
      ctx.preStatus(lock, 200, 'LOCK-4', 'LOCK of an offline user');
      const epoch = header(lock, 'Epoch') ?? '';
      const lease = Number(header(lock, 'Lease') ?? ctx.limits.get('lockLease'));
      if (lease > 5000 && !ctx.opts.slow)
        ctx.skip(`the lock lease is ${lease} ms; pass --slow or --set lockLease=N matching the target`);
      // The stale holder keeps its link alive (the kit's MS heartbeats) while its lock runs out.
      await new Promise((res) => setTimeout(res, lease + 20));
      const as = (method: string, extra: [string, string][] = []): Promise<ResponseMessage> =>
        stale.req(method, [['User', alice!.name], ['Epoch', epoch], ...extra]);
      const after = `${lease + 20} ms after a LOCK with a lease of ${lease} ms, nobody else holding it`;
      // [INV-8] every write of the expired holder is refused 410, though no other MS took the lock.
      checkError(
        ctx,
        await as('ONLINE', [
          ['Address', '127.0.0.1:30998'],
          ['Status', 'online'],
        ]),
        'ERR_STALE_EPOCH',
        `ONLINE ${after}`,
        'INV-8',
      );
      checkError(ctx, await as('STATUS', [['Status', 'away']]), 'ERR_STALE_EPOCH', `STATUS ${after}`, 'INV-8');
      const addAs = await stale.req('ADD', [
        ['From', alice!.name],
        ['To', bob!.name],
        ['Epoch', epoch],
      ]);
      checkError(ctx, addAs, 'ERR_STALE_EPOCH', `ADD for the user ${after}`, 'INV-8');
      // [LOCK-8] its UNLOCK finds the record offline at its own epoch: 200, and nothing changes.
      ctx.expectStatus(await as('UNLOCK'), 200, 'LOCK-8', `UNLOCK ${after} (the record is offline at that epoch)`);
      // A second MS can take the lock at once: the expiry freed it [LOCK-3], the UNLOCK did not bring
      // it back, and the new grant raises the epoch [LOCK-4].
      const fresh = await ctx.enroll();
      const relock = await fresh.req('LOCK', [['User', alice!.name]]);
      ctx.expectStatus(relock, 200, 'LOCK-3', `LOCK from another MS ${after} and the stale UNLOCK`);
      const epoch2 = header(relock, 'Epoch') ?? '';
      ctx.must(Number(epoch2) > Number(epoch), 'LOCK-4', `the new grant must raise the epoch: ${epoch} then ${epoch2}`);
      // [INV-8] [LOCK-6] now the old epoch acts on nothing at all: not even its clean-up gets 200.
      checkError(ctx, await as('UNLOCK'), 'ERR_STALE_EPOCH', 'UNLOCK with the old epoch after a new grant', 'INV-8');
      checkError(ctx, await as('OFFLINE'), 'ERR_STALE_EPOCH', 'OFFLINE with the old epoch after a new grant', 'INV-8');
      checkError(
        ctx,
        await as('ONLINE', [
          ['Address', '127.0.0.1:30998'],
          ['Status', 'online'],
        ]),
        'ERR_STALE_EPOCH',
        'ONLINE with the old epoch after a new grant',
        'INV-8',
      );
      // The new holder's lock is intact: its ONLINE goes through.
      const online = await fresh.req('ONLINE', [
        ['User', alice!.name],
        ['Epoch', epoch2],
        ['Address', '127.0.0.1:30997'],
        ['Status', 'online'],
      ]);
      ctx.expectStatus(online, 200, 'INV-8', "the new holder's ONLINE after the stale holder's attempts");
      ctx.expectStatus(
        await fresh.req('OFFLINE', [
          ['User', alice!.name],
          ['Epoch', epoch2],
        ]),
        200,
        'LOGOUT-5',
        'OFFLINE of the new session',
      );
    },
  },
];
