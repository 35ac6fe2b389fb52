import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import roundRobin from '../../../plugins/balancers/round-robin.ts';
import type { NodeView } from '../../../core/index.ts';
import { nodeView as view, testClient as client } from '../../helpers/views.ts';

function picks(nodes: NodeView[], n: number, chooser = roundRobin.create({ cluster: 'c' })): string[] {
  return Array.from({ length: n }, () => chooser.pick(nodes, client)!);
}

const sequence = suite('round-robin: sequence');

sequence('equal factors take strict turns', () => {
  assert.equal(picks([view('a', 1), view('b', 1), view('c', 1)], 7), ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
});

sequence('factor 3 against 1 gives 3 of every 4, interleaved', () => {
  assert.equal(picks([view('a', 3), view('b', 1)], 8), ['a', 'a', 'b', 'a', 'a', 'a', 'b', 'a']);
});

sequence('5:1:1 is spread out (the smooth sequence), not bunched', () => {
  assert.equal(picks([view('a', 5), view('b', 1), view('c', 1)], 7), ['a', 'a', 'b', 'a', 'c', 'a', 'a']);
});

sequence('fractional factors keep their proportion over a cycle', () => {
  const got = picks([view('a', 0.5), view('b', 1.5)], 400);
  assert.is(got.filter((x) => x === 'a').length, 100);
});

const changes = suite('round-robin: changing candidates');

changes('a node leaving and returning does not starve the others', () => {
  const chooser = roundRobin.create({ cluster: 'c' });
  const all = [view('a', 1), view('b', 1), view('c', 1)];
  picks(all, 2, chooser);
  const without = picks([all[0]!, all[2]!], 40, chooser);
  const a = without.filter((x) => x === 'a').length;
  assert.ok(Math.abs(a - 20) <= 1, `a got ${a} of 40`);
  const back = picks(all, 30, chooser);
  for (const id of ['a', 'b', 'c']) {
    const got = back.filter((x) => x === id).length;
    assert.ok(Math.abs(got - 10) <= 1, `${id} got ${got} of 30`);
  }
});

changes('state is per instance (one per cluster)', () => {
  const nodes = [view('a', 1), view('b', 1)];
  const one = roundRobin.create({ cluster: 'x' });
  const two = roundRobin.create({ cluster: 'y' });
  assert.is(one.pick(nodes, client), 'a');
  assert.is(two.pick(nodes, client), 'a');
  assert.is(one.pick(nodes, client), 'b');
});

sequence.run();
changes.run();
