/**
 * The peer's requests of a Link, served in arrival order [CONN-9]: one at a time (a handler that
 * answers at once is answered at once, one that returns a promise holds the queue until it settles),
 * or with `concurrency` > 1 overlapped, their answers still written in arrival order. Prepared answers
 * (errors found by the receiver or by validation) take their place in the same order.
 * @module
 */
import {
  anyHeader,
  closesConnection,
  errorResponse,
  errorRule,
  ImspError,
  isErrorCode,
  type Header,
  type Message,
  type RequestMessage,
} from '../../codec/index.js';
import type { Link, RequestHandler } from './link.js';
import { linkError } from './link-error.js';

/** One unit of ordered work: a request for the handler, or a prepared answer (then maybe a close). */
export type Job = { req: RequestMessage } | { answer: Message[]; close?: ImspError };

function isThenable<T>(x: T | PromiseLike<T>): x is PromiseLike<T> {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function';
}

/** `msg` with `Tag: tag` in place of any Tag it had. */
export function withTag(msg: Message, tag: string): Message {
  const headers: Header[] = [...msg.headers.filter(([n]) => n.toLowerCase() !== 'tag'), ['Tag', tag]];
  return { ...msg, headers };
}

export class HandlerQueue {
  private readonly jobs: Job[] = [];
  private busy = false;
  /** Pipelined handlers (concurrency > 1): each resolves with the writing of its answer, run in order. */
  private readonly inflight: Array<Promise<() => void>> = [];

  constructor(
    private readonly link: Link,
    private readonly handler: RequestHandler | undefined,
    private readonly concurrency: number,
  ) {}

  get length(): number {
    return this.jobs.length;
  }

  /** The link closes: queued work is dropped. */
  clear(): void {
    this.jobs.length = 0;
  }

  /** Queues one job and starts the queue when it is idle. */
  push(job: Job): void {
    this.jobs.push(job);
    this.link.updateFlow();
    void this.drainHandlers();
  }

