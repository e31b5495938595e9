import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  FileError,
  FileReceiver,
  LocalFileError,
  chunkHeaders,
  prepareFile,
  readChunks,
  safeFileName,
  type ChunkHeaders,
} from '../../reference/client/files.js';

const limits = { fileChunkSize: 1024, maxFileSize: 64 * 1024, maxActiveTransfers: 2 };

function toChunkHeaders(h: [string, string][]): ChunkHeaders {
  const get = (n: string) => h.find(([k]) => k === n)?.[1];
  return {
    contentType: get('Content-type') ?? '',
    disposition: get('Content-disposition'),
    fileId: get('File-id'),
    fileSize: get('File-size'),
    chunk: get('Chunk'),
    digest: get('Digest'),
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-files-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('[FILE-2] [FILE-5] a file of any size up to the limit arrives intact in chunks of at most fileChunkSize', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 5000 }), async (size) => {
      await withDir(async (dir) => {
        const data = Buffer.alloc(size, 0).map((_, i) => (i * 7 + size) & 0xff);
        const src = join(dir, 'in.bin');
        await writeFile(src, data);
        const file = await prepareFile(src, limits);
        const rx = new FileReceiver(join(dir, 'out'), limits);
        let i = 0;
        let last;
        for await (const body of readChunks(file, limits.fileChunkSize)) {
          assert.ok(body.length <= limits.fileChunkSize);
          last = await rx.chunk(toChunkHeaders(chunkHeaders(file, i++)), body);
          assert.ok(last.progress.done <= size);
        }
        assert.equal(i, file.chunks);
        assert.ok(last?.file);
        assert.deepEqual(await readFile(last.file.path), data);
        assert.equal(rx.active, 0);
      });
    }),
    { numRuns: 15 },
  );
});

test('[FILE-3] a file at exactly maxFileSize passes, one octet more is refused by sender and receiver', async () => {
  await withDir(async (dir) => {
    const src = join(dir, 'big.bin');
    await writeFile(src, Buffer.alloc(limits.maxFileSize + 1));
    await assert.rejects(
      prepareFile(src, limits),
      (e: unknown) => e instanceof FileError && e.code === 'ERR_LIMIT' && e.status === 413,
    );
    const rx = new FileReceiver(dir, limits);
    const h: ChunkHeaders = {
      contentType: 'application/octet-stream',
      fileId: 'f1',
      fileSize: String(limits.maxFileSize + 1),
      chunk: '0/65',
      digest: 'sha-256=' + 'A'.repeat(43),
    };
    await assert.rejects(
      rx.chunk(h, Buffer.alloc(10)),
      (e: unknown) => e instanceof FileError && e.code === 'ERR_LIMIT',
    );
    await writeFile(src, Buffer.alloc(limits.maxFileSize, 1));
    const file = await prepareFile(src, limits);
    let i = 0;
    let done;
    for await (const body of readChunks(file, limits.fileChunkSize))
      done = await rx.chunk(toChunkHeaders(chunkHeaders(file, i++)), body);
    assert.equal(done?.file?.size, limits.maxFileSize);
  });
});

test('[FILE-1] [FILE-2] [FILE-4] [FILE-5] out-of-order or inconsistent chunks, oversize chunks, excess octets and a wrong digest are refused and leave no file', async () => {
  await withDir(async (dir) => {
    const src = join(dir, 'a.txt');
    await writeFile(src, Buffer.alloc(3000, 65));
    const file = await prepareFile(src, limits);
    const out = join(dir, 'out');
    const rx = new FileReceiver(out, limits);
    const chunks: Buffer[] = [];
    for await (const b of readChunks(file, limits.fileChunkSize)) chunks.push(b);
    const hs = (i: number) => toChunkHeaders(chunkHeaders(file, i));
    await assert.rejects(rx.chunk(hs(1), chunks[1]), /unknown transfer/);
    await rx.chunk(hs(0), chunks[0]);
    await assert.rejects(rx.chunk(hs(2), chunks[2]), /out of order/);
    assert.equal(rx.active, 0);
    await rx.chunk(hs(0), chunks[0]);
    await assert.rejects(
      rx.chunk(hs(1), Buffer.alloc(limits.fileChunkSize + 1)),
      (e: unknown) => e instanceof FileError && e.status === 413,
    );
    const bad = { ...hs(0), digest: 'sha-256=' + 'B'.repeat(43) };
    await rx.chunk(bad, chunks[0]);
    await rx.chunk({ ...hs(1), digest: bad.digest }, chunks[1]);
    await assert.rejects(rx.chunk({ ...hs(2), digest: bad.digest }, chunks[2]), /Digest/);
    await assert.rejects(rx.chunk({ ...hs(0), chunk: '0/1' }, chunks[0]), /expected 3/);
    // [FILE-2] a short chunk that is not the last one is refused.
    await assert.rejects(rx.chunk(hs(0), chunks[0].subarray(1)), /expected 1024/);
    assert.deepEqual(
      (await readdir(out)).filter((n) => !n.startsWith('x')),
      [],
    );
  });
});

