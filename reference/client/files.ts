// Files as MIME over MSG [§10.2 MSG] [§10.3 Files as MIME]: the sender cuts a file into chunks of at most
// fileChunkSize octets, each sent as one MSG carrying Content-disposition (attachment; filename),
// File-id, File-size, Chunk (i/n) and Digest (sha-256 of the whole file). The receiver checks the
// announced size against maxFileSize, each chunk's size and order, and the digest at the end.
//
// Nothing here holds a whole file in memory: the sender reads chunk by chunk, the receiver writes
// each chunk to a temporary file in its download directory and hashes as it goes, so memory per
// transfer is one chunk, and the number of transfers at once per peer session is bounded.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Header } from './contacts.js';

/** Limits a transfer obeys; defaults come from spec/registry/limits.json. */
export interface FileLimits {
  fileChunkSize: number;
  maxFileSize: number;
  /** Incoming transfers one peer session may have open at once. */
  maxActiveTransfers: number;
}

/** A refusal of a chunk, with the registry's error code and status. */
export class FileError extends Error {
  constructor(
    readonly code: 'ERR_LIMIT' | 'ERR_BAD_VALUE' | 'ERR_MISSING_HEADER',
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'FileError';
  }
}

/**
 * A file this client cannot send (missing, a directory, unreadable, changed while read): the user's
 * own trouble, not a protocol error, so it carries no code of the error registry [CTL-3] and the
 * terminal client says it in words. `code` is the file system's (ENOENT, EISDIR, EACCES, ...), or
 * ENOTFILE (not a regular file) or ECHANGED.
 */
export class LocalFileError extends Error {
  constructor(
    readonly code: string,
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'LocalFileError';
  }
}

/** The file system's error as a LocalFileError; anything else unchanged. */
function local(e: unknown, path: string): unknown {
  const x = e as NodeJS.ErrnoException;
  return typeof x?.code === 'string' && /^E[A-Z]+$/.test(x.code) ? new LocalFileError(x.code, path, x.message) : e;
}

const badValue = (m: string) => new FileError('ERR_BAD_VALUE', 422, m);

export interface OutgoingFile {
  fileId: string;
  path: string;
  name: string;
  size: number;
  chunks: number;
  /** `sha-256=` + b64url digest, the Digest header value. */
  digest: string;
  contentType: string;
}

const MIME_BY_EXT: Record<string, string> = {
  '.txt': 'text/plain',
  '.md': 'text/markdown',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.pdf': 'application/pdf',
  '.html': 'text/html',
  '.csv': 'text/csv',
  '.zip': 'application/zip',
};

/** A filename that fits the disposition syntax: printable ASCII without quote or backslash, 1..255. */
export function safeFileName(name: string): string {
  const cleaned = basename(name.replace(/\\/g, '/'))
    .replace(/[^ !#-[\]-~]/g, '_')
    .replace(/^\.+/, '_')
    .slice(0, 255);
  return cleaned.trim() === '' ? 'file' : cleaned;
}

export function chunkCount(size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize));
}

/** Stats and hashes a file so every chunk can carry its size and digest. */
export async function prepareFile(path: string, limits: FileLimits): Promise<OutgoingFile> {
  const st = await stat(path).catch((e: unknown) => Promise.reject(local(e, path)));
  if (st.isDirectory()) throw new LocalFileError('EISDIR', path, `${path}: a directory, not a file`);
  if (!st.isFile()) throw new LocalFileError('ENOTFILE', path, `${path}: not a regular file`);
  // [FILE-3] a transfer never announces more than maxFileSize.
  if (st.size > limits.maxFileSize)
    throw new FileError('ERR_LIMIT', 413, `${path}: ${st.size} octets is above maxFileSize ${limits.maxFileSize}`);
  const hash = createHash('sha256');
  let seen = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: limits.fileChunkSize })) {
      const b = chunk as Buffer;
      seen += b.length;
      if (seen > limits.maxFileSize) throw new FileError('ERR_LIMIT', 413, `${path} grew above maxFileSize`);
      hash.update(b);
    }
  } catch (e) {
    throw local(e, path);
  }
  if (seen !== st.size) throw new LocalFileError('ECHANGED', path, `${path} changed while it was read`);
  const name = safeFileName(path);
  return {
    fileId: randomBytes(12).toString('base64url'),
    path,
    name,
    size: st.size,
    chunks: chunkCount(st.size, limits.fileChunkSize),
    digest: 'sha-256=' + hash.digest('base64url'),
    contentType: MIME_BY_EXT[extname(name).toLowerCase()] ?? 'application/octet-stream',
  };
}

