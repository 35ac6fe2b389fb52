import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import connectionRate from '../../../plugins/balancers/connection-rate.ts';
import { RateSampler } from '../../../core/stats.ts';
import type { Chooser, NodeView } from '../../../core/index.ts';
import { nodeView as view, testClient as client } from '../../helpers/views.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type SimNode = Mutable<NodeView> & { bytesIn: number; bytesOut: number };

const make = (): Chooser => connectionRate.create({ cluster: 'c' });

function picks(nodes: readonly NodeView[], n: number, chooser = make()): string[] {
  return Array.from({ length: n }, () => chooser.pick(nodes, client)!);
}

function tally(ids: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of ids) out[id] = (out[id] ?? 0) + 1;
  return out;
}

const factors = suite('connection-rate: load factors');

factors('idle nodes: picks follow the factors exactly, spread out', () => {
  const nodes = [view('a', 3), view('b', 1), view('c', 2)];
  assert.equal(tally(picks(nodes, 600)), { a: 300, b: 100, c: 200 });
});

factors('rates already in proportion to the factors stay in proportion', () => {
  const nodes = [view('a', 4, { connectionRate: 40 }), view('b', 1, { connectionRate: 10 })];
  assert.equal(tally(picks(nodes, 500)), { a: 400, b: 100 });
});

factors('with rates sampled from the picks themselves (fake clock), shares follow the factors', () => {
  const nodes: SimNode[] = [
    { ...view('a', 1), bytesIn: 0, bytesOut: 0 },
    { ...view('b', 2), bytesIn: 0, bytesOut: 0 },
    { ...view('c', 5), bytesIn: 0, bytesOut: 0 },
  ];
  const sampler = new RateSampler({ window: 10_000, nodes: () => nodes, connections: () => [] });
  const chooser = make();
  const got: Record<string, number> = { a: 0, b: 0, c: 0 };
  sampler.sample(0);
  for (let second = 1; second <= 200; second++) {
    for (let i = 0; i < 30; i++) {
      const id = chooser.pick(nodes, client)!;
      nodes.find((n) => n.id === id)!.totalConnections++;
      if (second > 20) got[id]!++;
    }
    sampler.sample(second * 1000);
  }
  const total = got.a! + got.b! + got.c!;
  for (const [id, f] of [['a', 1], ['b', 2], ['c', 5]] as const) {
    const share = got[id]! / total;
    assert.ok(Math.abs(share - f / 8) < 0.01, `${id}: ${share.toFixed(4)} vs ${f / 8}`);
  }
  for (const n of nodes) {
    assert.ok(Math.abs(n.connectionRate - (30 * n.loadFactor) / 8) < 0.5, `${n.id} rate ${n.connectionRate}`);
  }
});

const ties = suite('connection-rate: ties');

ties('equal scores are broken by turns, not always the first', () => {
  // Every pick sees a freshly sampled rate, equal on all nodes: every pick is a tie.
  const chooser = make();
  const got: string[] = [];
  for (let i = 0; i < 9; i++) {
    const rate = 5 + i;
    got.push(chooser.pick([view('a', 1, { connectionRate: rate }), view('b', 1, { connectionRate: rate }), view('c', 1, { connectionRate: rate })], client)!);
  }
  assert.equal(got, ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
});

ties('scores within a relative 1e-6 are a tie; the candidate order does not matter', () => {
  const chooser = make();
  const got: string[] = [];
  for (let i = 0; i < 30; i++) {
    const rate = 100 + i;
    const nodes = [view('a', 1, { connectionRate: rate }), view('b', 1, { connectionRate: rate * (1 + 1e-9) }), view('c', 1, { connectionRate: rate * (1 - 1e-9) })];
    got.push(chooser.pick(i % 2 ? nodes : [...nodes].reverse(), client)!);
  }
  assert.equal(tally(got), { a: 10, b: 10, c: 10 });
});

ties('a clearly lower score is not a tie', () => {
  const chooser = make();
  for (let i = 0; i < 10; i++) {
    const nodes = [view('a', 1, { connectionRate: 10 + i }), view('b', 1, { connectionRate: (10 + i) * 0.999 })];
    assert.is(chooser.pick(nodes, client), 'b');
  }
});

const load = suite('connection-rate: busy nodes');

load('a node with a high rate is avoided', () => {
  const nodes = [view('busy', 1, { connectionRate: 50 }), view('x', 1), view('y', 1)];
  const got = picks(nodes, 80);
  assert.not.ok(got.slice(0, 50).includes('busy'), 'the idle nodes take the first 50');
  assert.equal(tally(got.slice(0, 50)), { x: 25, y: 25 });
});

load('the rate counts per unit of load factor', () => {
  const nodes = [view('big', 10, { connectionRate: 10 }), view('small', 1, { connectionRate: 2 })];
  assert.is(make().pick(nodes, client), 'big');
});

load('a burst within one sample does not all go to the quietest node', () => {
  const nodes = [view('a', 1, { connectionRate: 3 }), view('b', 1, { connectionRate: 0 })];
  const got = picks(nodes, 23);
  assert.equal(got.slice(0, 3), ['b', 'b', 'b']);
  assert.equal(tally(got.slice(3)), { a: 10, b: 10 });
});

load('the picks since a rate changed are forgotten when it changes', () => {
  const chooser = make();
  const before = [view('a', 1, { connectionRate: 2 }), view('b', 1, { connectionRate: 0 })];
  assert.equal(picks(before, 2, chooser), ['b', 'b']);
  assert.is(chooser.pick(before, client), 'a', 'b carries 2 recent picks: tie, a\'s turn');
  // A new sample: b's rate now shows those connections, a's is unchanged at 2.
  const after = [view('a', 1, { connectionRate: 2 }), view('b', 1, { connectionRate: 1.5 })];
  assert.is(chooser.pick(after, client), 'b', 'b: 1.5 and no recent picks; a: 2 + 1');
});

load('a rate that is not a finite positive number counts as 0', () => {
  const nodes = [view('a', 1, { connectionRate: NaN }), view('b', 1, { connectionRate: Infinity }), view('c', 1, { connectionRate: -4 })];
  assert.equal(tally(picks(nodes, 30)), { a: 10, b: 10, c: 10 });
});

load('candidates that come and go keep their own counts; state is per instance', () => {
  const chooser = make();
  const all = [view('a', 1), view('b', 1), view('c', 1)];
  picks(all, 3, chooser);
  const without = picks([all[0]!, all[2]!], 20, chooser);
  assert.equal(tally(without), { a: 10, c: 10 });
  assert.equal(picks(all, 2, chooser), ['b', 'b'], 'b has the fewest recent picks');
  assert.is(make().pick(all, client), 'a');
});

factors.run();
ties.run();
load.run();
