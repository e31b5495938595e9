// A session's contact list as the MS keeps it to filter pushes [PRESENCE-4] [CONTACT-1]: each contact's
// relation, nothing else. The MS holds one per session (15,000 per MS, issue 15), so it is one flat
// array sorted by name (name, relation, name, relation, ...) instead of a Map: a Map of 10 entries takes
// ~600 octets of heap (its hash table), this ~250 (measured with heap snapshots of a 5,000-session MS).
// Lookups are a binary search; a change shifts the array (a contact list is at most maxContacts long).
import type { Relation } from './context.js';

export class ContactList {
  /** [name0, relation0, name1, relation1, ...], names in ascending code-unit order, each once. */
  private items: string[];

  /** From [user, relation] pairs (the login bundle); a user given twice keeps its last relation. */
  constructor(pairs: Iterable<readonly [string, Relation]> = []) {
    const byName = new Map<string, Relation>();
    for (const [user, relation] of pairs) byName.set(user, relation);
    const names = [...byName.keys()].sort();
    // Allocated at its exact length: an array grown by push keeps up to half again as spare slots.
    const items = new Array<string>(names.length * 2);
    for (let i = 0; i < names.length; i++) {
      items[2 * i] = names[i]!;
      items[2 * i + 1] = byName.get(names[i]!)!;
    }
    this.items = items;
  }

  /** Number of contacts. */
  get size(): number {
    return this.items.length / 2;
  }

  /** The index of `user`'s pair, or -(insertion index) - 1 when absent. */
  private find(user: string): number {
    const items = this.items;
    let lo = 0;
    let hi = items.length / 2 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const name = items[2 * mid]!;
      if (name === user) return mid;
      if (name < user) lo = mid + 1;
      else hi = mid - 1;
    }
    return -lo - 1;
  }

  get(user: string): Relation | undefined {
    const i = this.find(user);
    return i >= 0 ? (this.items[2 * i + 1] as Relation) : undefined;
  }

  has(user: string): boolean {
    return this.find(user) >= 0;
  }

  /** Sets `user`'s relation; true when `user` was not a contact before. */
  set(user: string, relation: Relation): boolean {
    const i = this.find(user);
    if (i >= 0) {
      this.items[2 * i + 1] = relation;
      return false;
    }
    const at = 2 * (-i - 1);
    const old = this.items;
    const items = new Array<string>(old.length + 2);
    for (let k = 0; k < at; k++) items[k] = old[k]!;
    items[at] = user;
    items[at + 1] = relation;
    for (let k = at; k < old.length; k++) items[k + 2] = old[k]!;
    this.items = items;
    return true;
  }

  /** Removes `user`; true when it was a contact. */
  delete(user: string): boolean {
    const i = this.find(user);
    if (i < 0) return false;
    const old = this.items;
    const items = new Array<string>(old.length - 2);
    for (let k = 0; k < 2 * i; k++) items[k] = old[k]!;
    for (let k = 2 * i + 2; k < old.length; k++) items[k - 2] = old[k]!;
    this.items = items;
    return true;
  }

  /** The contacts' names, in ascending order. */
  *keys(): IterableIterator<string> {
    const items = this.items;
    for (let i = 0; i < items.length; i += 2) yield items[i]!;
  }
}
