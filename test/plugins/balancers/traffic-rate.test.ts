import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import trafficRate from '../../../plugins/balancers/traffic-rate.ts';
import { RateSampler, type SampledConnection } from '../../../core/stats.ts';
import type { Chooser, NodeView } from '../../../core/index.ts';
import { nodeView as view, testClient as client } from '../../helpers/views.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type SimNode = Mutable<NodeView> & { bytesIn: number; bytesOut: number };

const make = (): Chooser => trafficRate.create({ cluster: 'c' });

function picks(nodes: readonly NodeView[], n: number, chooser = make()): string[] {
  return Array.from({ length: n }, () => chooser.pick(nodes, client)!);
}

function tally(ids: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of ids) out[id] = (out[id] ?? 0) + 1;
  return out;
}

const factors = suite('traffic-rate: load factors');

factors('idle nodes: picks follow the factors exactly', () => {
  assert.equal(tally(picks([view('a', 3), view('b', 1), view('c', 2)], 600)), { a: 300, b: 100, c: 200 });
  assert.equal(picks([view('a', 3), view('b', 1)], 8), ['a', 'b', 'a', 'a', 'a', 'b', 'a', 'a']);
});

factors('rates already in proportion to the factors stay in proportion', () => {
  const nodes = [view('a', 4, { bytesRate: 4e6, activeConnections: 40 }), view('b', 1, { bytesRate: 1e6, activeConnections: 10 })];
  assert.equal(tally(picks(nodes, 500)), { a: 400, b: 100 });
});

factors('with traffic sampled from the picked connections (fake clock), shares follow the factors', () => {
  const nodes: SimNode[] = [
    { ...view('a', 1), bytesIn: 0, bytesOut: 0 },
    { ...view('b', 2), bytesIn: 0, bytesOut: 0 },
    { ...view('c', 5), bytesIn: 0, bytesOut: 0 },
  ];
  type SimConnection = SampledConnection & { ctx: { node: SimNode }; client: { bytesRead: number; bytesWritten: number }; endsAt: number };
  const open = new Set<SimConnection>();
  const sampler = new RateSampler({ window: 10_000, nodes: () => nodes, connections: () => open });
  const chooser = make();
  const got: Record<string, number> = { a: 0, b: 0, c: 0 };
  sampler.sample(0);
  for (let second = 1; second <= 200; second++) {
    // 30 new connections a second, each moving 1,000 bytes in each of 3 seconds.
    for (let i = 0; i < 30; i++) {
      const id = chooser.pick(nodes, client);
      const node = nodes.find((n) => n.id === id)!;
      node.totalConnections++;
      node.activeConnections++;
      open.add({ ctx: { node }, client: { bytesRead: 0, bytesWritten: 0 }, endsAt: second + 2 });
      if (second > 20) got[node.id]!++;
    }
    for (const conn of open) {
      conn.client.bytesRead += 600;
      conn.client.bytesWritten += 400;
      if (conn.endsAt <= second) {
        open.delete(conn);
        conn.ctx.node.activeConnections--;
        conn.ctx.node.bytesIn += conn.client.bytesRead;
        conn.ctx.node.bytesOut += conn.client.bytesWritten;
      }
    }
    sampler.sample(second * 1000);
  }
  const total = got.a! + got.b! + got.c!;
  for (const [id, f] of [['a', 1], ['b', 2], ['c', 5]] as const) {
    const share = got[id]! / total;
    assert.ok(Math.abs(share - f / 8) < 0.01, `${id}: ${share.toFixed(4)} vs ${f / 8}`);
  }
  for (const n of nodes) {
    const want = (90_000 * n.loadFactor) / 8; // 30/s × 3 s × 1,000 B/s, by factor
    assert.ok(Math.abs(n.bytesRate - want) < 0.05 * want, `${n.id} bytesRate ${n.bytesRate} vs ${want}`);
  }
});

const ties = suite('traffic-rate: ties');

