/**
 * The plugin's config fields (plugins/connection-limits/fields.ts): typed on the config
 * users write (a type error here fails the type check), checked with the config (errors
 * name the field and the plugin), resolved with their defaults.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createBalancer, definePlugin, type Config, type ResolvedCluster, type ResolvedListener } from '../../../core/index.ts';
import connectionLimits from '../../../plugins/connection-limits/index.ts';
import { builtinPlugins } from '../../helpers/assembly.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { builtIn } from './backends.ts';

const test = suite('connection-limits: fields');

// Written as users write them: no cast, so the augmentation of the config types is checked.
const typed: Config = {
  listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c', maxConnections: 100, clientRate: { connections: 20, per: '1s' } }],
  clusters: { c: { queue: { size: 10, timeout: '2s' }, nodes: [{ id: 'a', address: '127.0.0.1:1', maxConnections: 5 }] } },
};

/** Builds (and drops) a generation of `config` with the plugin; the resolved config its apply saw. */
async function resolve(config: Config): Promise<{ listener: ResolvedListener; cluster: ResolvedCluster }> {
  let seen: { listener: ResolvedListener; cluster: ResolvedCluster } | undefined;
  const spy = definePlugin({
    name: 'spy',
    apply: (_hooks, api) => void (seen = { listener: api.config.listeners[0]!, cluster: api.config.clusters.c! }),
  });
  const plugins = [...(builtIn ? [] : [connectionLimits]), spy];
  const balancer = createBalancer({ ...config, plugins, log: { level: 'silent' }, stateDir: tmpDir() }, { builtins: builtinPlugins() });
  await balancer.validate();
  return seen!;
}

test('resolved: durations in ms, the queue timeout defaults to 10 s', async () => {
  const { listener, cluster } = await resolve(typed);
  assert.equal(listener.clientRate, { connections: 20, per: 1000 });
  assert.is(listener.maxConnections, 100);
  assert.equal(cluster.queue, { size: 10, timeout: 2000 });
  assert.is(cluster.nodes[0]!.maxConnections, 5);
  const defaults = await resolve({ ...typed, clusters: { c: { ...typed.clusters.c!, queue: { size: 0 } } } });
  assert.equal(defaults.cluster.queue, { size: 0, timeout: 10_000 });
});

test('wrong values are errors that name the field and the plugin', async () => {
  const cases: [Config, RegExp][] = [
    [{ ...typed, clusters: { c: { ...typed.clusters.c!, queue: { size: -1 } } } }, /clusters\.c\.queue\.size: .*at least 0.*connection-limits/],
    [{ ...typed, clusters: { c: { nodes: [{ id: 'a', address: '127.0.0.1:1', maxConnections: 0 }] } } }, /nodes\[0\]\.maxConnections: .*at least 1.*connection-limits/],
    [{ ...typed, listeners: [{ port: 0, cluster: 'c', clientRate: { connections: 70_000, per: '1s' } }] }, /listeners\[0\]\.clientRate\.connections: .*connection-limits/],
    [{ ...typed, listeners: [{ port: 0, cluster: 'c', clientRate: { connections: 5 } as never }] }, /listeners\[0\]\.clientRate\.per: required.*connection-limits/],
  ];
  for (const [config, expected] of cases) {
    const error = await resolve(config).then(
      () => undefined,
      (err: Error) => err.message,
    );
    assert.ok(error !== undefined && expected.test(error), `${expected}: ${error}`);
  }
});

test.run();
