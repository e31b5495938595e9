// Human messages for the terminal client: one sentence per error code of the registry
// (spec/registry/errors.json), so that a user reads "You can't add yourself." rather than
// "ADD: 403 Forbidden (ERR_FORBIDDEN)". The table is typed `Record<ErrorCode, ...>`: a code added to
// the registry without a message here fails the type check, and test/client/messages.test.ts checks
// the table against the registry file itself.
//
// A message may depend on what the user was doing (the command and its USER argument): the same
// 403 ERR_FORBIDDEN means "you can't add yourself" for /add and "you can't change another user's
// profile" for /profile.
import type { ErrorCode } from '../../codec/index.js';

/** What the user was doing when the error came back. */
export interface ErrorContext {
  /** The command without its slash: add, accept, chat, send, login, passwd, ... */
  cmd?: string;
  /** The USER argument, when there is one. */
  user?: string;
  /** Our own user name. */
  self?: string;
  /** Retry-after in ms, when the refusal carried one. */
  retryAfter?: number;
}

type Message = string | ((c: ErrorContext) => string);

const them = (c: ErrorContext) => c.user ?? 'that user';

/** Protocol-level faults the user cannot fix: the wording says whose fault it is. */
const BROKEN = 'The server and this client disagree about the protocol; this is a bug, please report it.';

export const HUMAN_ERRORS: Record<ErrorCode, Message> = {
  ERR_BARE_CR: BROKEN,
  ERR_BARE_LF: BROKEN,
  ERR_NON_ASCII: (c) =>
    c.cmd === 'profile' || c.cmd === 'search'
      ? 'Profiles and searches accept plain ASCII text only.'
      : 'That text contains characters the protocol cannot carry here (only ASCII is allowed).',
  ERR_EMPTY_START_LINE: BROKEN,
  ERR_BAD_METHOD: BROKEN,
  ERR_BAD_STATUS_LINE: BROKEN,
  ERR_BAD_HEADER_NAME: BROKEN,
  ERR_MISSING_COLON: BROKEN,
  ERR_BAD_HEADER_VALUE:
    'That text contains characters the protocol cannot carry (only printable ASCII is allowed here).',
  ERR_FOLDED_HEADER: BROKEN,
  ERR_BAD_CONTENT_LENGTH: BROKEN,
  ERR_DUPLICATE_CONTENT_LENGTH: BROKEN,
  ERR_LINE_TOO_LONG: 'That is too long to send in one piece.',
  ERR_TOO_MANY_HEADERS: BROKEN,
  ERR_HEAD_TOO_LARGE: 'That is too long to send in one piece.',
  ERR_BODY_TOO_LARGE: (c) =>
    c.cmd === 'send' ? 'That message is too long; split it into several.' : 'That is too large to send in one piece.',
  ERR_TRUNCATED: 'The connection broke in the middle of a message.',
  ERR_UNKNOWN_METHOD: 'The server does not know this command (it may run an older version).',
  ERR_METHOD_NOT_ALLOWED: 'The server does not allow this here.',
  ERR_MISSING_HEADER: BROKEN,
  ERR_HEADER_NOT_ALLOWED: BROKEN,
  ERR_DUPLICATE_HEADER: BROKEN,
  ERR_BAD_VALUE: (c) =>
    c.cmd === 'add' || c.cmd === 'chat' || c.cmd === 'block' || c.cmd === 'profile'
      ? `"${them(c)}" is not a valid user name (a lower-case letter, then up to 31 of a-z 0-9 . _ -).`
      : c.cmd === 'search'
        ? 'That search is not valid (ASCII text, not too long).'
        : c.cmd === 'status'
          ? 'The status is online, busy or away.'
          : 'The server refused a value as malformed.',
  ERR_UNEXPECTED_BODY: BROKEN,
  ERR_BAD_RECORDS: BROKEN,
  ERR_UNKNOWN_STATUS: BROKEN,
  ERR_VERSION: 'The server speaks another version of the protocol; update this client.',
  ERR_OUT_OF_STATE: (c) =>
    c.cmd === 'login' ? 'You are logged in already.' : 'You are not logged in (the connection to the server is down).',
  ERR_AUTH_FAILED: (c) => (c.cmd === 'passwd' ? 'That is not your current password.' : 'Wrong user name or password.'),
  ERR_BAD_SIGNATURE: (c) => `${c.user ?? 'The other side'} could not prove who they are; the conversation was refused.`,
  ERR_DECRYPT: (c) =>
    c.cmd === 'login'
      ? 'Wrong password: your keys do not open with it.'
      : 'A message could not be decrypted; the conversation was closed for safety.',
  ERR_REPLAY:
    'A message arrived twice or out of order (or a clock is far off); the conversation was closed for safety.',
  ERR_NOT_BUDDY: (c) => `${c.user ?? 'That user'} is not your buddy (yet): /add ${c.user ?? 'USER'} first.`,
  ERR_BLOCKED: (c) => (c.user ? `${c.user} is on a block list (yours or theirs).` : 'You are blocked.'),
  ERR_FORBIDDEN: (c) =>
    c.cmd === 'add' && c.user !== undefined && c.user === c.self
      ? "You can't add yourself."
      : c.cmd === 'add'
        ? `You can't add ${them(c)}: unblock them first (/unblock ${them(c)}).`
        : c.cmd === 'block' && c.user !== undefined && c.user === c.self
          ? "You can't block yourself."
          : c.cmd === 'profile'
            ? "You can't change another user's profile."
            : "You aren't allowed to do that.",
  ERR_UNKNOWN_USER: (c) => `There is no user called ${them(c)}.`,
  ERR_NO_PENDING: (c) => `${c.user ?? 'That user'} has not asked to be your buddy.`,
  // [BLOCK-9] UNBLOCK of a user not on the block list, a buddy as much as a stranger
  ERR_NOT_CONTACT: (c) =>
    c.cmd === 'unblock'
      ? `${c.user ?? 'That user'} is not on your block list.`
      : `${c.user ?? 'That user'} is not in your contacts.`,
  ERR_ALREADY_ONLINE: 'You are logged in already somewhere else; log out there first.',
  ERR_ALREADY_BUDDY: (c) =>
    `${c.user ?? 'That user'} is your buddy already, or a request between you is waiting for an answer.`,
  ERR_USER_EXISTS: 'A user of that name exists already.',
  ERR_MS_CONFLICT: 'The server is misconfigured (two servers share one name); tell its operator.',
  ERR_LOCKED: 'Someone is logging in to this account right now; try again in a moment.',
  ERR_STALE_EPOCH: 'Your session was replaced by a newer login.',
  ERR_RATE_LIMITED: (c) =>
    c.cmd === 'login'
      ? `Too many failed logins. You can try again ${retryText(c.retryAfter)}.`
      : `Slow down: too many requests. You can try again ${retryText(c.retryAfter)}.`,
  ERR_LIMIT: (c) =>
    c.cmd === 'send-file' || c.cmd === 'file'
      ? 'That file is too large to send.'
      : c.cmd === 'add'
        ? 'Your contact list (or the pending requests) is full.'
        : c.cmd === 'block'
          ? 'Your block list is full.'
          : 'A limit is reached.',
  ERR_TIMEOUT: (c) => (c.user ? `${c.user} did not answer in time.` : 'The server did not answer in time.'),
  ERR_UNAVAILABLE: (c) =>
    c.cmd === 'chat' || c.cmd === 'send' || c.cmd === 'send-file'
      ? `${c.user ?? 'That user'} is offline.`
      : c.cmd === 'reconnect'
        ? 'The service is not available yet.'
        : 'The service is not available right now; try again in a moment.',
  ERR_SHUTDOWN: 'The server is shutting down.',
  ERR_SESSION_ENDED: 'Your session has ended.',
  ERR_INTERNAL: 'The server had an internal error; try again, and tell its operator if it persists.',
};

