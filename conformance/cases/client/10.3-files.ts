// Section "files as MIME" [§10.3 Files as MIME], client side: the chunks the client sends, and its checks as a
// receiver (size, order, digest, file name); a refused chunk does not end the session.
import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import {
  header,
  request,
  response,
  type Header,
  type RequestMessage,
  type ResponseMessage,
} from '../../../codec/index.js';
import type { CaseDef } from '../../lib/case.js';
import type { ClientContext } from '../../lib/client-context.js';
import type { Conn } from '../../lib/conn.js';
import { textMsg } from '../../lib/p2p.js';
import { errorSpec } from '../../lib/registry.js';
import { HEADER_VALIDATORS } from '../../../generated/validators.js';

const digestOf = (b: Buffer): string => `sha-256=${createHash('sha256').update(b).digest('base64url')}`;

interface KitFile {
  name: string;
  data: Buffer;
  fileId?: string;
  /** Overrides of the announcement (a lie about size, count or digest). */
  size?: number;
  count?: number;
  digest?: string;
}

/** The chunk MSG `index` of a file the kit peer `from` sends to `to`, with the given body. */
function chunkMsg(
  from: string,
  to: string,
  f: KitFile,
  index: number,
  body: Buffer,
  chunkSize: number,
): RequestMessage {
  const size = f.size ?? f.data.length;
  const count = f.count ?? Math.max(1, Math.ceil(size / chunkSize));
  const hs: Header[] = [
    ['From', from],
    ['To', to],
    ['Content-type', 'application/octet-stream'],
    ['Content-disposition', `attachment; filename="${f.name}"`],
    ['File-id', f.fileId ?? randomBytes(9).toString('base64url')],
    ['File-size', String(size)],
    ['Chunk', `${index}/${count}`],
    ['Digest', f.digest ?? digestOf(f.data)],
  ];
  return request('MSG', hs, body);
}

/** Send every chunk of `f` in order; the answers, stopping at the first that is not 200. */
async function sendFile(
  ctx: ClientContext,
  conn: Conn,
  from: string,
  to: string,
  f: KitFile,
): Promise<ResponseMessage[]> {
  const cs = ctx.limits.get('fileChunkSize');
  const file = { ...f, fileId: f.fileId ?? randomBytes(9).toString('base64url') };
  const out: ResponseMessage[] = [];
  const n = Math.max(1, Math.ceil(f.data.length / cs));
  for (let i = 0; i < n; i++) {
    const r = await conn.request(
      chunkMsg(from, to, file, i, f.data.subarray(i * cs, (i + 1) * cs), cs),
      ctx.timeout * 2,
    );
    out.push(r);
    if (r.status !== 200) break;
  }
  return out;
}

