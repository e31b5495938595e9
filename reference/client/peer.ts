// One peer-to-peer session [§10.1 INIT and INIT-ACK] [§10.5 Ending a Session]: a TCP connection between two buddies that
// starts with INIT / INIT-ACK in clear and then carries SEALED envelopes only (MSG, TYPING, PING,
// BYE), under keys derived from the handshake. The session keys live in this object only (and in
// the Link's copy) and are zeroed when the session ends, whatever ends it.
import { randomBytes } from 'node:crypto';
import {
  headerOf,
  isRequestOf,
  ImspError,
  errorResponse,
  response,
  type ErrorCode,
  type Header,
  type Message,
  type RequestMessage,
  type RequestOf,
  type ResponseMessage,
} from '../../codec/index.js';
import type { LinkKeys } from '../crypto/scram.js';
import { linkError, type Link } from '../net/link.js';
import {
  FileError,
  FileReceiver,
  chunkHeaders,
  isFileChunk,
  prepareFile,
  readChunks,
  type FileLimits,
  type OutgoingFile,
  type ReceivedFile,
  type FileProgress,
} from './files.js';
import type { TypingState } from './events.js';

export interface PeerHooks {
  /** The local user's name. */
  self: string;
  /** [P2P-3] [BLOCK-3] Checked on every MSG and TYPING: the session's peer must still be an unblocked buddy. */
  allowed(peer: string): ErrorCode | undefined;
  message(from: string, text: string, contentType: string): void;
  typing(from: string, state: TypingState): void;
  fileProgress(peer: string, direction: 'in' | 'out', p: FileProgress): void;
  file(from: string, f: ReceivedFile): void;
  /** We refused something the peer sent (and close). */
  refused(peer: string, err: ImspError): void;
  ended(session: PeerSession, reason: string): void;
}

/** [TYPING-2] a `typing` state not renewed for this long is shown as `paused`. */
export const TYPING_STALE_MS = 30_000;
/** File chunks in flight at once: 4 x fileChunkSize (1 MiB) of memory, well under maxOutboundQueue. */
export const FILE_WINDOW = 4;
/** [TYPING-1] at most one TYPING per second per session. */
export const TYPING_MIN_INTERVAL_MS = 1000;

export class PeerSession {
  private keys: LinkKeys | undefined;
  private ended = false;
  readonly files: FileReceiver;

  constructor(
    readonly peer: string,
    readonly initiator: boolean,
    readonly link: Link,
    keys: LinkKeys,
    private readonly hooks: PeerHooks,
    private readonly fileLimits: FileLimits & { typingStaleMs?: number },
    downloadDir: string,
  ) {
    this.keys = keys;
    this.files = new FileReceiver(downloadDir, fileLimits);
    link.on('notification', (m) => this.onNotification(m));
    link.on('close', (reason) => this.end(reason ? `link closed: ${reason.code}` : 'link closed', false));
  }

  /** Whether this session still holds keys. */
  get live(): boolean {
    return this.keys !== undefined && !this.ended;
  }

  /** The key buffers this session holds (tests check they are zeroed after the end). */
  get keyMaterial(): Buffer[] {
    return this.keys ? [this.keys.send, this.keys.receive] : [];
  }

  /** The request handler for the sealed phase: MSG and PING. */
  async handle(req: RequestMessage): Promise<Message | undefined> {
    if (req.method === 'PING') return response(200);
    if (!isRequestOf(req, 'MSG')) return errorResponse('ERR_METHOD_NOT_ALLOWED');
    // [P2P-13] [BLOCK-3] the peer is no longer an unblocked buddy: refuse, say BYE, close.
    // [ERR-6] no error but the answer to an INIT tells a blocked user of the block: a blocked peer is told
    // only that it is no longer a buddy.
    const lost = this.hooks.allowed(this.peer);
    if (lost)
      return this.refuse(
        linkError(lost === 'ERR_BLOCKED' ? 'ERR_NOT_BUDDY' : lost, `${this.peer} is no longer a buddy`),
      );
    const from = headerOf(req, 'From');
    const to = headerOf(req, 'To');
    // [MSG-2] a MSG names the session's two users, sender first; [MSG-4] a refused MSG does not end the session.
    if (from !== this.peer || to !== this.hooks.self)
      return this.answerError(
        linkError(
          'ERR_FORBIDDEN',
          `MSG from ${from ?? '?'} to ${to ?? '?'} in a session of ${this.peer} and ${this.hooks.self}`,
        ),
      );
    const contentType = headerOf(req, 'Content-type') ?? 'application/octet-stream';
    const chunk = {
      contentType,
      disposition: headerOf(req, 'Content-disposition'),
      fileId: headerOf(req, 'File-id'),
      fileSize: headerOf(req, 'File-size'),
      chunk: headerOf(req, 'Chunk'),
      digest: headerOf(req, 'Digest'),
    };
    if (!isFileChunk(chunk)) {
      // [MSG-3] text is taken; other content outside a file transfer is refused.
      if (
        !/^text\/plain\s*(;|$)/i.test(contentType) ||
        (/charset=/i.test(contentType) && !/charset="?utf-8"?/i.test(contentType))
      ) {
        return this.answerError(linkError('ERR_BAD_VALUE', `content type ${contentType} is not accepted as a message`));
      }
      this.clearTyping();
      this.hooks.message(this.peer, req.body.toString('utf8'), contentType);
      return response(200); // [MSG-1]
    }
    try {
      const r = await this.files.chunk(chunk, req.body);
      this.hooks.fileProgress(this.peer, 'in', r.progress);
      if (r.file) this.hooks.file(this.peer, r.file);
      return response(200);
    } catch (e) {
      // [FILE-2] [FILE-3] [FILE-4] [FILE-5] the transfer is abandoned; the session goes on [MSG-4].
      if (e instanceof FileError) return this.answerError(linkError(e.code, e.message));
      throw e;
    }
  }

