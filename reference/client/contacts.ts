// The client's view of its contact list, block list and pending ADD requests ([§4.8 Record Bodies]
// and [§9 Presence, Contacts and the User's Data]). Pure state: the login bundle and LIST fill it, the pushes
// (PRESENCE, CONTACT, ADD, ANSWER) update it. It decides nothing on its own; ImspClient asks it
// "is this user a buddy whose key my MS delivered?" before it accepts a peer session.

import {
  PRESENCE_VALUES,
  RELATION_VALUES,
  type Decision,
  type Presence,
  type Relation,
  type Status,
} from '../../codec/index.js';

/** A header as the codec represents it. */
export type Header = [name: string, value: string];

// The value unions of spec/registry/value-types.json, generated (generated/values.ts).
export type { Presence, Relation };
export type SettableStatus = Status;

export const RELATIONS: readonly Relation[] = RELATION_VALUES;
export const PRESENCES: readonly Presence[] = PRESENCE_VALUES;

export interface Contact {
  user: string;
  relation: Exclude<Relation, 'none'>;
  status: Presence;
  /** The buddy's peer address, known only while the buddy is online. */
  address?: string;
  /** `b64(Ed25519 public).b64(X25519 public)`, as the MS delivered it while the buddy is online. */
  publicKey?: string;
}

export interface IncomingRequest {
  from: string;
  /** Milliseconds since the epoch, when the MS said. */
  time?: number;
}

/** What changed, for the client's events. */
export interface ContactChange {
  user: string;
  before: Contact | undefined;
  after: Contact | undefined;
}

function field(record: Header[], name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [n, v] of record) if (n.toLowerCase() === lower) return v;
  return undefined;
}

function asRelation(v: string | undefined): Relation | undefined {
  return v !== undefined && (RELATIONS as readonly string[]).includes(v) ? (v as Relation) : undefined;
}

function asPresence(v: string | undefined): Presence | undefined {
  return v !== undefined && (PRESENCES as readonly string[]).includes(v) ? (v as Presence) : undefined;
}

/** Bounds on what a (possibly hostile) MS can make the book hold. */
export interface BookLimits {
  /** Contacts of any relation (maxContacts + maxBlocked by default). */
  maxEntries: number;
  /** Incoming requests (maxPendingAdds by default). */
  maxRequests: number;
}

export class ContactBook {
  readonly contacts = new Map<string, Contact>();
  readonly requests = new Map<string, IncomingRequest>();

  constructor(private readonly limits: BookLimits = { maxEntries: 2000, maxRequests: 100 }) {}

  /** Replaces the whole state with a records body's content (login bundle or LIST). */
  load(records: Header[][]): void {
    this.contacts.clear();
    this.requests.clear();
    for (const r of records) {
      const user = field(r, 'User');
      const from = field(r, 'From');
      if (user !== undefined) {
        const relation = asRelation(field(r, 'Relation'));
        if (relation === undefined || relation === 'none') continue;
        this.set(
          user,
          relation,
          asPresence(field(r, 'Status')) ?? 'offline',
          field(r, 'Address'),
          field(r, 'Public-key'),
        );
      } else if (from !== undefined) {
        const t = field(r, 'Time');
        this.addRequest(from, t !== undefined && /^\d{1,16}$/.test(t) ? Number(t) : undefined);
      }
    }
  }

  get(user: string): Contact | undefined {
    return this.contacts.get(user);
  }

  list(): Contact[] {
    return [...this.contacts.values()].sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
  }

  isBuddy(user: string): boolean {
    return this.contacts.get(user)?.relation === 'buddy';
  }

  isBlocked(user: string): boolean {
    return this.contacts.get(user)?.relation === 'blocked';
  }

  /** [P2P-3] The key the MS delivered for an online buddy; undefined for anyone else. */
  buddyKey(user: string): string | undefined {
    const c = this.contacts.get(user);
    return c?.relation === 'buddy' && c.status !== 'offline' ? c.publicKey : undefined;
  }

  /**
   * [BLOCK-3] The last key the MS delivered for a user we block (kept from before the block), so that
   * an INIT signed by him can be told apart and refused ERR_BLOCKED; undefined for anyone else.
   */
  blockedKey(user: string): string | undefined {
    const c = this.contacts.get(user);
    return c?.relation === 'blocked' ? c.publicKey : undefined;
  }

  /**
   * PRESENCE push: only a buddy's presence changes; others are ignored [PRESENCE-11]. (The login
   * bundle is applied before any push, [PRESENCE-9], so a buddy is never "not yet in the list".)
   */
  presence(user: string, status: Presence, address?: string, publicKey?: string): ContactChange | undefined {
    const before = this.contacts.get(user);
    if (before?.relation !== 'buddy') return undefined;
    return {
      user,
      before,
      after: this.set(user, before.relation, status, address ?? before.address, publicKey ?? before.publicKey),
    };
  }

  /** CONTACT push: the relation changed (granted, removed, blocked, unblocked). */
  contact(user: string, relation: Relation, status: Presence, address?: string, publicKey?: string): ContactChange {
    const before = this.contacts.get(user);
    if (relation === 'none') {
      this.contacts.delete(user);
      return { user, before, after: undefined };
    }
    if (relation === 'buddy') this.requests.delete(user);
    return {
      user,
      before,
      after: this.set(
        user,
        relation,
        status,
        address,
        publicKey ?? (relation === 'blocked' ? before?.publicKey : undefined),
      ),
    };
  }

  /** ANSWER push: our pending ADD to `user` was answered. A grant is followed by a CONTACT push. */
  answered(user: string, decision: Decision): ContactChange {
    const before = this.contacts.get(user);
    if (decision === 'deny') {
      if (before?.relation === 'pending') this.contacts.delete(user);
      return { user, before, after: this.contacts.get(user) };
    }
    const after = this.set(user, 'buddy', before?.status ?? 'offline', before?.address, before?.publicKey);
    return { user, before, after };
  }

  /** We sent an ADD that is now pending. */
  pending(user: string): void {
    if (!this.contacts.has(user)) this.set(user, 'pending', 'offline');
  }

  addRequest(from: string, time?: number): void {
    if (!this.requests.has(from) && this.requests.size >= this.limits.maxRequests) return;
    this.requests.set(from, time === undefined ? { from } : { from, time });
  }

  removeRequest(from: string): boolean {
    return this.requests.delete(from);
  }

  private set(
    user: string,
    relation: Exclude<Relation, 'none'>,
    status: Presence,
    address?: string,
    publicKey?: string,
  ): Contact {
    const c: Contact = { user, relation, status };
    // An offline or non-buddy contact has no address and no key: a stale one must never be used to
    // reach anyone. A blocked user's last key is kept only to recognise (and refuse) his INIT.
    if (status !== 'offline' && relation === 'buddy') {
      if (address !== undefined) c.address = address;
      if (publicKey !== undefined) c.publicKey = publicKey;
    } else if (relation === 'blocked' && publicKey !== undefined) {
      c.publicKey = publicKey;
    }
    // A new entry beyond the bound is not kept (the caller still sees it as `after`).
    if (this.contacts.has(user) || this.contacts.size < this.limits.maxEntries) this.contacts.set(user, c);
    return c;
  }
}
