import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContactBook } from '../../reference/client/contacts.js';

const PK = 'A'.repeat(43) + '.' + 'B'.repeat(43);

test('the login bundle fills contacts and pending requests; keys only for online buddies', () => {
  const b = new ContactBook();
  b.load([
    [
      ['User', 'bob'],
      ['Relation', 'buddy'],
      ['Status', 'busy'],
      ['Address', '127.0.0.1:1'],
      ['Public-key', PK],
    ],
    [
      ['User', 'carol'],
      ['Relation', 'pending'],
      ['Status', 'offline'],
    ],
    [
      ['User', 'dave'],
      ['Relation', 'blocked'],
      ['Status', 'online'],
      ['Address', '127.0.0.1:2'],
      ['Public-key', PK],
    ],
    [
      ['User', 'erin'],
      ['Relation', 'buddy'],
      ['Status', 'offline'],
    ],
    [
      ['From', 'frank'],
      ['Time', '1700000000000'],
    ],
    [
      ['User', 'bad'],
      ['Relation', 'friend'],
      ['Status', 'online'],
    ],
  ]);
  assert.deepEqual(
    b.list().map((c) => c.user),
    ['bob', 'carol', 'dave', 'erin'],
  );
  assert.equal(b.buddyKey('bob'), PK);
  assert.equal(b.buddyKey('dave'), undefined);
  assert.equal(b.get('dave')?.address, undefined);
  assert.equal(b.buddyKey('erin'), undefined);
  assert.ok(b.isBlocked('dave'));
  assert.equal(b.blockedKey('dave'), PK);
  assert.equal(b.blockedKey('bob'), undefined);
  assert.deepEqual(b.requests.get('frank'), { from: 'frank', time: 1700000000000 });
});

test('[P2P-3] presence offline drops the address and key; unknown users are ignored', () => {
  const b = new ContactBook();
  b.load([
    [
      ['User', 'bob'],
      ['Relation', 'buddy'],
      ['Status', 'online'],
      ['Address', '127.0.0.1:1'],
      ['Public-key', PK],
    ],
  ]);
  assert.equal(b.presence('zed', 'online', '127.0.0.1:9', PK), undefined);
  assert.equal(b.get('zed'), undefined);
  b.presence('bob', 'offline');
  assert.equal(b.buddyKey('bob'), undefined);
  assert.equal(b.get('bob')?.address, undefined);
  b.presence('bob', 'away', '127.0.0.1:3', PK);
  assert.equal(b.get('bob')?.address, '127.0.0.1:3');
  assert.equal(b.buddyKey('bob'), PK);
});

test('CONTACT and ANSWER pushes change relations', () => {
  const b = new ContactBook();
  b.pending('carol');
  assert.equal(b.get('carol')?.relation, 'pending');
  b.answered('carol', 'deny');
  assert.equal(b.get('carol'), undefined);
  b.addRequest('dan', 5);
  b.contact('dan', 'buddy', 'online', '127.0.0.1:4', PK);
  assert.equal(b.requests.size, 0);
  assert.equal(b.buddyKey('dan'), PK);
  b.contact('dan', 'blocked', 'offline');
  assert.equal(b.buddyKey('dan'), undefined);
  assert.equal(b.get('dan')?.address, undefined);
  assert.equal(b.blockedKey('dan'), PK, '[BLOCK-3] the key from before the block is kept to recognise his INIT');
  b.contact('dan', 'none', 'offline');
  assert.equal(b.get('dan'), undefined);
});

test('the book is bounded whatever an MS pushes', () => {
  const b = new ContactBook({ maxEntries: 3, maxRequests: 2 });
  for (let i = 0; i < 10; i++) {
    b.contact(`u${i}`, 'pending', 'offline');
    b.addRequest(`r${i}`);
  }
  assert.equal(b.contacts.size, 3);
  assert.equal(b.requests.size, 2);
  b.contact('u0', 'buddy', 'online', '127.0.0.1:1', PK);
  assert.equal(b.buddyKey('u0'), PK, 'existing entries still change');
});

test('[PRESENCE-11] a PRESENCE about a user who is not a buddy changes nothing; a CONTACT always applies', () => {
  const book = new ContactBook();
  book.load([
    [
      ['User', 'bob'],
      ['Relation', 'pending'],
      ['Status', 'offline'],
    ],
  ]);
  assert.equal(book.presence('bob', 'online', '127.0.0.1:1', 'k'), undefined);
  assert.equal(book.get('bob')?.status, 'offline');
  assert.equal(book.presence('carol', 'online', '127.0.0.1:2', 'k'), undefined);
  assert.equal(book.get('carol'), undefined);
  book.contact('carol', 'buddy', 'online', '127.0.0.1:2', 'k');
  assert.equal(book.get('carol')?.status, 'online');
  assert.equal(book.presence('carol', 'away')?.after?.status, 'away');
});