function expectRefused(
  ctx: ClientContext,
  r: ResponseMessage | undefined,
  status: number,
  code: string,
  req: string,
  what: string,
): void {
  ctx.must(r, req, `${what}: no answer`);
  ctx.must(
    r.status === status,
    req,
    `${what} must be refused ${status} ${code}, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
  );
  ctx.should(
    header(r, 'Error-code') === code,
    req,
    `${what}: expected Error-code ${code}, got ${header(r, 'Error-code')}`,
  );
}

/** After a refused chunk the session goes on: a text MSG is answered 200 and delivered [MSG-4]. */
async function sessionGoesOn(ctx: ClientContext, conn: Conn, from: string, to: string): Promise<void> {
  const text = `still here ${randomBytes(3).toString('hex')}`;
  const r = await conn.request(textMsg(from, to, text), ctx.timeout).catch(() => null);
  ctx.must(
    r?.status === 200,
    'MSG-4',
    `a refused chunk must not end the session: a text MSG after it got ${r ? r.status : 'no answer'}`,
  );
  ctx.must(
    await ctx.client!.waitFor((e) => e.event === 'message' && e.text === text, ctx.timeout),
    'MSG-3',
    'a text/plain; charset=utf-8 MSG must be accepted and delivered',
  );
}

/** A text MSG carrying one header of a chunk announcement but not the rest is a chunk missing its
 * headers: refused 422 [FILE-1], not delivered as text, and the session goes on. */
async function strayChunkHeaderRefused(ctx: ClientContext, extra: Header, what: string): Promise<void> {
  const { p, a, c, conn } = await ctx.buddySession();
  const text = `stray ${randomBytes(3).toString('hex')}`;
  const r = await conn.request(textMsg(p.name, a.name, text, [extra]), ctx.timeout);
  // A MSG with one header of a chunk is a chunk, and lacks the others [FILE-7].
  ctx.must(
    r.status === 422 && header(r, 'Error-code') === 'ERR_MISSING_HEADER',
    'FILE-7',
    `${what} must be refused 422 ERR_MISSING_HEADER, got ${r.status} ${header(r, 'Error-code') ?? ''}`,
  );
  ctx.must(
    !(await c.waitFor((e) => e.event === 'message' && e.text === text, 300)),
    'FILE-7',
    `${what} must not be delivered as a text message`,
  );
  await sessionGoesOn(ctx, conn, p.name, a.name);
}

export const clientFileCases: CaseDef<ClientContext>[] = [
  {
    id: 'client/files/1',
    section: 'files',
    title:
      'sendfile: every chunk repeats Content-type, attachment filename, File-id, File-size, count and the SHA-256 Digest; chunks go in order from 0, all but the last exactly fileChunkSize',
    reqs: ['FILE-1', 'FILE-2', 'FILE-4', 'P2P-1', 'CTL-2'],
    async run(ctx: ClientContext) {
      const cs = ctx.limits.get('fileChunkSize');
      const data = randomBytes(cs + 1234);
      const path = join(tmpdir(), `kit-${randomBytes(4).toString('hex')}.bin`);
      writeFileSync(path, data);
      try {
        const { p, a, c } = await ctx.withBuddy();
        const done = c.command(`sendfile ${p.name} ${path}`, ctx.timeout * 6);
        const conn = await ctx.acceptFrom(p, a);
        ctx.must(conn, 'P2P-1', 'the client did not connect to the buddy to send the file');
        const r = await done;
        ctx.must(r?.event === 'ok', 'CTL-2', `sendfile failed: ${JSON.stringify(r)}`);
        const chunks = conn.received
          .filter((m) => m.msg.kind === 'request' && m.msg.method === 'MSG')
          .map((m) => m.msg as RequestMessage);
        ctx.must(
          chunks.length === 2,
          'FILE-2',
          `a file of ${data.length} octets must go as 2 chunks, got ${chunks.length}`,
        );
        const same = ['Content-type', 'Content-disposition', 'File-id', 'File-size', 'Digest'];
        for (const h of same)
          ctx.must(
            chunks.every((m) => header(m, h) !== undefined && header(m, h) === header(chunks[0]!, h)),
            'FILE-1',
            `every chunk must carry the same ${h}: ${chunks.map((m) => header(m, h)).join(' | ')}`,
          );
        ctx.must(
          /^attachment;\s*filename="?[^"]*\.bin"?/.test(header(chunks[0]!, 'Content-disposition') ?? ''),
          'FILE-1',
          `Content-disposition must be an attachment with the file name, got ${header(chunks[0]!, 'Content-disposition')}`,
        );
        ctx.must(
          header(chunks[0]!, 'File-size') === String(data.length),
          'FILE-1',
          `File-size ${header(chunks[0]!, 'File-size')}, the file has ${data.length}`,
        );
        ctx.must(
          header(chunks[0]!, 'Digest') === digestOf(data),
          'FILE-1',
          `Digest ${header(chunks[0]!, 'Digest')} is not the SHA-256 of the file`,
        );
        ctx.must(
          chunks.map((m) => header(m, 'Chunk')).join(',') === '0/2,1/2',
          'FILE-4',
          `chunks must go in index order from 0: ${chunks.map((m) => header(m, 'Chunk')).join(',')}`,
        );
        ctx.must(
          chunks[0]!.body.length === cs && chunks[1]!.body.length === data.length - cs,
          'FILE-2',
          `chunk sizes ${chunks.map((m) => m.body.length).join(',')}: all but the last must be exactly ${cs}`,
        );
        ctx.must(
          Buffer.concat(chunks.map((m) => m.body)).equals(data),
          'FILE-1',
          'the chunks do not add up to the file',
        );
      } finally {
        rmSync(path, { force: true });
      }
    },
  },
  {
    id: 'client/files/2',
    section: 'files',
    title:
      'a file whose name carries a path is stored under its last path component, and a second file of the same name does not overwrite the first',
    reqs: ['FILE-6', 'FILE-5', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      const leaf = `kit-${randomBytes(3).toString('hex')}.bin`;
      const files: { path: string; size: number }[] = [];
      for (const size of [ctx.limits.get('fileChunkSize') + 10, 77]) {
        const f: KitFile = { name: `../../${leaf}`, data: randomBytes(size) };
        const rs = await sendFile(ctx, conn, p.name, a.name, f);
        ctx.must(
          rs.every((r) => r.status === 200),
          'FILE-5',
          `a whole file with the right Digest must be taken: ${rs.map((r) => `${r.status} ${header(r, 'Error-code') ?? ''}`).join(', ')}`,
        );
        const ev = await c.waitFor((e) => e.event === 'file' && e.size === size, ctx.timeout);
        ctx.must(ev, 'FILE-5', 'the client did not report the received file');
        files.push({ path: String(ev.path), size });
      }
      for (const f of files) {
        ctx.must(
          !f.path.split(/[\\/]/).includes('..') && basename(f.path).includes(leaf.slice(0, -4)),
          'FILE-6',
          `the file name must be reduced to its last path component, it was stored at ${f.path}`,
        );
      }
      ctx.must(
        files[0]!.path !== files[1]!.path,
        'FILE-6',
        `a second file of the same name overwrote the first (${files[0]!.path})`,
      );
      for (const f of files) rmSync(f.path, { force: true });
    },
  },
  {
    id: 'client/files/3',
    section: 'files',
    title:
      'a first chunk announcing more than maxFileSize is refused 413 ERR_LIMIT; the session goes on and takes text',
    reqs: ['FILE-3', 'MSG-4', 'MSG-3', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, conn } = await ctx.buddySession();
      const cs = ctx.limits.get('fileChunkSize');
      const size = ctx.limits.get('maxFileSize') + 1;
      const f: KitFile = { name: 'big.bin', data: randomBytes(cs), size };
      const r = await conn.request(chunkMsg(p.name, a.name, f, 0, f.data, cs), ctx.timeout * 2);
      expectRefused(ctx, r, 413, 'ERR_LIMIT', 'FILE-3', `a File-size of ${size} (above maxFileSize)`);
      await sessionGoesOn(ctx, conn, p.name, a.name);
    },
  },
  {
    id: 'client/files/4',
    section: 'files',
    title: 'a chunk of a File-id whose chunk 0 never came, and a chunk out of order, are refused 422 ERR_BAD_VALUE',
    reqs: ['FILE-4', 'MSG-4', 'MSG-3', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      const cs = ctx.limits.get('fileChunkSize');
      const data = randomBytes(2 * cs + 5);
      const orphan: KitFile = { name: 'orphan.bin', data, fileId: 'kit-orphan' };
      const r1 = await conn.request(
        chunkMsg(p.name, a.name, orphan, 1, data.subarray(cs, 2 * cs), cs),
        ctx.timeout * 2,
      );
      expectRefused(ctx, r1, 422, 'ERR_BAD_VALUE', 'FILE-4', 'chunk 1 of a File-id with no chunk 0');
      const skip: KitFile = { name: 'skip.bin', data, fileId: 'kit-skip' };
      const r2 = await conn.request(chunkMsg(p.name, a.name, skip, 0, data.subarray(0, cs), cs), ctx.timeout * 2);
      ctx.must(r2.status === 200, 'FILE-4', `chunk 0 of a good file must be taken, got ${r2.status}`);
      const r3 = await conn.request(chunkMsg(p.name, a.name, skip, 2, data.subarray(2 * cs), cs), ctx.timeout * 2);
      expectRefused(ctx, r3, 422, 'ERR_BAD_VALUE', 'FILE-4', 'chunk 2 after chunk 0 (chunk 1 skipped)');
      ctx.must(
        !(await c.waitFor((e) => e.event === 'file', 300)),
        'FILE-4',
        'a transfer with a chunk out of order must be abandoned, yet the client reported a file',
      );
      await sessionGoesOn(ctx, conn, p.name, a.name);
    },
  },
  {
    id: 'client/files/5',
    section: 'files',
    title:
      'a file whose chunks do not hash to its Digest: the last chunk is refused 422 ERR_BAD_VALUE and no file is kept',
    reqs: ['FILE-5', 'MSG-4', 'MSG-3', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      const data = randomBytes(ctx.limits.get('fileChunkSize') + 99);
      const rs = await sendFile(ctx, conn, p.name, a.name, {
        name: 'bad-digest.bin',
        data,
        digest: digestOf(randomBytes(8)),
      });
      ctx.must(
        rs.length === 2 && rs[0]!.status === 200,
        'FILE-5',
        `the digest is checked after the last chunk: chunk 0 got ${rs[0]?.status}`,
      );
      expectRefused(
        ctx,
        rs[1],
        422,
        'ERR_BAD_VALUE',
        'FILE-5',
        'the last chunk of a file that does not match its Digest',
      );
      ctx.must(
        !(await c.waitFor((e) => e.event === 'file', 300)),
        'FILE-5',
        'a file that does not match its Digest must be discarded',
      );
      await sessionGoesOn(ctx, conn, p.name, a.name);
    },
  },
  {
    id: 'client/files/6',
    section: 'files',
    title:
      'a chunk count that does not follow from File-size, and a chunk shorter than fileChunkSize that is not the last, are refused 422 ERR_BAD_VALUE',
    reqs: ['FILE-2', 'MSG-4', 'MSG-3', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, conn } = await ctx.buddySession();
      const cs = ctx.limits.get('fileChunkSize');
      const data = randomBytes(cs + 50);
      const badCount: KitFile = { name: 'count.bin', data, count: 3 };
      const r1 = await conn.request(chunkMsg(p.name, a.name, badCount, 0, data.subarray(0, cs), cs), ctx.timeout * 2);
      expectRefused(ctx, r1, 422, 'ERR_BAD_VALUE', 'FILE-2', `a count of 3 chunks for ${data.length} octets`);
      const short: KitFile = { name: 'short.bin', data };
      const r2 = await conn.request(chunkMsg(p.name, a.name, short, 0, data.subarray(0, cs - 1), cs), ctx.timeout * 2);
      expectRefused(ctx, r2, 422, 'ERR_BAD_VALUE', 'FILE-2', `chunk 0 of 2 with ${cs - 1} octets (not fileChunkSize)`);
      await sessionGoesOn(ctx, conn, p.name, a.name);
    },
  },
  {
    id: 'client/files/7',
    section: 'files',
    title: 'sendfile of an empty file sends one chunk 0/1 with File-size 0 and an empty body',
    reqs: ['FILE-2', 'FILE-1', 'P2P-1', 'CTL-2'],
    async run(ctx: ClientContext) {
      const path = join(tmpdir(), `kit-empty-${randomBytes(4).toString('hex')}.txt`);
      writeFileSync(path, Buffer.alloc(0));
      try {
        const { p, a, c } = await ctx.withBuddy();
        const done = c.command(`sendfile ${p.name} ${path}`, ctx.timeout * 4);
        const conn = await ctx.acceptFrom(p, a);
        ctx.must(conn, 'P2P-1', 'the client did not connect to the buddy to send the file');
        const r = await done;
        ctx.must(r?.event === 'ok', 'CTL-2', `sendfile failed: ${JSON.stringify(r)}`);
        const chunks = conn.received
          .filter((m) => m.msg.kind === 'request' && m.msg.method === 'MSG')
          .map((m) => m.msg as RequestMessage);
        ctx.must(
          chunks.length === 1 && header(chunks[0]!, 'Chunk') === '0/1' && chunks[0]!.body.length === 0,
          'FILE-2',
          `an empty file is one chunk 0/1 with no octets; got ${chunks.map((m) => `${header(m, 'Chunk')} (${m.body.length})`).join(', ') || 'no chunk'}`,
        );
        ctx.must(
          header(chunks[0]!, 'File-size') === '0',
          'FILE-1',
          `File-size ${header(chunks[0]!, 'File-size')} for an empty file`,
        );
        ctx.must(
          header(chunks[0]!, 'Digest') === digestOf(Buffer.alloc(0)),
          'FILE-1',
          'the Digest of an empty file is the SHA-256 of no octets',
        );
      } finally {
        rmSync(path, { force: true });
      }
    },
  },
  {
    id: 'client/files/8',
    section: 'files',
    title:
      'a MSG carrying File-id without the rest of a chunk announcement is refused 422 ERR_MISSING_HEADER and not delivered as text',
    reqs: ['FILE-7', 'MSG-4', 'MSG-3', 'P2P-9'],
    run: (ctx: ClientContext) =>
      strayChunkHeaderRefused(ctx, ['File-id', 'kit-partial'], 'a chunk without File-size, Chunk and Digest'),
  },
  {
    id: 'client/files/9',
    section: 'files',
    title:
      'sendfile of an .html file: every chunk carries a Content-type that is a media type (the registry value type), so that its buddy can take it',
    reqs: ['FILE-1', 'REG-6', 'P2P-1', 'CTL-2'],
    async run(ctx: ClientContext) {
      const data = Buffer.from('<!doctype html><title>kit</title><p>a page</p>\n');
      const path = join(tmpdir(), `kit-${randomBytes(4).toString('hex')}.html`);
      writeFileSync(path, data);
      try {
        const { p, a, c } = await ctx.withBuddy();
        const done = c.command(`sendfile ${p.name} ${path}`, ctx.timeout * 6);
        const conn = await ctx.acceptFrom(p, a);
        ctx.must(conn, 'P2P-1', 'the client did not connect to the buddy to send the file');
        const r = await done;
        ctx.must(r?.event === 'ok', 'CTL-2', `sendfile of an .html file failed: ${JSON.stringify(r)}`);
        const chunks = conn.received
          .filter((m) => m.msg.kind === 'request' && m.msg.method === 'MSG')
          .map((m) => m.msg as RequestMessage);
        ctx.must(
          chunks.length === 1,
          'FILE-1',
          `a file of ${data.length} octets must go as 1 chunk, got ${chunks.length}`,
        );
        const type = header(chunks[0]!, 'Content-type');
        // A receiver refuses a value outside its type 422 ERR_BAD_VALUE [REG-6]: the file would never arrive.
        ctx.must(
          type !== undefined && HEADER_VALIDATORS['Content-type'](type.trim()),
          'FILE-1',
          `the chunk of ${basename(path)} must carry a Content-type that is a media type (spec/registry/value-types.json mime-type), got ${JSON.stringify(type)}`,
        );
      } finally {
        rmSync(path, { force: true });
      }
    },
  },
  {
    id: 'client/files/10',
    section: 'files',
    title:
      'a text/plain MSG with an attachment Content-disposition but none of File-id, File-size, Chunk and Digest is a chunk missing its headers: refused 422 ERR_MISSING_HEADER, not delivered as text',
    reqs: ['FILE-7', 'MSG-4', 'MSG-3', 'P2P-9'],
    run: (ctx: ClientContext) =>
      strayChunkHeaderRefused(
        ctx,
        ['Content-disposition', 'attachment; filename="kit.txt"'],
        'an attachment without File-id, File-size, Chunk and Digest',
      ),
  },
  {
    id: 'client/files/11',
    section: 'files',
    title: 'a sendfile whose chunks the buddy refuses (413 ERR_LIMIT) fails with that code and status',
    reqs: ['CTL-3', 'CTL-2', 'FILE-3', 'P2P-1'],
    async run(ctx: ClientContext) {
      const cs = ctx.limits.get('fileChunkSize');
      const path = join(tmpdir(), `kit-${randomBytes(4).toString('hex')}.bin`);
      writeFileSync(path, randomBytes(cs + 100));
      try {
        const { p, a, c } = await ctx.withBuddy();
        const done = c.command(`sendfile ${p.name} ${path}`, ctx.timeout * 6);
        const conn = await ctx.acceptFrom(p, a);
        ctx.must(conn, 'P2P-1', 'the client did not connect to the buddy to send the file');
        // [FILE-3] a receiver refuses a File-size above its maxFileSize with 413 ERR_LIMIT on the first chunk.
        const limit = errorSpec('ERR_LIMIT');
        conn.auto = (req) => {
          const tag: Header[] = header(req, 'Tag') ? [['Tag', header(req, 'Tag')!]] : [];
          if (req.method === 'MSG') return response(limit.status, [...tag, ['Error-code', 'ERR_LIMIT']]);
          return req.method === 'PING' ? response(200, tag) : undefined;
        };
        const r = await done;
        ctx.must(r, 'CTL-2', 'sendfile got no result line');
        ctx.must(
          r.event === 'error' && r.code === 'ERR_LIMIT' && r.status === limit.status,
          'CTL-3',
          `a file whose first chunk the buddy refused ${limit.status} ERR_LIMIT must fail with that code and status, the client reported ${JSON.stringify(r)}`,
        );
      } finally {
        rmSync(path, { force: true });
      }
    },
  },
  {
    id: 'client/files/12',
    section: 'files',
    title:
      'a chunk without Chunk in the middle of a transfer is refused 422 ERR_MISSING_HEADER and the transfer goes on: the same chunk with Chunk is taken and the file completes',
    reqs: ['FILE-7', 'P2P-9'],
    async run(ctx: ClientContext) {
      const { p, a, c, conn } = await ctx.buddySession();
      const cs = ctx.limits.get('fileChunkSize');
      const data = randomBytes(cs + 37);
      const f: KitFile = { name: `kit-${randomBytes(3).toString('hex')}.bin`, data, fileId: 'kit-no-chunk' };
      const r0 = await conn.request(chunkMsg(p.name, a.name, f, 0, data.subarray(0, cs), cs), ctx.timeout * 2);
      ctx.must(r0.status === 200, 'FILE-7', `chunk 0 of a good file must be taken, got ${r0.status}`);
      const one = chunkMsg(p.name, a.name, f, 1, data.subarray(cs), cs);
      const noChunk = request(
        'MSG',
        one.headers.filter(([n]) => n !== 'Chunk'),
        one.body,
      );
      const r1 = await conn.request(noChunk, ctx.timeout * 2);
      ctx.must(
        r1.status === 422 && header(r1, 'Error-code') === 'ERR_MISSING_HEADER',
        'FILE-7',
        `a chunk without Chunk must be refused 422 ERR_MISSING_HEADER, got ${r1.status} ${header(r1, 'Error-code') ?? ''}`,
      );
      const r2 = await conn.request(one, ctx.timeout * 2);
      ctx.must(
        r2.status === 200,
        'FILE-7',
        `the refused chunk must leave the transfer going on: chunk 1 sent again with Chunk got ${r2.status} ${header(r2, 'Error-code') ?? ''}`,
      );
      const ev = await c.waitFor((e) => e.event === 'file' && e.size === data.length, ctx.timeout);
      ctx.must(ev, 'FILE-7', 'the file was not received whole after the refused chunk');
      rmSync(String(ev.path), { force: true });
    },
  },
];