/** The file's chunks, in order, each at most fileChunkSize; one empty chunk for an empty file. */
export async function* readChunks(file: OutgoingFile, chunkSize: number): AsyncGenerator<Buffer> {
  if (file.size === 0) {
    yield Buffer.alloc(0);
    return;
  }
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let total = 0;
  for await (const piece of createReadStream(file.path, { highWaterMark: chunkSize })) {
    let b = piece as Buffer;
    while (b.length > 0) {
      const take = Math.min(chunkSize - pendingLen, b.length);
      pending.push(b.subarray(0, take));
      pendingLen += take;
      b = b.subarray(take);
      if (pendingLen === chunkSize) {
        total += pendingLen;
        yield Buffer.concat(pending);
        pending = [];
        pendingLen = 0;
      }
    }
  }
  if (pendingLen > 0) {
    total += pendingLen;
    yield Buffer.concat(pending);
  }
  if (total !== file.size) throw new Error(`${file.path} changed while it was sent`);
}

/** The MSG headers (besides From/To, which the session adds) of chunk `index`. */
export function chunkHeaders(file: OutgoingFile, index: number): Header[] {
  return [
    ['Content-type', file.contentType],
    ['Content-disposition', `attachment; filename="${file.name}"`],
    ['File-id', file.fileId],
    ['File-size', String(file.size)],
    ['Chunk', `${index}/${file.chunks}`],
    ['Digest', file.digest],
  ];
}

/** The file-related headers of a received MSG, as strings (already checked by the registry). */
export interface ChunkHeaders {
  contentType: string;
  disposition?: string;
  fileId?: string;
  fileSize?: string;
  chunk?: string;
  digest?: string;
}

export function isFileChunk(h: ChunkHeaders): boolean {
  return (
    h.fileId !== undefined ||
    h.chunk !== undefined ||
    h.fileSize !== undefined ||
    /^attachment/i.test(h.disposition ?? '')
  );
}

export interface FileProgress {
  fileId: string;
  name: string;
  size: number;
  done: number;
}

export interface ReceivedFile extends FileProgress {
  path: string;
  digest: string;
  contentType: string;
}

interface Transfer {
  fileId: string;
  name: string;
  size: number;
  count: number;
  next: number;
  received: number;
  digest: string;
  contentType: string;
  hash: ReturnType<typeof createHash>;
  tmp: string;
  fh: FileHandle;
}

/** Reassembles incoming files for one peer session. Chunks of one file arrive in order (MSG is in order). */
export class FileReceiver {
  private readonly transfers = new Map<string, Transfer>();

  constructor(
    private readonly dir: string,
    private readonly limits: FileLimits,
  ) {}

  get active(): number {
    return this.transfers.size;
  }

  /**
   * Takes one chunk. Resolves with progress, or with the finished file on the last chunk.
   * Throws FileError (the transfer is then abandoned and its temporary file removed).
   */
  async chunk(h: ChunkHeaders, body: Buffer): Promise<{ progress: FileProgress; file?: ReceivedFile }> {
    // [FILE-7] a chunk missing one of its headers is refused before it touches any transfer: one of
    // its File-id in progress goes on (so this check stays outside the try that abandons it).
    if (h.fileId === undefined || h.fileSize === undefined || h.chunk === undefined || h.digest === undefined) {
      throw new FileError('ERR_MISSING_HEADER', 422, 'a file chunk needs File-id, File-size, Chunk and Digest');
    }
    const fileId = h.fileId;
    try {
      return await this.take(fileId, h, body);
    } catch (err) {
      await this.abort(fileId);
      throw err;
    }
  }

