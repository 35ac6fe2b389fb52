/**
 * Slow start: a cluster's `slowStart: '30s'` ramps a node that comes back, or is added,
 * from a small share of its load factor up to all of it over that window, so that a node
 * that just restarted (cold caches, JIT, pools) is not handed its full share at once.
 *
 * "Comes back": its availability turns true after it was down (failed connects or health
 * checks; polled every 250 ms, the core has no hook for it), or its state turns green
 * from yellow or red (`nodeStateChanged`). "Added": it is in a generation that replaced
 * one without it (a runtime node add, a reload; `configChanged`). The nodes of the first
 * start are at full weight from the start.
 *
 * The ramp (ramp.ts) goes through `api.balancer.setLoadFactorScale`, so every algorithm
 * sees it as the node's `loadFactor`. The scale is per process: each process of a group
 * ramps by its own view of the node, from the same ramp function.
 *
 * Without any cluster's `slowStart`, nothing is tapped but `configChanged`, which ends
 * ramps a reload took the window away from.
 */
import { definePlugin } from 'protobalance';
import { SlowStartDriver, windowOf } from './driver.ts';
import { FIELDS } from './fields.ts';

export default definePlugin({
  name: 'slow-start',
  meta: { protobalance: '^0.1' },
  fields: FIELDS,
  apply(hooks, api) {
    const driver = new SlowStartDriver(api, api.logger);
    const any = Object.values(api.config.clusters).some((c) => windowOf(c) > 0);
    // Started when the generation serves, not in init: a generation whose init fails is
    // dropped without its shutdown, and its timer would run on.
    if (any) {
      hooks.listening.tap('slow-start', () => driver.start());
      hooks.nodeStateChanged.tap('slow-start', (node, state, previous) => driver.nodeStateChanged(node, state, previous));
    }
    hooks.configChanged.tap('slow-start', (config, previous) => driver.configChanged(config, previous));
    hooks.shutdown.tapPromise('slow-start', async () => driver.stop());
  },
});
