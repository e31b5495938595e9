// `imsp decode` and `imsp encode`: the codec from the command line.
//
//   imsp decode [--validate] [--from ROLE --to ROLE] [--max-line-length N] ...
//     reads IMSP octets from stdin, prints one JSON object per message:
//     {"method": ...} or {"status": ..., "reason": ...}, "headers": [[name, value], ...] in
//     wire order, "body" in base64. Wire rules only by default (any well-formed message);
//     --validate adds the registry's checks (a request is checked on the link --from/--to,
//     or on any of its method's links when they are not given; a response's status must be
//     registered). A framing error or truncation prints {"error": {code, status, reason,
//     offset}} to stderr and exits 1; validation errors are printed the same way with the
//     message's index, decoding goes on, and the exit status is 1.
//   imsp encode
//     reads JSON lines of the same shape (reason optional: the registry's; body base64,
//     optional) and writes the wire octets; Content-length is set from the body.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import {
  Decoder,
  ImspError,
  METHODS,
  ROLES,
  STATUS_CODES,
  encode,
  validate,
  type Header,
  type Message,
  type Role,
  type WireLimits,
} from '../../codec/index.js';

export interface CodecIo {
  stdin: AsyncIterable<Buffer | string>;
  stdout: { write(chunk: string | Uint8Array): boolean };
  stderr: { write(chunk: string | Uint8Array): boolean };
}

/** A usage error found after commander's own parsing. */
class UsageError extends Error {}

const defaultIo = (): CodecIo => ({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });

/** The JSON line of one decoded message. */
export function messageToJson(m: Message): Record<string, unknown> {
  const head = m.kind === 'request' ? { method: m.method } : { status: m.status, reason: m.reason };
  return { ...head, headers: m.headers, body: m.body.toString('base64') };
}

function errorJson(e: ImspError, index?: number): string {
  const error = { code: e.code, status: e.status, reason: e.reason, offset: e.offset, message: e.message };
  return `${JSON.stringify(index === undefined ? { error } : { message: index, error })}\n`;
}

function role(v: string): Role {
  if (!(ROLES as readonly string[]).includes(v)) throw new InvalidArgumentError(`one of ${ROLES.join(', ')}`);
  return v as Role;
}

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('a positive integer');
  return n;
}

/** Registry check of a decoded message for the CLI (see the header comment). */
function check(m: Message, from?: Role, to?: Role): ImspError | null {
  if (m.kind === 'response') {
    return (STATUS_CODES as Record<number, unknown>)[m.status] === undefined
      ? new ImspError('ERR_UNKNOWN_STATUS', -1, String(m.status))
      : null;
  }
  if (from && to) return validate(m, { from, to });
  const entry = (METHODS as Record<string, { links: readonly { from: Role; to: Role }[] } | undefined>)[m.method];
  if (!entry) return validate(m, { from: 'client', to: 'ms' });
  let first: ImspError | null = null;
  for (const l of entry.links) {
    const e = validate(m, l);
    if (e === null) return null;
    first ??= e;
  }
  return first;
}

async function decodeCommand(
  opts: { validate?: boolean; from?: Role; to?: Role } & Partial<WireLimits>,
  io: CodecIo,
): Promise<number> {
  const limits: Partial<WireLimits> = {};
  for (const k of ['maxLineLength', 'maxHeaders', 'maxHeadSize', 'maxBodySize'] as const)
    if (opts[k] !== undefined) limits[k] = opts[k];
  const decoder = new Decoder({ limits });
  let index = 0;
  let status = 0;
  const emit = (ms: Message[]): void => {
    for (const m of ms) {
      io.stdout.write(`${JSON.stringify(messageToJson(m))}\n`);
      if (opts.validate) {
        const e = check(m, opts.from, opts.to);
        if (e) {
          io.stderr.write(errorJson(e, index));
          status = 1;
        }
      }
      index++;
    }
  };
  try {
    for await (const chunk of io.stdin)
      emit(decoder.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk));
    decoder.end();
  } catch (e) {
    if (!(e instanceof ImspError)) throw e;
    emit(e.messages);
    io.stderr.write(errorJson(e));
    return 1;
  }
  return status;
}

