// The events an ImspClient emits. The control interface writes each one as a JSON line with
// `event` set to its name, so these shapes are part of the control protocol (control.ts): add
// fields freely, never rename or remove one without raising CONTROL_VERSION.
import type { Decision, MethodName, Typing } from '../../codec/index.js';
import type { Presence, Relation } from './contacts.js';

/** Value type `typing` (generated/values.ts). */
export type TypingState = Typing;

export interface ClientEvents {
  /** Logged in: the login bundle has been applied. */
  login: [{ user: string; ms: string; address: string; status: Presence; contacts: number; requests: number }];
  /** A contact's presence changed (PRESENCE push, or a CONTACT push that changed it). */
  presence: [{ user: string; status: Presence; address?: string }];
  /** A contact's relation changed (CONTACT push); relation `none` means removed. */
  contact: [{ user: string; relation: Relation; status: Presence }];
  /** An ADD request to us (pushed, or delivered in the login bundle). */
  request: [{ from: string; time?: number }];
  /** Our ADD was answered. */
  answer: [{ from: string; decision: Decision }];
  /** NOTICE from the MS. */
  notice: [{ code: string; reason?: string; retryAfter?: number }];
  /** A peer session is up (either side opened it). */
  session: [{ user: string; initiator: boolean }];
  /** A peer session ended; its keys are gone. */
  'session-end': [{ user: string; reason: string }];
  /** A text message. */
  message: [{ from: string; to: string; text: string; time: number }];
  typing: [{ from: string; state: TypingState }];
  /**
   * Progress of a file transfer in either direction. Outgoing, `done` counts the octets the peer has
   * answered 200, so `done === size` means the peer holds the whole file, its digest checked [FILE-5]:
   * the delivery signal (nothing tells whether its user kept it; spec Appendix A.5).
   */
  'file-progress': [
    { peer: string; direction: 'in' | 'out'; fileId: string; name: string; done: number; size: number },
  ];
  /** A file arrived whole, its digest checked. */
  file: [{ from: string; fileId: string; name: string; size: number; path: string; contentType: string }];
  /** We refused a peer (INIT or MSG) or a peer refused us, with the registry's error. */
  refused: [{ user?: string; direction: 'in' | 'out'; code: string; status: number; reason: string }];
  /** The MS session ended: LOGOUT done, the MS closed, or a fatal link error. */
  logout: [{ reason: string; reconnecting?: boolean }];
  /**
   * [RECONNECT-1] The session ended by itself and the client will log in again: attempt n starts
   * after delayMs [§8.5 Reconnecting]; `reason` says why the session (or the last attempt) ended.
   */
  reconnecting: [{ attempt: number; delayMs: number; reason: string }];
  /** Logged in again after `reconnecting` (a `login` event came just before). */
  reconnected: [Record<string, never>];
  /**
   * A push from the MS as it arrived, before the client checks it against its contact list: what the
   * MS sent, for logs and tests of the MS ([INV-6] is about what a client receives, and the client
   * drops a PRESENCE about a non-buddy itself [PRESENCE-11]). Not written on the control stream.
   * `method` is a registered method name (generated/registry.ts), so a misspelt one does not compile.
   */
  'ms-push': [{ method: MethodName; user?: string; status?: string }];
  /** A non-fatal problem worth showing (a bad push, a failed background request). */
  warning: [{ message: string; code?: string }];
}

export type ClientEventName = keyof ClientEvents;
