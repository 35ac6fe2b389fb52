import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import leastLoad from '../../policies/least-load.ts';
import { nodeView, testClient as client } from '../helpers/views.ts';

const node = (activeConnections: number, loadFactor: number) => nodeView('n', loadFactor, { activeConnections });

const rate = suite('policies/least-load');

rate('rates active connections per unit of load factor', () => {
  assert.is(leastLoad.rate(node(10, 2), client), 5);
  assert.is(leastLoad.rate(node(0, 1), client), 0);
  assert.ok(leastLoad.rate(node(6, 3), client) < leastLoad.rate(node(3, 1), client), 'a bigger factor carries more');
});

rate.run();