const SOCKET_CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused: no server listens there',
  ETIMEDOUT: 'no answer',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'unknown host name',
  EAI_AGAIN: 'the host name could not be looked up',
  ECONNRESET: 'the connection was reset',
};

/**
 * No connection could be made at all: the sentence names the address and why, since a typo in
 * --crs or a server that is not running is not "the service is not available".
 */
export function unreachableText(address: string, cause: string, advice = true): string {
  const why = `Cannot reach the server at ${address} (${SOCKET_CAUSES[cause] ?? cause})`;
  return advice ? `${why}: check the address and that the server runs.` : `${why}.`;
}

/**
 * The reason of a reconnect attempt (the 'reconnecting' event) in words. After a failed attempt it
 * is "ERR_CODE: detail"; the first one says how the session ended, which is plain text already.
 */
export function reconnectText(reason: string): string {
  const m = /^(ERR_[A-Z0-9_]+): (.*)$/s.exec(reason);
  if (!m) return reason;
  const [, code, detail] = m as unknown as [string, string, string];
  const gone = /^cannot connect to (\S+): \S+ (E[A-Z_]+)\b/.exec(detail) ?? /^connect to (\S+) timed out$/.exec(detail);
  if (gone) return unreachableText(gone[1] as string, gone[2] ?? 'ETIMEDOUT', false);
  return humanError(code, { cmd: 'reconnect' });
}

/** "in 42 s", "in 5 min", "in a moment" (Retry-after is in ms). */
export function retryText(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) return 'in a moment';
  const s = Math.ceil(ms / 1000);
  if (s < 90) return `in ${s} s`;
  const m = Math.ceil(s / 60);
  return `in ${m} min`;
}

/** The human message for an error code; an unknown code (a newer server) gets a generic sentence. */
export function humanError(code: string, ctx: ErrorContext = {}): string {
  const m = (HUMAN_ERRORS as Record<string, Message | undefined>)[code];
  if (m === undefined) return `The request was refused (${code}).`;
  return typeof m === 'string' ? m : m(ctx);
}
