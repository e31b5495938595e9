// [§9.8 PASSWD], CRS side: the verifier and the key blob replaced together, the bounds on both,
// and the session going on with the new password applying from the next login.
import { header } from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { CrsContext } from '../../lib/crs-context.js';
import { checkError } from '../../lib/wire-target.js';

export const passwdCases: CaseDef<CrsContext>[] = [
  {
    id: 'crs/passwd/1',
    section: 'passwd',
    title:
      'PASSWD replaces verifier and key blob together (the next LOCK and ONLINE carry the new ones), keeps the session, and refuses Iterations below the minimum or a bad log2N',
    reqs: ['PASSWD-3', 'PASSWD-4', 'LOCK-6', 'ERR-1', 'WIRE-22'],
    async run(ctx: CrsContext) {
      const [alice] = await ctx.users(1);
      const ms = await ctx.enroll();
      const sa = await ctx.login(ms, alice!);
      const fresh = ctx.makeUser(alice!.name);
      const passwd = (change: Record<string, string> = {}, epoch = sa.epoch) =>
        ms.req(
          'PASSWD',
          (
            [
              ['User', alice!.name],
              ['Epoch', epoch],
              ['Salt', fresh.salt],
              ['Iterations', String(fresh.iterations)],
              ['Stored-key', fresh.storedKey],
              ['Server-key', fresh.serverKey],
              ['Key-blob', fresh.keyBlob],
            ] as [string, string][]
          ).map(([n, v]): [string, string] => [n, change[n] ?? v]),
        );
      const min = ctx.limits.get('scramMinIterations');
      checkError(
        ctx,
        await passwd({ Iterations: String(min - 1) }),
        'ERR_BAD_VALUE',
        `PASSWD with Iterations ${min - 1}`,
        'PASSWD-3',
      );
      const parts = fresh.keyBlob.split('.');
      parts[2] = '21';
      checkError(
        ctx,
        await passwd({ 'Key-blob': parts.join('.') }),
        'ERR_BAD_VALUE',
        'PASSWD with a key blob of log2N 21',
        'PASSWD-3',
      );
      checkError(
        ctx,
        await passwd({}, String(Number(sa.epoch) + 3)),
        'ERR_STALE_EPOCH',
        'PASSWD with a stale epoch',
        'LOCK-6',
      );
      ctx.expectStatus(await passwd(), 200, 'PASSWD-3', 'PASSWD');
      ctx.expectStatus(
        await ms.req('STATUS', [
          ['User', alice!.name],
          ['Epoch', sa.epoch],
          ['Status', 'away'],
        ]),
        200,
        'PASSWD-4',
        'STATUS in the same session after PASSWD',
      );
      await ctx.logout(sa);
      const lock = await ms.req('LOCK', [['User', alice!.name]]);
      ctx.expectStatus(lock, 200, 'PASSWD-3', 'LOCK after PASSWD');
      const got = ['Salt', 'Iterations', 'Stored-key', 'Server-key'].map((n) => header(lock, n));
      const want = [fresh.salt, String(fresh.iterations), fresh.storedKey, fresh.serverKey];
      ctx.must(
        got.join() === want.join(),
        'PASSWD-3',
        `the LOCK after PASSWD must carry the new verifier (Salt, Iterations, Stored-key, Server-key), got ${got.join(', ')}`,
      );
      const online = await ms.req('ONLINE', [
        ['User', alice!.name],
        ['Epoch', header(lock, 'Epoch') ?? ''],
        ['Address', '127.0.0.1:30998'],
        ['Status', 'online'],
      ]);
      ctx.expectStatus(online, 200, 'PASSWD-3', 'ONLINE after PASSWD');
      ctx.must(
        header(online, 'Key-blob') === fresh.keyBlob,
        'PASSWD-3',
        'the login bundle after PASSWD must carry the new Key-blob with the new verifier',
      );
    },
  },
];