  private answerError(err: ImspError): Message {
    this.hooks.refused(this.peer, err);
    return errorResponse(err);
  }

  /** Answers the error, says BYE, closes the session and reports it [P2P-13]. */
  private refuse(err: ImspError): undefined {
    this.hooks.refused(this.peer, err);
    this.link.notify(errorResponse(err));
    this.end(`refused: ${err.code}`, true);
    return undefined;
  }

  private typingTimer: NodeJS.Timeout | undefined;

  private clearTyping(): void {
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = undefined;
  }

  private onNotification(m: RequestMessage): void {
    if (isRequestOf(m, 'BYE')) {
      // [P2P-12] the receiver of BYE forgets the keys and closes.
      this.end(`peer said bye${headerOf(m, 'Reason') ? `: ${headerOf(m, 'Reason')}` : ''}`, false);
      return;
    }
    if (isRequestOf(m, 'TYPING')) {
      const lost = this.hooks.allowed(this.peer);
      if (lost) {
        this.refuse(linkError(lost, `${this.peer} is no longer a buddy`));
        return;
      }
      // A notification gets no answer: a TYPING naming other users is dropped.
      if (headerOf(m, 'From') !== this.peer || headerOf(m, 'To') !== this.hooks.self) return;
      const state = headerOf(m, 'Typing') as TypingState;
      this.clearTyping();
      if (state === 'typing') {
        // [TYPING-2] a `typing` not renewed within 30 s counts as `paused`.
        this.typingTimer = setTimeout(() => {
          this.typingTimer = undefined;
          if (this.live) this.hooks.typing(this.peer, 'paused');
        }, this.fileLimits.typingStaleMs ?? TYPING_STALE_MS);
        this.typingTimer.unref();
      }
      this.hooks.typing(this.peer, state);
    }
  }

  private base(): Header[] {
    return [
      ['From', this.hooks.self],
      ['To', this.peer],
    ];
  }

  /** MSG requires Content-length even for an empty body; encode() fills in the value. */
  private msg(hs: Header[], body: Buffer): RequestOf<'MSG'> {
    return {
      kind: 'request',
      method: 'MSG',
      headers: [...this.base(), ...hs, ['Content-length', String(body.length)]],
      body,
    };
  }

  private async request(msg: RequestOf<'MSG'>): Promise<void> {
    if (!this.live) throw linkError('ERR_SESSION_ENDED', `no session with ${this.peer}`);
    let res = await this.link.request(msg);
    // [RATE-6] a peer that rate-limits MSG [RATE-7] says when to try again: wait, then resend, a few times.
    for (let attempt = 0; res.status === 429 && attempt < 3 && this.live; attempt++) {
      const ra = Number(headerOf(res, 'Retry-after') ?? '1000');
      await new Promise((r) => setTimeout(r, Number.isFinite(ra) ? Math.min(Math.max(ra, 1), 60_000) : 1000));
      if (!this.live) break;
      res = await this.link.request(msg);
    }
    if (res.status !== 200) {
      const code = (headerOf(res, 'Error-code') ?? 'ERR_INTERNAL') as ErrorCode;
      throw linkError(code, `${this.peer} answered ${res.status} ${res.reason}`);
    }
  }

  /** Sends one text MSG and waits for its 200. */
  async sendText(text: string, maxInner: number): Promise<void> {
    const body = Buffer.from(text, 'utf8');
    const msg = this.msg([['Content-type', 'text/plain; charset=utf-8']], body);
    // The message ends the composition: the receiver drops its typing indicator, so do we.
    this.typingSent = undefined;
    this.typingPending = undefined;
    // [WIRE-LIMIT-4] the sealed envelope (inner message + 16-octet tag) must fit in maxBodySize.
    if (body.length + 200 > maxInner)
      throw linkError(
        'ERR_BODY_TOO_LARGE',
        `text of ${body.length} octets does not fit in one message (at most ${maxInner - 200})`,
      );
    await this.request(msg);
  }