test('[FILE-7] a chunk missing one of its headers is refused ERR_MISSING_HEADER in the middle of a transfer, which goes on', async () => {
  await withDir(async (dir) => {
    const data = Buffer.alloc(2500).map((_, i) => i & 0xff);
    const src = join(dir, 'b.bin');
    await writeFile(src, data);
    const file = await prepareFile(src, limits);
    const rx = new FileReceiver(join(dir, 'out'), limits);
    const chunks: Buffer[] = [];
    for await (const b of readChunks(file, limits.fileChunkSize)) chunks.push(b);
    const hs = (i: number) => toChunkHeaders(chunkHeaders(file, i));
    await rx.chunk(hs(0), chunks[0]);
    for (const missing of ['fileId', 'fileSize', 'chunk', 'digest'] as const) {
      await assert.rejects(
        rx.chunk({ ...hs(1), [missing]: undefined }, chunks[1]),
        (e: unknown) => e instanceof FileError && e.status === 422 && e.code === 'ERR_MISSING_HEADER',
        `a chunk without ${missing}`,
      );
      assert.equal(rx.active, 1, `a chunk without ${missing} must leave the transfer in progress`);
    }
    await rx.chunk(hs(1), chunks[1]);
    const last = await rx.chunk(hs(2), chunks[2]);
    assert.ok(last.file);
    assert.deepEqual(await readFile(last.file.path), data);
  });
});

test('[FILE-4] transfers at once per session are bounded; close removes partial files', async () => {
  await withDir(async (dir) => {
    const rx = new FileReceiver(dir, limits);
    const h = (id: string): ChunkHeaders => ({
      contentType: 'text/plain',
      fileId: id,
      fileSize: '2000',
      chunk: '0/2',
      digest: 'sha-256=' + 'A'.repeat(43),
    });
    await rx.chunk(h('a'), Buffer.alloc(1024));
    await rx.chunk(h('b'), Buffer.alloc(1024));
    await assert.rejects(rx.chunk(h('c'), Buffer.alloc(1024)), /too many/);
    await rx.close();
    assert.deepEqual(await readdir(dir), []);
  });
});

test('[FILE-6] file names are made safe for the disposition header and the download directory', () => {
  assert.equal(safeFileName('../../etc/passwd'), 'passwd');
  assert.equal(safeFileName('a"b\\c.txt'), 'c.txt');
  assert.equal(safeFileName('quo"te.txt'), 'quo_te.txt');
  assert.equal(safeFileName('.hidden'), '_hidden');
  assert.equal(safeFileName('é.txt'), '_.txt');
  fc.assert(
    fc.property(fc.string(), (s) => /^[ !#-[\]-~]{1,255}$/.test(safeFileName(s))),
    { numRuns: 200 },
  );
});

test('[FILE-6] a received file never overwrites an existing one', async () => {
  await withDir(async (dir) => {
    const src = join(dir, 'same.txt');
    const out = join(dir, 'out');
    const rx = new FileReceiver(out, limits);
    const paths: string[] = [];
    for (const text of ['first', 'second']) {
      await writeFile(src, text);
      const file = await prepareFile(src, limits);
      const r = await rx.chunk(toChunkHeaders(chunkHeaders(file, 0)), Buffer.from(text));
      paths.push(r.file!.path);
    }
    assert.notEqual(paths[0], paths[1]);
    assert.equal(await readFile(paths[0], 'utf8'), 'first');
    assert.equal(await readFile(paths[1], 'utf8'), 'second');
    assert.match(paths[1], /same \(1\)\.txt$/);
  });
});

test('[CTL-3] a file that cannot be sent from here is a LocalFileError with the file system code, not a protocol error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'imsp-files-local-'));
  try {
    await assert.rejects(prepareFile(join(dir, 'missing.txt'), limits), (e: unknown) => {
      assert.ok(e instanceof LocalFileError, String(e));
      assert.equal(e.code, 'ENOENT');
      return true;
    });
    await assert.rejects(prepareFile(dir, limits), { name: 'LocalFileError', code: 'EISDIR' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