  /** Runs the handler on queued requests one at a time, in order (or overlapped, see concurrency). */
  private drainHandlers(): void {
    if (this.concurrency > 1) {
      void this.drainPipelined();
      return;
    }
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.jobs.length > 0 && !this.link.isClosed) {
        const job = this.jobs.shift()!;
        this.link.updateFlow();
        if ('req' in job) {
          // A handler that answers at once is answered at once; one that returns a promise holds the
          // queue until it settles (one at a time, in order) [CONN-9].
          const wait = this.handleOne(job.req);
          if (wait !== undefined) {
            wait.then(
              () => this.resumeHandlers(),
              (e: unknown) => this.handlersFailed(e),
            );
            return; // stays busy
          }
        } else {
          for (const m of job.answer) this.link.send(m);
          if (job.close) this.link.close(job.close);
        }
      }
    } catch (e) {
      // not from a handler (handleOne catches those): e.g. a response that cannot be encoded
      this.busy = false;
      void Promise.reject(e);
      return;
    }
    this.busy = false;
  }

  private resumeHandlers(): void {
    this.busy = false;
    this.drainHandlers();
  }

  private handlersFailed(e: unknown): void {
    this.busy = false;
    void Promise.reject(e);
  }

  /** Starts queued jobs while fewer than `concurrency` are in flight. */
  private fillPipeline(): void {
    while (this.jobs.length > 0 && this.inflight.length < this.concurrency && !this.link.isClosed) {
      const job = this.jobs.shift()!;
      if ('req' in job) this.inflight.push(this.answerOf(job.req));
      else {
        const { answer, close } = job;
        this.inflight.push(
          Promise.resolve(() => {
            for (const m of answer) this.link.send(m);
            if (close) this.link.close(close);
          }),
        );
      }
    }
    this.link.updateFlow();
  }

  /** concurrency > 1: handlers overlap, answers are written in arrival order [CONN-9]. */
  private async drainPipelined(): Promise<void> {
    this.fillPipeline();
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.inflight.length > 0 && !this.link.isClosed) {
        const write = await this.inflight[0]!;
        this.inflight.shift();
        if (!this.link.isClosed) write();
        this.fillPipeline();
      }
    } finally {
      this.inflight.length = 0;
      this.busy = false;
    }
  }

  /** Runs the handler on one request; resolves with the writing of its answer (never rejects). */
  private async answerOf(req: RequestMessage): Promise<() => void> {
    const rule = this.link.peerRule(req.method);
    if (rule && !rule.answered) {
      this.link.emit('notification', req);
      return () => undefined;
    }
    const tag = anyHeader(req, 'Tag');
    let res: Message | undefined;
    try {
      res = this.handler
        ? await this.handler(req, this.link)
        : errorResponse(linkError('ERR_UNAVAILABLE', 'no handler'));
    } catch (e) {
      if (!(e instanceof ImspError)) this.link.emit('handlerError', e, req);
      res = errorResponse(e instanceof ImspError ? e : linkError('ERR_INTERNAL'));
    }
    return () => {
      if (res === undefined || this.link.isClosed) return;
      if (tag !== undefined && res.kind === 'response' && anyHeader(res, 'Tag') === undefined) res = withTag(res, tag);
      this.link.send(res);
      this.closeIfTableSays(req, res);
    };
  }

  /**
   * Runs the handler on one request and sends its answer: at once when the handler returns a message
   * (or nothing), else when its promise settles (the returned promise, which never rejects).
   */
  private handleOne(req: RequestMessage): Promise<void> | undefined {
    const rule = this.link.peerRule(req.method);
    if (rule && !rule.answered) {
      this.link.emit('notification', req);
      return undefined;
    }
    let res: Message | undefined | Promise<Message | undefined>;
    try {
      res = this.handler ? this.handler(req, this.link) : errorResponse(linkError('ERR_UNAVAILABLE', 'no handler'));
    } catch (e) {
      res = this.handlerFailure(e, req);
    }
    if (isThenable(res)) {
      return Promise.resolve(res).then(
        (r) => this.answer(req, r),
        (e: unknown) => this.answer(req, this.handlerFailure(e, req)),
      );
    }
    this.answer(req, res);
    return undefined;
  }

  /** The answer to a request whose handler threw `e`. */
  private handlerFailure(e: unknown, req: RequestMessage): Message {
    if (!(e instanceof ImspError)) this.link.emit('handlerError', e, req);
    return errorResponse(e instanceof ImspError ? e : linkError('ERR_INTERNAL'));
  }

  /** Sends the handler's answer to `req`, echoing its Tag. */
  private answer(req: RequestMessage, res: Message | undefined): void {
    if (res === undefined || this.link.isClosed) return;
    if (req.method === 'MSG' && res.kind === 'response' && res.status === 200 && res.headers.length === 0) {
      // [MSG-7] a plain 200 to a MSG: may join the turn's other 200s in one Count (never with a Tag)
      if (anyHeader(req, 'Tag') === undefined) {
        this.link.sendAck();
        return;
      }
    }
    const tag = anyHeader(req, 'Tag');
    if (tag !== undefined && res.kind === 'response' && anyHeader(res, 'Tag') === undefined) res = withTag(res, tag);
    this.link.send(res);
    this.closeIfTableSays(req, res);
  }

  /**
   * [ERR-8] [ERR-5] A handler answers with an error response; whether the connection ends after it is the
   * error table's call (generated/error-handling.ts), for this method and this stage of the link: e.g.
   * 425 before the handshake [STATE-5] [STATE-6], 401 ERR_AUTH_FAILED, 503 to PROOF [LOGIN-8], 410
   * ERR_SESSION_ENDED [LOCK-12]. Closing drops every request queued behind it unanswered [CONN-16].
   */
  private closeIfTableSays(req: RequestMessage, res: Message): void {
    if (res.kind !== 'response' || res.status < 400) return;
    const code = anyHeader(res, 'Error-code');
    if (code === undefined || !isErrorCode(code)) return;
    const rule = errorRule(code, { method: req.method, handshake: !this.link.handshakeComplete });
    if (closesConnection(rule))
      this.link.close(linkError(code, `${req.method} answered ${res.status} ${code}: ${rule.action} (${rule.req})`));
  }
}
