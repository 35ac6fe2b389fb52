/**
 * Parsing of client addresses and of rule entries (plugins/access-control/address.ts,
 * networks.ts, rules.ts): what is accepted, what each entry means, and the message a bad
 * entry gets (the config error shows it after the field path).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAddress, V4, V6 } from '../../../plugins/access-control/address.ts';
import { NetworkSet, parseNetwork, parseNetworks, type Network } from '../../../plugins/access-control/networks.ts';
import { listenerRules, refusalFor } from '../../../plugins/access-control/rules.ts';

const words = (text: string): { family: number; words: number[] } => {
  const out = new Uint32Array(4);
  const family = parseAddress(text, out);
  return { family, words: [...out] };
};

const addresses = suite('access-control: client addresses');

addresses('IPv4, IPv6 and IPv4-mapped text', () => {
  assert.equal(words('10.1.2.3'), { family: V4, words: [0, 0, 0xffff, 0x0a010203] });
  assert.equal(words('::ffff:10.1.2.3'), { family: V4, words: [0, 0, 0xffff, 0x0a010203] });
  assert.equal(words('::FFFF:a01:203'), { family: V4, words: [0, 0, 0xffff, 0x0a010203] });
  assert.equal(words('::1'), { family: V6, words: [0, 0, 0, 1] });
  assert.equal(words('2001:db8::8:800:200c:417a'), { family: V6, words: [0x20010db8, 0, 0x00080800, 0x200c417a] });
  assert.equal(words('fe80::1%eth0'), { family: V6, words: [0xfe800000, 0, 0, 1] });
  assert.equal(words('::'), { family: V6, words: [0, 0, 0, 0] });
  assert.equal(words('1:2:3:4:5:6:7::'), { family: V6, words: [0x10002, 0x30004, 0x50006, 0x70000] });
  // IPv4-compatible (deprecated) addresses are IPv6: only ::ffff:0:0/96 is IPv4.
  assert.equal(words('::10.1.2.3').family, V6);
});

addresses('not addresses', () => {
  for (const t of ['', '10.1.2', '10.1.2.3.4', '256.0.0.1', '01.2.3.4', '1.2.3.4 ', 'a.b.c.d', ':', ':1', '1:', ':::', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1::2:3:4:5:6:7:8', '::1.2.3.4:5', '::ffff:1.2.3', 'localhost']) {
    assert.is(parseAddress(t, new Uint32Array(4)), 0, t);
  }
});

const entries = suite('access-control: rule entries');

const range = (n: Network | { error: string }): string => {
  if ('error' in n) return `error: ${n.error}`;
  return `${n.family} ${[...n.start].map((w) => w.toString(16)).join(':')} - ${[...n.end].map((w) => w.toString(16)).join(':')}`;
};

entries('CIDR blocks and single addresses of both families', () => {
  assert.is(range(parseNetwork('10.0.0.0/8')), '4 0:0:ffff:a000000 - 0:0:ffff:affffff');
  assert.is(range(parseNetwork('10.1.2.3')), '4 0:0:ffff:a010203 - 0:0:ffff:a010203');
  assert.is(range(parseNetwork('0.0.0.0/0')), '4 0:0:ffff:0 - 0:0:ffff:ffffffff');
  assert.is(range(parseNetwork('2001:db8::/32')), '6 20010db8:0:0:0 - 20010db8:ffffffff:ffffffff:ffffffff');
  assert.is(range(parseNetwork('::1')), '6 0:0:0:1 - 0:0:0:1');
  assert.is(range(parseNetwork('::/0')), '6 0:0:0:0 - ffffffff:ffffffff:ffffffff:ffffffff');
});

entries('IPv4-mapped entries are IPv4 entries', () => {
  assert.is(range(parseNetwork('::ffff:10.0.0.0/104')), range(parseNetwork('10.0.0.0/8')));
  assert.is(range(parseNetwork('::ffff:10.1.2.3')), range(parseNetwork('10.1.2.3')));
  assert.is(range(parseNetwork('::ffff:0:0/96')), range(parseNetwork('0.0.0.0/0')));
  assert.is(range(parseNetwork('::ffff:a01:203/128')), range(parseNetwork('10.1.2.3/32')));
});

entries('what a bad entry is told', () => {
  const cases: [string, string][] = [
    ['10.0.0.0/33', 'prefix over 32'],
    ['2001:db8::/129', 'prefix over 128'],
    ['10.0.0.0/', 'prefix "" is not a whole number'],
    ['10.0.0.0/08', 'prefix "08" is not a whole number'],
    ['10.0.0.0/8/8', 'prefix "8/8" is not a whole number'],
    ['10.0.0.0/-1', 'prefix "-1" is not a whole number'],
    ['10.0.0.300/8', '"10.0.0.300" is not an IPv4 or IPv6 address'],
    ['example.com', '"example.com" is not an IPv4 or IPv6 address'],
    ['10.1.0.0/8', 'host bits set (the network is 10.0.0.0/8)'],
    ['2001:db8::1/32', 'host bits set (the network is 2001:db8::/32)'],
    ['::ffff:10.0.0.0/80', 'host bits set (the network is ::/80)'],
    ['fe80::1%eth0', 'a zone index (%…) is not allowed'],
    [' 10.0.0.0/8', 'spaces around it'],
    ['1:0:0:2:3:0:0:1/8', 'host bits set (the network is ::/8)'],
    ['1:2:3:4:5:6:7:1/127', 'host bits set (the network is 1:2:3:4:5:6:7:0/127)'],
    ['1:0:0:2:0:0:0:1/64', 'host bits set (the network is 1:0:0:2::/64)'],
    ['', 'empty'],
  ];
  for (const [text, error] of cases) assert.equal(parseNetwork(text), { error }, text);
});

entries('a list: every bad entry, each with its index', () => {
  const { networks, problems } = parseNetworks(['10.0.0.0/8', '10.0.0.0/33', 7, '::1', 'x']);
  assert.is(networks.length, 2);
  assert.equal(problems, [
    '[1]: "10.0.0.0/33" is not a network: prefix over 32',
    '[2]: expected a network like "10.0.0.0/8" or an address, got 7',
    '[4]: "x" is not a network: "x" is not an IPv4 or IPv6 address',
  ]);
  // No "got": the core adds it to a check's "expected …" message (one "got", not two).
  assert.equal(parseNetworks('10.0.0.0/8').problems, ['expected a list of networks like ["10.0.0.0/8", "2001:db8::/32"]']);
  assert.equal(parseNetworks([]), { networks: [], problems: [] });
});

const sets = suite('access-control: sets of networks');

const find = (rules: string[], address: string): string | undefined => {
  const set = new NetworkSet(parseNetworks(rules).networks);
  const out = new Uint32Array(4);
  const family = parseAddress(address, out);
  return family === 0 ? 'bad' : set.find(family, out);
};

sets('the outermost covering rule is reported; nested and adjacent blocks both work', () => {
  const rules = ['10.1.0.0/16', '10.0.0.0/8', '10.1.2.3', '11.0.0.0/8', '192.168.1.0/24', '192.168.0.0/24'];
  assert.is(find(rules, '10.1.2.3'), '10.0.0.0/8');
  assert.is(find(rules, '11.255.255.255'), '11.0.0.0/8');
  assert.is(find(rules, '12.0.0.0'), undefined);
  assert.is(find(rules, '9.255.255.255'), undefined);
  assert.is(find(rules, '192.168.0.255'), '192.168.0.0/24');
  assert.is(find(rules, '192.168.1.0'), '192.168.1.0/24');
  assert.is(find(rules, '192.168.2.0'), undefined);
  assert.is(find(rules, '::ffff:10.9.9.9'), '10.0.0.0/8');
  assert.is(find(rules, '::a00:1'), undefined);
});

sets('IPv6 rules cover IPv6 clients only, IPv4 rules IPv4 clients only', () => {
  assert.is(find(['::/0'], '2001:db8::1'), '::/0');
  assert.is(find(['::/0'], '10.0.0.1'), undefined);
  assert.is(find(['::/0'], '::ffff:10.0.0.1'), undefined);
  assert.is(find(['0.0.0.0/0'], '::1'), undefined);
  assert.is(find(['::ffff:0:0/96'], '10.0.0.1'), '::ffff:0:0/96');
  assert.is(find(['2001:db8::/32', '2001:db9::/32'], '2001:db8:ffff::1'), '2001:db8::/32');
  assert.is(find(['2001:db8::/32', '2001:db9::/32'], '2001:dba::'), undefined);
  assert.is(find(['::/0', '2001:db8::/32'], '2001:db8::1'), '::/0');
  assert.is(find([], '::1'), undefined);
});

const verdicts = suite('access-control: a listener\'s verdict');

verdicts('deny wins; allow lets in only its networks; deny alone lets in everyone else', () => {
  const both = listenerRules('in', ['10.0.0.0/8', '::1'], ['10.6.6.0/24']);
  assert.is(refusalFor(both, '10.1.1.1'), undefined);
  assert.is(refusalFor(both, '::1'), undefined);
  assert.is(refusalFor(both, '10.6.6.6'), '10.6.6.6 is denied on listener in (deny 10.6.6.0/24)');
  assert.is(refusalFor(both, '::ffff:10.6.6.6'), '::ffff:10.6.6.6 is denied on listener in (deny 10.6.6.0/24)');
  assert.is(refusalFor(both, '11.0.0.1'), '11.0.0.1 is not allowed on listener in (in no allow network)');
  const denyOnly = listenerRules('in', undefined, ['127.0.0.2']);
  assert.is(refusalFor(denyOnly, '127.0.0.1'), undefined);
  assert.is(refusalFor(denyOnly, '::1'), undefined);
  assert.match(refusalFor(denyOnly, '127.0.0.2') ?? '', 'is denied');
  const allowNobody = listenerRules('in', [], undefined);
  assert.match(refusalFor(allowNobody, '127.0.0.1') ?? '', 'is not allowed');
});

verdicts('a client address that cannot be read is refused (fail closed)', () => {
  assert.is(refusalFor(listenerRules('in', undefined, ['10.0.0.0/8']), ''), 'client address "" could not be read');
});

verdicts('a bad entry that got past validation is an error naming the listener and field', () => {
  assert.throws(() => listenerRules('in', ['10.0.0.0/33'], undefined), /listener in: allow\[0\]: "10.0.0.0\/33" is not a network: prefix over 32/);
  assert.throws(() => listenerRules('in', undefined, '10.0.0.0/8'), /^listener in: deny: expected a list of networks like/);
});

addresses.run();
entries.run();
sets.run();
verdicts.run();
