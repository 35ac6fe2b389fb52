import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import latencyAware from '../../policies/latency-aware.ts';
import leastLoad from '../../policies/least-load.ts';
import reportedLoad from '../../policies/reported-load.ts';
import { nodeView, testClient as client } from '../helpers/views.ts';

const rate = suite('example policies');

rate('least-load rates open connections', () => {
  assert.is(leastLoad.rate(nodeView('n', 2, { activeConnections: 10 }), client), 10);
  assert.is(leastLoad.rate(nodeView('n'), client), 0);
});

rate('latency-aware prefers the node that accepts faster, and avoids failing ones', () => {
  const fast = nodeView('f', 1, { activeConnections: 3, connectLatency: 1 });
  const slow = nodeView('s', 1, { activeConnections: 3, connectLatency: 50 });
  const failing = nodeView('x', 1, { activeConnections: 3, connectLatency: 1, recentFailures: 2 });
  assert.ok(latencyAware.rate(fast, client) < latencyAware.rate(slow, client));
  assert.ok(latencyAware.rate(fast, client) < latencyAware.rate(failing, client));
});

rate('reported-load uses the probe metric, else open connections', () => {
  assert.is(reportedLoad.rate(nodeView('n', 1, { activeConnections: 4, metrics: { load: 0.5 } }), client), 0.5);
  assert.is(reportedLoad.rate(nodeView('n', 1, { activeConnections: 4 }), client), 4);
});

rate.run();