ties('equal scores are broken by turns, not always the first', () => {
  const chooser = make();
  const got: string[] = [];
  for (let i = 0; i < 9; i++) {
    const rate = 1000 + i;
    got.push(chooser.pick([view('a', 1, { bytesRate: rate }), view('b', 1, { bytesRate: rate }), view('c', 1, { bytesRate: rate })], client)!);
  }
  assert.equal(got, ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
});

ties('scores within a relative 1e-6 are a tie; the candidate order does not matter', () => {
  const chooser = make();
  const got: string[] = [];
  for (let i = 0; i < 30; i++) {
    const rate = 1e6 + i;
    const nodes = [view('a', 1, { bytesRate: rate }), view('b', 1, { bytesRate: rate * (1 + 1e-9) }), view('c', 1, { bytesRate: rate * (1 - 1e-9) })];
    got.push(chooser.pick(i % 2 ? nodes : [...nodes].reverse(), client)!);
  }
  assert.equal(tally(got), { a: 10, b: 10, c: 10 });
});

ties('a clearly lower score is not a tie', () => {
  const chooser = make();
  for (let i = 0; i < 10; i++) {
    const nodes = [view('a', 1, { bytesRate: 1e6 + i }), view('b', 1, { bytesRate: (1e6 + i) * 0.999 })];
    assert.is(chooser.pick(nodes, client), 'b');
  }
});

const load = suite('traffic-rate: busy nodes');

load('a node moving far more bytes is avoided', () => {
  // 10 open connections at 100 kB/s each on busy: a pick is estimated at 100 kB/s.
  const nodes = [view('busy', 1, { bytesRate: 1e6, activeConnections: 10 }), view('x', 1), view('y', 1)];
  const got = picks(nodes, 40);
  assert.not.ok(got.slice(0, 20).includes('busy'), 'the idle nodes take the first 20');
  assert.equal(tally(got.slice(0, 20)), { x: 10, y: 10 });
});

load('the rate counts per unit of load factor', () => {
  const nodes = [view('big', 10, { bytesRate: 10e6, activeConnections: 5 }), view('small', 1, { bytesRate: 2e6, activeConnections: 5 })];
  assert.is(make().pick(nodes, client), 'big');
});

load('one bulk connection: the idle node takes the next two, then they share a burst', () => {
  // perPick is bounded by the mean per node (500 kB/s), not the one connection's 1 MB/s.
  const nodes = [view('bulk', 1, { bytesRate: 1e6, activeConnections: 1 }), view('idle', 1)];
  const got = picks(nodes, 22);
  assert.equal(got.slice(0, 2), ['idle', 'idle']);
  assert.equal(tally(got.slice(2)), { bulk: 10, idle: 10 });
});

load('the picks since a rate changed are forgotten when it changes', () => {
  const chooser = make();
  const before = [view('a', 1, { bytesRate: 1000, activeConnections: 1 }), view('b', 1)];
  assert.equal(picks(before, 2, chooser), ['b', 'b']);
  assert.is(chooser.pick(before, client), 'a', 'b carries 2 recent picks: tie, a\'s turn');
  const after = [view('a', 1, { bytesRate: 1000, activeConnections: 1 }), view('b', 1, { bytesRate: 900, activeConnections: 1 })];
  assert.is(chooser.pick(after, client), 'b', 'b: 900 and no recent picks; a: 1000 + one pick');
});

load('a rate that is not a finite positive number counts as 0', () => {
  const nodes = [view('a', 1, { bytesRate: NaN }), view('b', 1, { bytesRate: Infinity }), view('c', 1, { bytesRate: -4 })];
  assert.equal(tally(picks(nodes, 30)), { a: 10, b: 10, c: 10 });
});

load('state is per instance (one per cluster)', () => {
  const nodes = [view('a', 1), view('b', 1)];
  const one = make();
  assert.is(one.pick(nodes, client), 'a');
  assert.is(make().pick(nodes, client), 'a');
  assert.is(one.pick(nodes, client), 'b');
});

factors.run();
ties.run();
load.run();