interface JsonMessage {
  method?: unknown;
  status?: unknown;
  reason?: unknown;
  headers?: unknown;
  body?: unknown;
}

/** A message from its JSON line; throws Error with a readable reason. */
export function messageFromJson(v: unknown): Message {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('a message is a JSON object');
  const j = v as JsonMessage;
  const hs = j.headers ?? [];
  if (
    !Array.isArray(hs) ||
    !hs.every(
      (h) =>
        Array.isArray(h) &&
        h.length === 2 &&
        typeof h[0] === 'string' &&
        (typeof h[1] === 'string' || typeof h[1] === 'number'),
    )
  ) {
    throw new Error('"headers" is a list of [name, value] pairs');
  }
  const headers = hs.map(([n, val]) => [n, String(val)] as Header);
  if (j.body !== undefined && typeof j.body !== 'string') throw new Error('"body" is a base64 string');
  const body = Buffer.from(j.body ?? '', 'base64');
  if (typeof j.method === 'string') return { kind: 'request', method: j.method, headers, body };
  if (typeof j.status === 'number') {
    const reason = j.reason ?? (STATUS_CODES as Record<number, { reason: string } | undefined>)[j.status]?.reason;
    if (typeof reason !== 'string') throw new Error(`status ${j.status} is not registered: give "reason"`);
    return { kind: 'response', status: j.status, reason, headers, body };
  }
  throw new Error('a message has "method" (string) or "status" (number)');
}

async function encodeCommand(io: CodecIo): Promise<number> {
  let pending = '';
  let line = 0;
  const handle = (text: string): void => {
    line++;
    if (text.trim() === '') return;
    let msg: Message;
    try {
      msg = messageFromJson(JSON.parse(text));
    } catch (e) {
      throw new Error(`line ${line}: ${(e as Error).message}`);
    }
    io.stdout.write(encode(msg));
  };
  try {
    for await (const chunk of io.stdin) {
      pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) !== -1) {
        handle(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    }
    handle(pending);
  } catch (e) {
    if (e instanceof ImspError) io.stderr.write(`imsp encode: line ${line}: ${e.message}\n`);
    else io.stderr.write(`imsp encode: ${(e as Error).message}\n`);
    return 1;
  }
  return 0;
}

export async function run(argv: string[], io: CodecIo = defaultIo()): Promise<number> {
  const [name, ...rest] = argv;
  const cmd = new Command(`imsp ${name ?? 'decode'}`).exitOverride().configureOutput({
    writeOut: (s) => void io.stdout.write(s),
    writeErr: (s) => void io.stderr.write(s),
  });
  let result: Promise<number> = Promise.resolve(2);
  if (name === 'decode') {
    cmd
      .description('decode IMSP messages from stdin to JSON lines')
      .option('--validate', 'also check each message against the registry')
      .option('--from <role>', 'sender role of the requests (crs, ms, client)', role)
      .option('--to <role>', 'receiver role of the requests (crs, ms, client)', role)
      .option('--max-line-length <n>', 'limit maxLineLength', positive)
      .option('--max-headers <n>', 'limit maxHeaders', positive)
      .option('--max-head-size <n>', 'limit maxHeadSize', positive)
      .option('--max-body-size <n>', 'limit maxBodySize', positive)
      .action((opts: { validate?: boolean; from?: Role; to?: Role } & Partial<WireLimits>) => {
        if ((opts.from === undefined) !== (opts.to === undefined)) throw new UsageError('--from and --to go together');
        result = decodeCommand(opts, io);
      });
  } else if (name === 'encode') {
    cmd.description('encode JSON lines from stdin to IMSP messages').action(() => {
      result = encodeCommand(io);
    });
  } else {
    io.stderr.write(`imsp codec: expected 'decode' or 'encode', got '${name ?? ''}'\n`);
    return 2;
  }
  try {
    cmd.parse(rest, { from: 'user' });
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`imsp ${name}: ${e.message}\n`);
      return 2;
    }
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof RangeError) {
      io.stderr.write(`imsp ${name}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  try {
    return await result;
  } catch (e) {
    if (e instanceof RangeError) {
      io.stderr.write(`imsp ${name}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
