/**
 * client-hash as a consistent-hash ring (plugins/balancers/hash-ring.ts): weights, minimal
 * movement, fall-over ranks, and the same answers in every instance, process and sandbox,
 * up to 5,000 nodes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import clientHash from '../../../plugins/balancers/client-hash.ts';
import { createInProcessRunner, createSandboxRunner } from '../../../core/index.ts';
import type { Chooser, NodeView } from '../../../core/index.ts';
import { nodeView } from '../../helpers/views.ts';

const SECRET = 'ring-secret';
const make = (secret = SECRET): Chooser => clientHash.create({ cluster: 'c', hashSecret: secret });
const client = (address: string) => ({ address, port: 40000, listener: 'l' });
const addressOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const clients = (count: number) => Array.from({ length: count }, (_, i) => client(addressOf(i)));
const cluster = (count: number, factor: (i: number) => number = () => 1) => Array.from({ length: count }, (_, i) => nodeView(`n${i}`, factor(i)));
const assign = (chooser: Chooser, nodes: NodeView[], cs: ReturnType<typeof clients>) => cs.map((c) => chooser.pick(nodes, c)!);

const weights = suite('client-hash ring: load factors');

weights('30,000 clients over factors 1, 2, 3: each within ±5 % of its share', () => {
  const nodes = [nodeView('a', 1), nodeView('b', 2), nodeView('c', 3)];
  const got = assign(make(), nodes, clients(30_000));
  for (const node of nodes) {
    const share = got.filter((id) => id === node.id).length / got.length;
    const want = node.loadFactor / 6;
    assert.ok(Math.abs(share / want - 1) < 0.05, `${node.id}: ${share.toFixed(4)}, want ${want.toFixed(4)}`);
  }
});

weights('fractional factors: a 0.5 node gets about half a 1 node\'s clients', () => {
  const nodes = [nodeView('a', 0.5), nodeView('b', 1), nodeView('c', 1)];
  const got = assign(make(), nodes, clients(20_000));
  const ratio = got.filter((id) => id === 'a').length / got.filter((id) => id === 'b').length;
  assert.ok(ratio > 0.45 && ratio < 0.55, `ratio ${ratio}`);
});

weights('5,000 nodes: every node is reachable, factor-2 nodes get about twice the clients', () => {
  const nodes = cluster(5000, (i) => 1 + (i % 2));
  const got = assign(make(), nodes, clients(60_000));
  const count = new Map<string, number>();
  for (const id of got) count.set(id, (count.get(id) ?? 0) + 1);
  let ones = 0;
  let twos = 0;
  for (const [id, n] of count) (Number(id.slice(1)) % 2 === 0 ? (ones += n) : (twos += n));
  assert.ok(Math.abs(twos / ones - 2) < 0.15, `factor-2 / factor-1 clients: ${twos / ones}`);
});

const moves = suite('client-hash ring: movement');

moves('a removed node moves only its own clients (factors summing to 16: full density)', () => {
  const nodes = cluster(8, () => 2);
  const cs = clients(20_000);
  const before = assign(make(), nodes, cs);
  const after = assign(make(), nodes.filter((n) => n.id !== 'n3'), cs);
  let moved = 0;
  before.forEach((id, i) => {
    if (id === 'n3') moved++;
    else assert.is(after[i], id, `client ${i} moved from ${id} to ${after[i]}`);
  });
  assert.ok(moved > 2000, `${moved} on n3`);
});

moves('100 nodes: a removed node moves its clients, and about as many again at most', () => {
  const nodes = cluster(100);
  const cs = clients(30_000);
  const before = assign(make(), nodes, cs);
  const after = assign(make(), nodes.filter((n) => n.id !== 'n42'), cs);
  const own = before.filter((id) => id === 'n42').length;
  const others = before.filter((id, i) => id !== 'n42' && after[i] !== id).length;
  assert.ok(after.every((id) => id !== 'n42'));
  assert.ok(others <= 2.5 * own + 50, `${others} other clients moved; n42 had ${own}`);
});

const agree = suite('client-hash ring: the same answer everywhere');

agree('fresh instances, any candidate order, 5,000 nodes: same picks and ranks', () => {
  const nodes = cluster(5000, (i) => 1 + (i % 3));
  const shuffled = [...nodes].sort((x, y) => ((Number(x.id.slice(1)) * 7919) % 5003) - ((Number(y.id.slice(1)) * 7919) % 5003));
  const cs = clients(2000);
  assert.equal(assign(make(), nodes, cs), assign(make(), shuffled, cs));
  const one = make();
  const two = make();
  for (const c of cs.slice(0, 5)) assert.equal(one.rank!(nodes, c), two.rank!(shuffled, c));
  assert.is.not(assign(make('other'), nodes, cs).join(), assign(make(), nodes, cs).join());
});

agree('rank lists every candidate once, starting with the pick', () => {
  for (const count of [3, 100, 5000]) {
    const nodes = cluster(count, (i) => (i % 5 === 0 ? 0.01 : 1 + (i % 3)));
    const c = make();
    for (const cl of clients(20)) {
      const r = c.rank!(nodes, cl);
      assert.is(r.length, count);
      assert.is(new Set(r).size, count);
      assert.is(r[0], c.pick(nodes, cl));
    }
  }
});

agree('sandboxed (through the candidate table) and in-process agree at 5,000 nodes, across set changes', async () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const module = fileURLToPath(new URL('../../../plugins/balancers/client-hash.ts', import.meta.url));
  const sandbox = createSandboxRunner({ cpuTimeout: 200, memoryLimit: 64, baseDir: root });
  const local = createInProcessRunner();
  try {
    const options = { cluster: 'c', hashSecret: SECRET };
    const sandboxed = await sandbox.create(module, options);
    const inProcess = await local.create(module, options);
    const direct = make();
    const all = cluster(5000, (i) => 1 + (i % 3));
    const some = all.filter((_, i) => i % 11 !== 0);
    for (const set of [all, some, all]) {
      for (const c of clients(300)) {
        const want = direct.pick(set, c);
        assert.is(sandboxed.pick(set, c), want, c.address);
        assert.is(inProcess.pick(set, c), want, c.address);
      }
      const c = client('192.0.2.7');
      assert.equal(sandboxed.rank!(set, c), direct.rank!(set, c));
    }
    // A factor changed in place (a runtime change) reaches both.
    (all[7] as { loadFactor: number }).loadFactor = 40;
    for (const c of clients(300)) assert.is(sandboxed.pick(all, c), direct.pick(all, c), c.address);
  } finally {
    sandbox.dispose();
    local.dispose();
  }
});

weights.run();
moves.run();
agree.run();
