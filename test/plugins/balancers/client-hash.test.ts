import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import clientHash, { normalizeAddress } from '../../../plugins/balancers/client-hash.ts';
import type { Chooser, NodeView } from '../../../core/index.ts';
import { nodeView } from '../../helpers/views.ts';

const SECRET = 'twin-secret';
const make = (secret = SECRET): Chooser => clientHash.create({ cluster: 'c', hashSecret: secret });
const client = (address: string) => ({ address, port: 40000, listener: 'l' });
const addresses = Array.from({ length: 10_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);

function assign(chooser: Chooser, nodes: NodeView[]): string[] {
  return addresses.map((a) => chooser.pick(nodes, client(a))!);
}

const nodes = ['a', 'b', 'c', 'd'].map((id) => nodeView(id));

const twins = suite('client-hash: twin balancers');

twins('two independent instances agree for 10,000 client addresses', () => {
  assert.equal(assign(make(), nodes), assign(make(), nodes));
});

twins('a returning client gets the same answer from the remembered hashes', () => {
  const c = make();
  const first = assign(c, nodes);
  assert.equal(assign(c, nodes), first);
  assert.equal(assign(c, [...nodes, nodeView('e')]).filter((id, i) => id !== first[i] && id !== 'e'), []);
});

twins('the node order given to each does not matter', () => {
  assert.equal(assign(make(), nodes), assign(make(), [...nodes].reverse()));
});

twins('another secret gives another assignment', () => {
  const one = assign(make(), nodes);
  const other = assign(make('other'), nodes);
  const same = one.filter((id, i) => id === other[i]).length;
  assert.ok(same < 3500, `${same} of 10,000 unchanged (chance is about 2,500)`);
});

twins('rankings agree, and start with the pick', () => {
  const one = make();
  const two = make();
  for (const a of addresses.slice(0, 500)) {
    const r = one.rank!(nodes, client(a));
    assert.equal(r, two.rank!(nodes, client(a)));
    assert.is(r[0], one.pick(nodes, client(a)));
    assert.is(new Set(r).size, nodes.length);
  }
});

const moves = suite('client-hash: minimal movement');

moves('adding a node moves about its share, all of them to the new node', () => {
  const before = assign(make(), nodes);
  const after = assign(make(), [...nodes, nodeView('e')]);
  let moved = 0;
  before.forEach((id, i) => {
    if (after[i] !== id) {
      moved++;
      assert.is(after[i], 'e', `client ${addresses[i]} moved to ${after[i]}`);
    }
  });
  // Expected 1/5 = 2,000; a binomial spread of ±4 sigma is about ±160.
  assert.ok(moved > 1800 && moved < 2200, `${moved} moved`);
});

moves('removing a node moves only its own clients', () => {
  const before = assign(make(), nodes);
  const after = assign(make(), nodes.filter((n) => n.id !== 'b'));
  before.forEach((id, i) => {
    if (id !== 'b') assert.is(after[i], id);
    else assert.is.not(after[i], 'b');
  });
});

const weights = suite('client-hash: load factors');

weights('each node wins about its share of load factor', () => {
  const weighted = [nodeView('a', 1), nodeView('b', 2), nodeView('c', 5)];
  const got = assign(make(), weighted);
  const share = (id: string) => got.filter((x) => x === id).length / got.length;
  assert.ok(Math.abs(share('a') - 1 / 8) < 0.015, `a ${share('a')}`);
  assert.ok(Math.abs(share('b') - 2 / 8) < 0.02, `b ${share('b')}`);
  assert.ok(Math.abs(share('c') - 5 / 8) < 0.02, `c ${share('c')}`);
});

const forms = suite('client-hash: address forms');

forms('IPv4-mapped IPv6 counts as IPv4; IPv6 works', () => {
  assert.is(normalizeAddress('::ffff:10.1.2.3'), '10.1.2.3');
  assert.is(normalizeAddress('::FFFF:10.1.2.3'), '10.1.2.3');
  assert.is(normalizeAddress('2001:DB8::1'), '2001:db8::1');
  const c = make();
  for (const a of addresses.slice(0, 200)) assert.is(c.pick(nodes, client(`::ffff:${a}`)), c.pick(nodes, client(a)));
  assert.ok(['a', 'b', 'c', 'd'].includes(c.pick(nodes, client('2001:db8::42'))!));
});

twins.run();
moves.run();
weights.run();
forms.run();
