import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import random from '../../../plugins/balancers/random.ts';
import type { NodeView } from '../../../core/index.ts';
import { nodeView as view, testClient as client } from '../../helpers/views.ts';

/** Chi-square statistic of observed counts against the load-factor shares. */
function chiSquare(counts: Record<string, number>, nodes: NodeView[], n: number): number {
  const total = nodes.reduce((s, x) => s + x.loadFactor, 0);
  return nodes.reduce((s, x) => {
    const expected = (n * x.loadFactor) / total;
    return s + (counts[x.id]! - expected) ** 2 / expected;
  }, 0);
}

function count(nodes: NodeView[], n: number, seed?: number): Record<string, number> {
  const chooser = random.create(seed === undefined ? { cluster: 'c' } : { cluster: 'c', seed });
  const counts: Record<string, number> = Object.fromEntries(nodes.map((x) => [x.id, 0]));
  for (let i = 0; i < n; i++) counts[chooser.pick(nodes, client)!]!++;
  return counts;
}

const weighted = suite('random: weighted distribution');
const nodes = [view('a', 1), view('b', 2), view('c', 3), view('d', 4)];

weighted('with a fixed seed, 100,000 picks pass a chi-square test at p = 0.001 (3 degrees of freedom)', () => {
  const n = 100_000;
  const stat = chiSquare(count(nodes, n, 42), nodes, n);
  assert.ok(stat < 16.27, `chi-square ${stat.toFixed(2)} >= 16.27`);
});

weighted('several seeds all pass, and each share is within 2% of its factor share', () => {
  for (const seed of [1, 2, 3, 1234, 99999]) {
    const n = 50_000;
    const counts = count(nodes, n, seed);
    assert.ok(chiSquare(counts, nodes, n) < 16.27, `seed ${seed}`);
    for (const x of nodes) assert.ok(Math.abs(counts[x.id]! / n - x.loadFactor / 10) < 0.02, `seed ${seed} node ${x.id}`);
  }
});

weighted('the same seed repeats the same sequence; another seed differs', () => {
  const seq = (seed: number) => {
    const c = random.create({ cluster: 'c', seed });
    return Array.from({ length: 50 }, () => c.pick(nodes, client));
  };
  assert.equal(seq(7), seq(7));
  assert.not.equal(seq(7), seq(8));
});

weighted('unseeded picks use every node', () => {
  const counts = count(nodes, 2000);
  for (const x of nodes) assert.ok(counts[x.id]! > 0, x.id);
});

weighted('a single candidate is always picked', () => {
  assert.equal(count([view('only', 0.1)], 100, 5), { only: 100 });
});

weighted.run();
