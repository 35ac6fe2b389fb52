import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { guardChooser } from '../../core/algorithms.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { nodeView, testClient } from '../helpers/views.ts';

const nodes = [nodeView('a'), nodeView('b'), nodeView('c')];
const guard = suite('algorithms: a failing algorithm never costs the connection');

guard('a good answer gives that very node', () => {
  const chooser = guardChooser({ pick: () => 'b' }, recordingLogger());
  assert.is(chooser.choose(nodes, testClient), nodes[1]);
});

guard('a throwing pick falls back to a rotation over the candidates, and is logged', () => {
  const logger = recordingLogger();
  const chooser = guardChooser({ pick: () => { throw new Error('policy bug'); } }, logger);
  assert.equal([0, 1, 2, 3].map(() => chooser.choose(nodes, testClient).id), ['a', 'b', 'c', 'a']);
  assert.is(logger.lines.filter((l) => l.level === 'error' && l.fields.err === 'policy bug').length, 4);
});

guard('an answer naming no candidate falls back too, and is logged', () => {
  const logger = recordingLogger();
  const chooser = guardChooser({ pick: () => 'gone' }, logger);
  assert.is(chooser.choose(nodes, testClient).id, 'a');
  assert.is(logger.lines[0]!.fields.answer, 'gone');
  assert.is(guardChooser({ pick: () => undefined }, logger).choose(nodes, testClient).id, 'a');
});

guard.run();

const fallback = suite('algorithms: the fallback honours load factors');

fallback('a failing algorithm falls back to smooth weighted round robin', () => {
  const chooser = guardChooser({ pick: () => { throw new Error('down'); } }, recordingLogger(), 1000);
  const weighted = [nodeView('a', 3), nodeView('b', 1)];
  assert.equal(Array.from({ length: 8 }, () => chooser.choose(weighted, testClient).id), ['a', 'a', 'b', 'a', 'a', 'a', 'b', 'a']);
});

fallback.run();
