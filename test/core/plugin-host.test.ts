import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { createBalancer, isProtoBalanceError, type Config, type PluginEntry } from '../../core/index.ts';
import { silentLogger } from '../../core/logger.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { closeServer, connect, portOf, readAll, startEchoServer } from '../helpers/net.ts';
import { builtinPlugins } from '../helpers/assembly.ts';

function config(plugins: PluginEntry[], balance = 'round-robin'): Config {
  return {
    listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
    clusters: { c: { balance, nodes: [{ id: 'a', address: '127.0.0.1:1' }, { id: 'b', address: '127.0.0.1:2' }] } },
    plugins,
  };
}

async function build(c: Config, source?: string) {
  const balancer = createBalancer(c, { logger: silentLogger, builtins: builtinPlugins(), source });
  await balancer.validate();
  return balancer;
}

async function failure(c: Config, source?: string): Promise<{ code: string; message: string }> {
  try {
    await build(c, source);
  } catch (err) {
    assert.ok(isProtoBalanceError(err), String(err));
    return { code: err.code, message: err.message };
  }
  throw new Error('expected the build to fail');
}

const load = suite('plugin host: loading');

load('a local file with options, resolved from the config folder', async () => {
  const dir = tmpDir({
    'plugins/tag.mjs': `
      export default (options) => ({
        name: 'tag',
        apply(hooks) { hooks.init.tap('tag', () => { globalThis.__pbTag = options.tag; }); },
      });`,
  });
  await build(config([['./plugins/tag.mjs', { tag: 'hello' }]]), path.join(dir, 'protobalance.config.ts'));
  assert.is((globalThis as { __pbTag?: string }).__pbTag, 'hello');
});

load('a published package protobalance-plugin-* from node_modules, the same way as built-ins', async () => {
  const dir = tmpDir({
    'node_modules/protobalance-plugin-mark/package.json': JSON.stringify({
      name: 'protobalance-plugin-mark',
      version: '1.0.0',
      type: 'module',
      keywords: ['protobalance-plugin'],
      exports: './index.js',
    }),
    'node_modules/protobalance-plugin-mark/index.js': `
      export default { name: 'mark', meta: { protobalance: '>=0.1' }, apply(hooks) { hooks.init.tap('mark', () => { globalThis.__pbMark = true; }); } };`,
  });
  await build(config(['protobalance-plugin-mark']), path.join(dir, 'protobalance.config.ts'));
  assert.is((globalThis as { __pbMark?: boolean }).__pbMark, true);
});

load('a plugin registers an algorithm from its own module, and a cluster uses it by name', async () => {
  const dir = tmpDir({
    'always-b.mjs': `export default { name: 'always-b', create() { return { pick: (nodes) => nodes[nodes.length - 1].id }; } };`,
    'plugin.mjs': `export default { name: 'always-b-plugin', apply(hooks, api) { api.registerAlgorithm('always-b', new URL('./always-b.mjs', import.meta.url)); } };`,
  });
  const a = await startEchoServer();
  const b = await startEchoServer();
  const c = config(['./plugin.mjs'], 'always-b');
  c.clusters.c!.nodes = [{ id: 'a', address: `127.0.0.1:${portOf(a)}` }, { id: 'b', address: `127.0.0.1:${portOf(b)}` }];
  const balancer = createBalancer(c, { logger: silentLogger, builtins: builtinPlugins(), source: path.join(dir, 'protobalance.config.ts') });
  const [listening] = await balancer.start();
  try {
    for (let i = 0; i < 3; i++) {
      const socket = await connect(listening!.port);
      socket.end('x');
      assert.is((await readAll(socket)).toString(), 'x');
    }
    assert.is(a.connections, 0);
    assert.is(b.connections, 3);
  } finally {
    await balancer.stop(100);
    await closeServer(a);
    await closeServer(b);
  }
});

const reject = suite('plugin host: bad plugins are named');

reject('a module that cannot be found', async () => {
  const { code, message } = await failure(config(['protobalance-plugin-missing']));
  assert.is(code, 'PB_ERR_PLUGIN_LOAD');
  assert.match(message, /^plugins\[0\]: plugin "protobalance-plugin-missing" not found: tried the package protobalance-plugin-missing in /);
});

reject('an export that is not a plugin', async () => {
  const { code, message } = await failure(config([{ name: 'x' } as never]));
  assert.is(code, 'PB_ERR_CONFIG_INVALID');
  assert.match(message, 'plugins[0]: expected a module name, a plugin { name, apply } or { name, options, create }, or either as [it, options]');
});

reject('a plugin for another major version', async () => {
  const { code, message } = await failure(config([{ name: 'old', meta: { protobalance: '^9' }, apply() {} }]));
  assert.is(code, 'PB_ERR_PLUGIN_INVALID');
  assert.match(message, /^plugin old \(plugins\[0\]\) needs protobalance \^9, but this is \d/);
});

reject('a missing dependency', async () => {
  const { code, message } = await failure(config([{ name: 'needy', meta: { dependencies: ['helper'] }, apply() {} }]));
  assert.is(code, 'PB_ERR_PLUGIN_INVALID');
  assert.is(message, 'plugin needy (plugins[0]) depends on "helper", which is not loaded before it');
});

reject('a dependency loaded earlier is fine', async () => {
  await build(config([{ name: 'helper', apply() {} }, { name: 'needy', meta: { dependencies: ['helper'] }, apply() {} }]));
});

reject('the same name twice', async () => {
  const { message } = await failure(config([{ name: 'twin', apply() {} }, { name: 'twin', apply() {} }]));
  assert.is(message, 'plugin name "twin" (plugins[1]) is used twice');
});

reject('an algorithm name taken by a built-in', async () => {
  const dir = tmpDir({ 'algo.mjs': `export default { name: 'x', create() { return { pick: (n) => n[0].id }; } };` });
  const { code, message } = await failure(
    config([{ name: 'usurper', apply: (_h, api) => api.registerAlgorithm('round-robin', path.join(dir, 'algo.mjs')) }]),
  );
  assert.is(code, 'PB_ERR_PLUGIN_INVALID');
  assert.is(message, 'plugin "usurper" registers algorithm "round-robin", already registered by plugin "builtin-balancers"');
});

reject('a plugin whose apply throws', async () => {
  const { code, message } = await failure(config([{ name: 'broken', apply() { throw new Error('no'); } }]));
  assert.is(code, 'PB_ERR_PLUGIN_LOAD');
  assert.is(message, 'plugin broken (plugins[0]) failed to apply: no');
});

load.run();
reject.run();
