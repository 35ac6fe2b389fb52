/**
 * Warnings about the config that the built-in plugins give when they apply: every process
 * of a group applies each generation, so the primary alone says them (a worker built
 * with `adopt`, as worker processes are, says nothing).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createBalancer, type Config } from '../../core/index.ts';
import { builtinPlugins } from '../helpers/assembly.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { tmpDir } from '../helpers/tmp.ts';

const test = suite('built-in plugins: warnings at apply, from the primary only');

/** The warnings a balancer of `role` logs while it starts on `config`. */
async function warnings(config: Config, role: 'primary' | 'worker'): Promise<{ msg: string; fields: Record<string, unknown> }[]> {
  const logger = recordingLogger();
  const balancer = createBalancer({ stateDir: tmpDir(), admin: false, ...config } as Config, {
    logger,
    builtins: builtinPlugins(),
    ...(role === 'worker' ? { adopt: [] } : {}),
  });
  await balancer.start();
  await balancer.stop(0);
  return logger.lines.filter((l) => l.level === 'warn').map(({ msg, fields }) => ({ msg, fields }));
}

const node = (id: string, more: object = {}) => ({ id, address: `127.0.0.1:${id === 'a' ? 1 : 2}`, ...more });

test('access control: allow: [] is said once, by the primary', async () => {
  const config = { listeners: [{ name: 'shut', port: 0, host: '127.0.0.1', cluster: 'c', allow: [] }], clusters: { c: { nodes: [node('a')] } } } as Config;
  const said = (await warnings(config, 'primary')).filter((w) => w.msg.startsWith('allow is an empty list'));
  assert.equal(said.map((w) => w.fields['listener']), ['shut']);
  assert.equal((await warnings(config, 'worker')).filter((w) => w.msg.startsWith('allow is an empty list')), []);
});

const NOBODY = 'a queue, but no node of the cluster has maxConnections: nobody will wait in it';

test('connection limits: a queue in a cluster without node maxConnections is said by the primary, also when no node anywhere has one', async () => {
  // No maxConnections anywhere in the config: the plugin has nothing else to do.
  const alone = { listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }], clusters: { c: { queue: { size: 5 }, nodes: [node('a')] } } } as unknown as Config;
  assert.equal((await warnings(alone, 'primary')).filter((w) => w.msg === NOBODY).map((w) => w.fields['cluster']), ['c']);
  assert.equal((await warnings(alone, 'worker')).filter((w) => w.msg === NOBODY), []);

  // Another cluster's nodes are limited: only the queue of the unlimited one is said.
  const mixed = {
    listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
    clusters: {
      c: { queue: { size: 5 }, nodes: [node('a')] },
      d: { queue: { size: 5 }, nodes: [node('b', { maxConnections: 3 })] },
    },
  } as unknown as Config;
  assert.equal((await warnings(mixed, 'primary')).filter((w) => w.msg === NOBODY).map((w) => w.fields['cluster']), ['c']);
  assert.equal((await warnings(mixed, 'worker')).filter((w) => w.msg === NOBODY), []);
});

test.run();