  /**
   * Sends a file as chunked MSGs [FILE-1] [FILE-2], up to FILE_WINDOW chunks in flight (responses come
   * in order); progress is reported per acknowledged chunk. A peer that answers 429 cannot take a
   * window: the file is then sent again, one chunk at a time, under a new File-id.
   */
  async sendFile(path: string): Promise<OutgoingFile> {
    const file = await prepareFile(path, this.fileLimits);
    try {
      await this.sendChunks(file, FILE_WINDOW);
      return file;
    } catch (e) {
      if (!(e instanceof ImspError && e.code === 'ERR_RATE_LIMITED') || !this.live) throw e;
      const again = { ...file, fileId: randomBytes(12).toString('base64url') };
      await this.sendChunks(again, 1);
      return again;
    }
  }

  private async sendChunks(file: OutgoingFile, window: number): Promise<void> {
    type Outcome = { res?: ResponseMessage; err?: unknown; len: number };
    const inflight: Promise<Outcome>[] = [];
    let done = 0;
    const settle = async (): Promise<void> => {
      const o = await inflight.shift()!;
      if (o.err !== undefined) throw o.err;
      const res = o.res!;
      if (res.status !== 200) {
        const code = (headerOf(res, 'Error-code') ?? 'ERR_INTERNAL') as ErrorCode;
        throw linkError(code, `${this.peer} answered ${res.status} ${res.reason}`);
      }
      done += o.len;
      this.hooks.fileProgress(this.peer, 'out', { fileId: file.fileId, name: file.name, size: file.size, done });
    };
    try {
      let i = 0;
      for await (const body of readChunks(file, this.fileLimits.fileChunkSize)) {
        if (!this.live) throw linkError('ERR_SESSION_ENDED', `no session with ${this.peer}`);
        const msg = this.msg(chunkHeaders(file, i++), body);
        if (window === 1) {
          await this.request(msg);
          done += body.length;
          this.hooks.fileProgress(this.peer, 'out', { fileId: file.fileId, name: file.name, size: file.size, done });
          continue;
        }
        // Every outcome is caught here, so an abandoned window leaves no unhandled rejection.
        inflight.push(
          this.link.request(msg).then(
            (res) => ({ res, len: body.length }),
            (err: unknown) => ({ err, len: body.length }),
          ),
        );
        if (inflight.length >= window) await settle();
      }
      while (inflight.length > 0) await settle();
    } finally {
      inflight.length = 0;
    }
  }

  private typingSent: TypingState | undefined;
  private typingAt = 0;
  private typingPending: TypingState | undefined;
  private typingFlush: NodeJS.Timeout | undefined;

  /**
   * Sends TYPING when the state changed [TYPING-1]: at most one per second, the latest state wins
   * when changes come faster.
   */
  typing(state: TypingState, now = Date.now()): void {
    if (!this.live) throw linkError('ERR_SESSION_ENDED', `no session with ${this.peer}`);
    this.typingPending = state;
    if (this.typingFlush) return;
    const wait = this.typingAt + TYPING_MIN_INTERVAL_MS - now;
    if (wait <= 0) this.flushTyping(now);
    else {
      this.typingFlush = setTimeout(() => this.flushTyping(Date.now()), wait);
      this.typingFlush.unref();
    }
  }

  private flushTyping(now: number): void {
    this.typingFlush = undefined;
    const state = this.typingPending;
    this.typingPending = undefined;
    if (state === undefined || state === this.typingSent || !this.live) return;
    this.typingSent = state;
    this.typingAt = now;
    this.link.notify({
      kind: 'request',
      method: 'TYPING',
      headers: [...this.base(), ['Typing', state]],
      body: Buffer.alloc(0),
    });
  }

  /** Ends the session: BYE when `sayBye`, close, keys zeroed, partial files removed. Idempotent. */
  end(reason: string, sayBye: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.clearTyping();
    if (this.typingFlush) clearTimeout(this.typingFlush);
    if (sayBye && !this.link.isClosed) {
      this.link.notify({
        kind: 'request',
        method: 'BYE',
        headers: [['Reason', reason.replace(/[^\t -~]/g, '?').slice(0, 256)]],
        body: Buffer.alloc(0),
      });
    }
    this.link.close();
    // [P2P-12] [P2P-13] [P2P-14] [P2P-17] session keys are forgotten: zeroed, then dropped.
    if (this.keys) {
      this.keys.send.fill(0);
      this.keys.receive.fill(0);
      this.keys = undefined;
    }
    void this.files.close();
    this.hooks.ended(this, reason);
  }
}
