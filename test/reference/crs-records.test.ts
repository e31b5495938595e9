// The CRS's contact and pending-request records [§4.8 Record Bodies], built field by field for the
// login bundle and LIST: names, order, and Address/Public-key only when the entry carries them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contactRecord, pendingRecord } from '../../reference/crs/crs.js';
import { encodeRecords, parseRecords } from '../../codec/index.js';

test('contact records: User, Relation, Status, then Address and Public-key of a visible buddy only', () => {
  const key = `${'A'.repeat(43)}.${'B'.repeat(43)}`;
  assert.deepEqual(
    contactRecord({ user: 'bob', relation: 'buddy', status: 'busy', address: '127.0.0.1:7200', publicKey: key }),
    [
      ['User', 'bob'],
      ['Relation', 'buddy'],
      ['Status', 'busy'],
      ['Address', '127.0.0.1:7200'],
      ['Public-key', key],
    ],
  );
  assert.deepEqual(contactRecord({ user: 'carol', relation: 'buddy', status: 'offline' }), [
    ['User', 'carol'],
    ['Relation', 'buddy'],
    ['Status', 'offline'],
  ]);
  assert.deepEqual(contactRecord({ user: 'dave', relation: 'blocked', status: 'offline' }), [
    ['User', 'dave'],
    ['Relation', 'blocked'],
    ['Status', 'offline'],
  ]);
});

test('pending records: From and Time; a bundle body round-trips through the records codec', () => {
  assert.deepEqual(pendingRecord({ from: 'erin', to: 'bob', time: 1700000000123 }), [
    ['From', 'erin'],
    ['Time', '1700000000123'],
  ]);
  const list = [
    contactRecord({ user: 'bob', relation: 'pending', status: 'offline' }),
    pendingRecord({ from: 'erin', to: 'x', time: 5 }),
  ];
  assert.deepEqual(parseRecords(encodeRecords(list)), list);
});