  private async take(
    fileId: string,
    h: ChunkHeaders,
    body: Buffer,
  ): Promise<{ progress: FileProgress; file?: ReceivedFile }> {
    const size = Number(h.fileSize);
    const m = /^(\d+)\/(\d+)$/.exec(h.chunk ?? '');
    if (!m) throw badValue('Chunk is not index/count');
    const index = Number(m[1]);
    const count = Number(m[2]);
    // [FILE-2] no chunk above fileChunkSize.
    if (body.length > this.limits.fileChunkSize)
      throw new FileError('ERR_LIMIT', 413, `chunk of ${body.length} octets is above fileChunkSize`);
    let t = this.transfers.get(fileId);
    if (!t) {
      if (index !== 0) throw badValue(`chunk ${index} of an unknown transfer`);
      // [FILE-3] the announced size is bounded.
      if (!Number.isSafeInteger(size) || size > this.limits.maxFileSize)
        throw new FileError(
          'ERR_LIMIT',
          413,
          `File-size ${h.fileSize} is above maxFileSize ${this.limits.maxFileSize}`,
        );
      // [FILE-2] the count is File-size / fileChunkSize rounded up (one chunk for an empty file).
      if (count !== chunkCount(size, this.limits.fileChunkSize))
        throw badValue(`${count} chunks for ${size} octets (expected ${chunkCount(size, this.limits.fileChunkSize)})`);
      if (this.transfers.size >= this.limits.maxActiveTransfers)
        throw new FileError('ERR_LIMIT', 413, 'too many transfers at once');
      await mkdir(this.dir, { recursive: true });
      const name = safeFileName(/filename="([^"]*)"/.exec(h.disposition ?? '')?.[1] ?? fileId);
      const tmp = join(this.dir, `.imsp-${randomBytes(9).toString('base64url')}.part`);
      const fh = await open(tmp, 'wx', 0o600);
      t = {
        fileId,
        name,
        size,
        count,
        next: 0,
        received: 0,
        digest: h.digest ?? '',
        contentType: h.contentType,
        hash: createHash('sha256'),
        tmp,
        fh,
      };
      this.transfers.set(fileId, t);
    }
    // [FILE-1] every chunk repeats the same announcement; [FILE-4] in index order.
    if (index !== t.next || count !== t.count || size !== t.size || h.digest !== t.digest)
      throw badValue(`chunk ${index}/${count} out of order or inconsistent`);
    // [FILE-2] every chunk but the last is exactly fileChunkSize; the last carries the rest.
    const expected = index < t.count - 1 ? this.limits.fileChunkSize : t.size - t.received;
    if (body.length !== expected) throw badValue(`chunk ${index} has ${body.length} octets, expected ${expected}`);
    await t.fh.write(body);
    t.hash.update(body);
    t.received += body.length;
    t.next++;
    const progress: FileProgress = { fileId, name: t.name, size: t.size, done: t.received };
    if (t.next < t.count) return { progress };
    if (t.received !== t.size) throw badValue(`file ended after ${t.received} of ${t.size} octets`);
    const digest = 'sha-256=' + t.hash.digest('base64url');
    // [FILE-5] the digest of what arrived must be the one announced.
    if (digest !== t.digest) throw badValue('Digest does not match the file');
    await t.fh.close();
    this.transfers.delete(fileId);
    const path = await this.place(t);
    return { progress, file: { ...progress, path, digest, contentType: t.contentType } };
  }

  private async place(t: Transfer): Promise<string> {
    const ext = extname(t.name);
    const stem = t.name.slice(0, t.name.length - ext.length);
    for (let i = 0; i < 100; i++) {
      const candidate = join(this.dir, i === 0 ? t.name : `${stem} (${i})${ext}`);
      try {
        await stat(candidate);
      } catch {
        await rename(t.tmp, candidate);
        return candidate;
      }
    }
    const last = join(this.dir, `${t.fileId}-${t.name}`);
    await rename(t.tmp, last);
    return last;
  }

  async abort(fileId: string): Promise<void> {
    const t = this.transfers.get(fileId);
    if (!t) return;
    this.transfers.delete(fileId);
    await t.fh.close().catch(() => undefined);
    await rm(t.tmp, { force: true });
  }

  /** Abandons every unfinished transfer (the session closed). */
  async close(): Promise<void> {
    await Promise.all([...this.transfers.keys()].map((id) => this.abort(id)));
  }
}
