import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { normalizeClientAddress as norm } from '../../../plugins/affinity/address.ts';

const test = suite('affinity: client address normalization');

test('IPv4 stays as it is', () => {
  assert.is(norm('10.0.0.1'), '10.0.0.1');
  assert.is(norm('127.0.0.2'), '127.0.0.2');
  assert.is(norm(' 192.168.1.20 '), '192.168.1.20');
});

test('IPv4-mapped IPv6 becomes IPv4', () => {
  assert.is(norm('::ffff:10.0.0.1'), '10.0.0.1');
  assert.is(norm('::FFFF:10.0.0.1'), '10.0.0.1');
  assert.is(norm('0:0:0:0:0:ffff:10.0.0.1'), '10.0.0.1');
  assert.is(norm('::ffff:a00:1'), '10.0.0.1'); // the same address in hex groups
  assert.is(norm('::ffff:127.0.0.3'), '127.0.0.3');
});

test('IPv6 is lower-cased and compressed to one canonical text', () => {
  for (const form of ['::1', '::0:1', '0:0::1', '0000:0000:0000:0000:0000:0000:0000:0001', '0::0:0:1']) {
    assert.is(norm(form), '::1', form);
  }
  assert.is(norm('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.is(norm('2001:db8::0:1'), '2001:db8::1');
  assert.is(norm('2001:0db8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1'); // first longest run
  assert.is(norm('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1'); // longest run, not the first
  assert.is(norm('FD00::3'), 'fd00::3');
  assert.is(norm('::'), '::');
});

test('IPv4 and mapped IPv6 of one host share a key; other embeddings do not', () => {
  assert.is(norm('::ffff:10.0.0.1'), norm('10.0.0.1'));
  assert.is.not(norm('::10.0.0.1'), '10.0.0.1'); // deprecated IPv4-compatible: a different IPv6 address
  assert.is.not(norm('64:ff9b::10.0.0.1'), '10.0.0.1'); // NAT64 prefix: an IPv6 client
});

test('a zone is kept, so one link-local address on two interfaces is two clients', () => {
  assert.is(norm('FE80:0::1%eth0'), 'fe80::1%eth0');
  assert.is.not(norm('fe80::1%eth0'), norm('fe80::1%eth1'));
});

test('what is no IP address is kept (trimmed)', () => {
  assert.is(norm(''), '');
  assert.is(norm('  '), '');
  assert.is(norm('not-an-ip'), 'not-an-ip');
  assert.is(norm('1:2:3'), '1:2:3');
});

test.run();
