/**
 * Config fields declared by plugins (core/config-plugin-fields.ts): resolved onto the
 * resolved listeners, clusters and nodes, checked with messages that name the field and
 * the plugin, in both phases (validateConfig given the plugins; the generation's build
 * after a config validated with `plugins: 'later'`), on reloads and on nodes the admin
 * API adds. The plugin here is a test's, not a feature.
 */
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addNode, ChangeError, createBalancer, definePlugin, isProtoBalanceError, validateConfig, type Config, type Plugin } from '../../core/index.ts';
import { builtinPlugins } from '../helpers/assembly.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { addr, closeServer, roundTrip, startEchoServer } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

const SOURCE = '/etc/pb/protobalance.config.ts';
/** A config file's place for balancers: their algorithms are bundled from its folder, which must exist. */
const here = () => path.join(tmpDir(), 'protobalance.config.ts');
const OF = '(a field of plugin test-fields)';
const DURATION = 'a duration like "500ms", "2s", "5m" or milliseconds';

/** What `apply` saw of each cluster's fields: they are resolved before any plugin applies. */
const seen: unknown[] = [];
const testFields = definePlugin({
  name: 'test-fields',
  fields: {
    listener: { testTag: { type: 'string', enum: ['blue', 'green'] } },
    cluster: {
      testWarmup: { type: 'duration', default: '2s' },
      testQueue: {
        type: 'object',
        fields: { size: { type: 'integer', min: 0, required: true }, timeout: { type: 'duration', default: '10s' } },
      },
      testMode: {
        type: 'any',
        describe: 'true or "strict"',
        check: (v) => (v === true || v === 'strict' ? undefined : 'expected true or "strict"'),
        parse: (v) => (v === true ? 'loose' : v),
      },
    },
    node: { testCap: { type: 'integer', min: 1 } },
  },
  apply(_hooks, api) {
    seen.push(fieldsOf(api.config.clusters.c ?? {}, ['testWarmup', 'testQueue']));
  },
});

/** The own values of `keys` that `o` has (a field left absent is not listed). */
function fieldsOf(o: object, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => Object.hasOwn(o, k)).map((k) => [k, (o as Record<string, unknown>)[k]]));
}

function problems(raw: unknown, plugins: readonly Plugin[] = [testFields]): { message: string; details: readonly string[] } {
  try {
    validateConfig(raw, SOURCE, { plugins });
  } catch (err) {
    if (!isProtoBalanceError(err)) throw err;
    return { message: err.message, details: err.details };
  }
  throw new Error('expected the config to be refused');
}

const node = (id: string, extra: object = {}) => ({ id, address: `10.0.0.${id.charCodeAt(0) % 200}:80`, ...extra });

const check = suite('plugin fields: checked and resolved with the config');

check('good values resolve: defaults, durations in ms, a nested object, parse; absent ones stay absent', () => {
  const r = validateConfig(
    {
      listeners: [{ port: 1, cluster: 'web', testTag: 'blue' }, { port: 2, cluster: 'api' }],
      clusters: {
        web: { testWarmup: '1m30s', testQueue: { size: 3 }, testMode: true, nodes: [node('a', { testCap: 5 }), node('b')] },
        api: { testQueue: { size: 0, timeout: 250 }, testMode: 'strict', nodes: [node('c')] },
      },
    },
    SOURCE,
    { plugins: [testFields] },
  );
  const cluster = ['testWarmup', 'testQueue', 'testMode'];
  assert.equal(fieldsOf(r.listeners[0]!, ['testTag']), { testTag: 'blue' });
  assert.equal(fieldsOf(r.listeners[1]!, ['testTag']), {});
  assert.equal(fieldsOf(r.clusters.web!, cluster), { testWarmup: 90_000, testQueue: { size: 3, timeout: 10_000 }, testMode: 'loose' });
  assert.equal(fieldsOf(r.clusters.api!, cluster), { testWarmup: 2_000, testQueue: { size: 0, timeout: 250 }, testMode: 'strict' });
  assert.equal(r.clusters.web!.nodes.map((n) => fieldsOf(n, ['testCap'])), [{ testCap: 5 }, {}]);
});

check('each kind of bad value: one line each, naming the field path and the plugin', () => {
  const { message, details } = problems({
    listeners: [{ port: 1, cluster: 'web', testTag: 'red' }],
    clusters: {
      web: { testWarmup: '2 minutes', testQueue: { timeout: 'x', colour: 1 }, testMode: 'lax', nodes: [node('a', { testCap: 0 })] },
      api: { testQueue: 5, testMode: null, nodes: [node('b', { testCap: 1.5 })] },
    },
  });
  assert.equal(details, [
    `listeners[0].testTag: expected "blue" or "green", got "red" ${OF}`,
    `clusters.web.testWarmup: expected ${DURATION}, got "2 minutes" ${OF}`,
    `clusters.web.testQueue.colour: unknown field (known: size, timeout) ${OF}`,
    `clusters.web.testQueue.size: required (a whole number) ${OF}`,
    `clusters.web.testQueue.timeout: expected ${DURATION}, got "x" ${OF}`,
    `clusters.web.testMode: expected true or "strict", got "lax" ${OF}`,
    `clusters.web.nodes[0].testCap: expected a whole number at least 1, got 0 ${OF}`,
    `clusters.api.testQueue: expected an object { size, timeout }, got 5 ${OF}`,
    `clusters.api.testMode: expected true or "strict", got null ${OF}`,
    `clusters.api.nodes[0].testCap: expected a whole number, got 1.5 ${OF}`,
  ]);
  assert.ok(message.startsWith(`protobalance.config.ts: 10 problems: listeners[0].testTag: `), message);
});

check('a check message "[i]: why" names the entry of a list field in the path', () => {
  const colours = {
    name: 'test-colours',
    fields: {
      listener: {
        testColours: {
          type: 'any',
          describe: 'a list of colours',
          check: (v: unknown) => {
            if (!Array.isArray(v)) return 'expected a list of colours';
            const bad = v.findIndex((c) => c !== 'red' && c !== 'blue');
            return bad < 0 ? undefined : `[${bad}]: ${JSON.stringify(v[bad])} is not a colour`;
          },
        },
      },
    },
    apply() {},
  } as Plugin;
  assert.equal(problems({ listeners: [{ port: 1, cluster: 'web', testColours: ['red', 'green'] }], clusters: { web: { nodes: [node('a')] } } }, [colours]).details, [
    'listeners[0].testColours[1]: "green" is not a colour (a field of plugin test-colours)',
  ]);
});

check('an unknown field lists the core fields and the plugins\' fields; without the plugin, only the core\'s', () => {
  const raw = { listeners: [{ port: 1, cluster: 'web', tag: 'x' }], clusters: { web: { testColour: 1, testWarmup: '1s', nodes: [node('a', { weight: 2 })] } } };
  assert.equal(problems(raw).details, [
    'listeners[0].tag: unknown field (known: port, host, cluster, name, testTag)',
    'clusters.web.testColour: unknown field (known: balance, balanceOptions, hashSecret, affinity, fallover, connectTimeout, healthCheck, nodes, testWarmup, testQueue, testMode)',
    'clusters.web.nodes[0].weight: unknown field (known: id, address, loadFactor, fallover, connectTimeout, probe, testCap)',
  ]);
  assert.equal(problems(raw, []).details[1], 'clusters.web.testColour: unknown field (known: balance, balanceOptions, hashSecret, affinity, fallover, connectTimeout, healthCheck, nodes)');
  const proto = JSON.parse('{ "__proto__": { "x": 1 } }') as object;
  assert.equal(problems({ ...raw, listeners: [{ port: 1, cluster: 'web', ...proto }] }).details[0], 'listeners[0].__proto__: unknown field (known: port, host, cluster, name, testTag)');
  assert.equal(problems(raw, []).details[2], 'clusters.web.testWarmup: unknown field (known: balance, balanceOptions, hashSecret, affinity, fallover, connectTimeout, healthCheck, nodes)');
});

const clashes = suite('plugin fields: one owner each');

const other = (name: string, fields: Plugin['fields']): Plugin => ({ name, fields, apply() {} });
const config = { listeners: [{ port: 1, cluster: 'web' }], clusters: { web: { nodes: [node('a')] } } };

clashes('a field two plugins declare, or one named like a core field, is refused naming both', () => {
  const twice = other('test-twin', { cluster: { testWarmup: { type: 'string' } } });
  assert.throws(
    () => validateConfig(config, SOURCE, { plugins: [testFields, twice] }),
    (err: Error) =>
      err.message === 'plugins test-fields and test-twin both declare the cluster field "testWarmup" (clusters.<name>.testWarmup); a field has one owner, so load only one of them',
  );
  const core = other('test-core', { node: { loadFactor: { type: 'number' } } });
  assert.throws(
    () => validateConfig(config, SOURCE, { plugins: [core] }),
    (err: Error) => err.message === 'plugin test-core declares the node field "loadFactor", which is a field of the core (nodes[].loadFactor); a plugin\'s field needs a name of its own',
  );
  // A key the core puts on the resolved node (from `address`) is the core's too.
  assert.throws(() => validateConfig(config, SOURCE, { plugins: [other('test-host', { node: { port: { type: 'port' } } })] }), /declares the node field "port", which is a field of the core/);
  // The same name at another level is another field.
  validateConfig(config, SOURCE, { plugins: [testFields, other('test-apart', { node: { testWarmup: { type: 'string' } } })] });
});

clashes('at start, the clash names each plugin\'s entry and the config file', async () => {
  const twin = other('test-twin', { node: { testCap: { type: 'integer' } } });
  const b = createBalancer({ ...config, stateDir: tmpDir(), plugins: [twin] }, { source: here(), logger: recordingLogger(), builtins: [...builtinPlugins(), testFields] });
  const err = await b.start().then(() => b.stop(0).then(() => undefined), (e: Error) => e);
  assert.match(String(err?.message), /^protobalance\.config\.ts: plugins test-fields \(builtin\[\d+\]\) and test-twin \(plugins\[0\]\) both declare the node field "testCap"/);
});

clashes('a clash with a built-in plugin says to rename the other plugin\'s field (a built-in cannot be left out)', async () => {
  const clash = other('clash', { listener: { allow: { type: 'string[]' } } });
  const builtins = builtinPlugins();
  const i = builtins.findIndex((e) => typeof e === 'object' && !Array.isArray(e) && e.name === 'access-control');
  assert.ok(i >= 0);
  const b = createBalancer({ ...config, stateDir: tmpDir(), plugins: [clash] }, { source: here(), logger: recordingLogger(), builtins });
  const err = await b.start().then(() => b.stop(0).then(() => undefined), (e: Error) => e);
  assert.ok(err && isProtoBalanceError(err) && err.code === 'PB_ERR_PLUGIN_INVALID', String(err));
  assert.is(
    err.message,
    `protobalance.config.ts: plugins access-control (builtin[${i}]) and clash (plugins[0]) both declare the listener field "allow" (listeners[].allow); ` +
      'a field has one owner: access-control is built in and cannot be left out, so rename the field "allow" of plugin clash (plugins[0])',
  );
});

clashes('a field\'s default that its own spec refuses is the plugin\'s error, found at load, naming the plugin and the field', async () => {
  const badDefaults = other('test-defaults', {
    listener: { testMode: { type: 'any', check: (v) => (v === true ? undefined : 'expected true'), default: 'yes' } },
    cluster: {
      testQueue: { type: 'object', fields: { timeout: { type: 'duration', default: 'soon' } } },
      testShape: { type: 'object', fields: { size: { type: 'integer', required: true } }, default: {} },
      testGood: { type: 'object', fields: { size: { type: 'integer', default: 1 } }, default: {} },
    },
    node: { testTier: { type: 'integer', min: 1, max: 3, default: 9 }, testColour: { type: 'string', enum: ['red'], default: 'red' } },
  });
  const b = createBalancer({ ...config, stateDir: tmpDir(), plugins: [badDefaults] }, { source: here(), logger: recordingLogger(), builtins: builtinPlugins() });
  const err = await b.start().then(() => b.stop(0).then(() => undefined), (e: Error) => e);
  assert.ok(err && isProtoBalanceError(err) && err.code === 'PB_ERR_PLUGIN_INVALID', String(err));
  assert.is(
    err.message,
    [
      'protobalance.config.ts: plugin test-defaults (plugins[0]): fields.listener.testMode.default: expected true, got "yes"',
      `plugin test-defaults (plugins[0]): fields.cluster.testQueue.fields.timeout.default: expected ${DURATION}, got "soon"`,
      'plugin test-defaults (plugins[0]): fields.cluster.testShape.default.size: required (a whole number)',
      'plugin test-defaults (plugins[0]): fields.node.testTier.default: expected a whole number from 1 to 3, got 9',
    ].join('\n'),
  );
  // Good defaults load, and the config is not blamed for them.
  const good = other('test-good-defaults', { node: { testTier: { type: 'integer', min: 1, max: 3, default: 3 } } });
  const ok = createBalancer({ ...config, listeners: [{ port: 0, host: '127.0.0.1', cluster: 'web' }], stateDir: tmpDir(), plugins: [good] }, { source: here(), logger: recordingLogger(), builtins: builtinPlugins() });
  await ok.start();
  await ok.stop(0);
});

clashes('a plugin whose fields are no schema is refused at load, naming the field', async () => {
  const broken = other('test-broken', { cluster: { x: { type: 'any' } as never, 'bad name': { type: 'string' } } });
  const b = createBalancer({ ...config, stateDir: tmpDir(), plugins: [broken] }, { source: here(), logger: recordingLogger(), builtins: builtinPlugins() });
  const err = await b.start().then(() => b.stop(0).then(() => undefined), (e: Error) => e);
  assert.is(
    err?.message,
    'protobalance.config.ts: plugin test-broken (plugins[0]): fields.cluster.x: a field of type "any" needs check(value) => message | undefined\n' +
      'plugin test-broken (plugins[0]): fields.cluster: field name "bad name" must be letters, digits and "_", the first a letter',
  );
});

const serving = suite('plugin fields: start, reloads and nodes added at run time');

/** A started balancer on one echo node, its plugin fields checked by the build (`plugins: 'later'`). */
async function started(cluster: Record<string, unknown>) {
  const echo = await startEchoServer();
  const raw = (c: Record<string, unknown>) =>
    ({ listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }], clusters: { c: { nodes: [{ id: 'n0', address: addr(echo) }], ...c } }, stateDir }) as unknown as Config;
  const stateDir = tmpDir();
  const balancer = createBalancer(raw(cluster), { source: here(), logger: recordingLogger(), builtins: [...builtinPlugins(), testFields] });
  const [first] = await balancer.start();
  return { balancer, port: first!.port, raw, stop: () => Promise.all([balancer.stop(0), closeServer(echo)]) };
}

serving('at start, every plugin reads its fields resolved, on api.config and cluster.config', async () => {
  seen.length = 0;
  const s = await started({ testQueue: { size: 2 } });
  try {
    assert.equal(seen, [{ testWarmup: 2_000, testQueue: { size: 2, timeout: 10_000 } }]);
    assert.equal(fieldsOf(s.balancer.clusters()[0]!.config, ['testWarmup', 'testQueue']), { testWarmup: 2_000, testQueue: { size: 2, timeout: 10_000 } });
  } finally {
    await s.stop();
  }
});

serving('a reload with a bad plugin field is refused naming file, field and plugin; the old generation serves on', async () => {
  const s = await started({ testWarmup: '5s' });
  try {
    const before = s.balancer.generation;
    const err = await s.balancer.reload(s.raw({ testWarmup: 'soon' })).then(() => undefined, (e: Error) => e);
    assert.is(err?.message, `protobalance.config.ts: clusters.c.testWarmup: expected ${DURATION}, got "soon" ${OF}`);
    assert.is(s.balancer.generation, before);
    assert.is(await roundTrip(s.port, 'still here'), 'still here');
    await s.balancer.reload(s.raw({ testWarmup: '7s' }));
    assert.is((s.balancer.generation.config.clusters.c as unknown as Record<string, unknown>).testWarmup, 7_000);
  } finally {
    await s.stop();
  }
});

serving('a node the admin API adds: its plugin fields checked against the serving plugins, then resolved', async () => {
  const s = await started({});
  try {
    const add = (body: object) => addNode(s.balancer.changeBase(), 'c', body);
    const refused = (body: object) => {
      try {
        add(body);
      } catch (err) {
        assert.instance(err, ChangeError);
        return `${(err as ChangeError).kind}: ${(err as Error).message}`;
      }
      throw new Error('expected the node to be refused');
    };
    assert.is(refused({ id: 'x', address: '127.0.0.1:1', testCap: 0 }), `invalid: testCap: expected a whole number at least 1, got 0 ${OF}`);
    assert.match(refused({ id: 'x', address: '127.0.0.1:1', weight: 2 }), /^invalid: weight: unknown field \(known: id, address, loadFactor, fallover, connectTimeout, probe, .*testCap/);
    await s.balancer.applyChanges(add({ id: 'x', address: '127.0.0.1:1', testCap: 3 }));
    const nodes = s.balancer.generation.config.clusters.c!.nodes;
    assert.equal(nodes.map((n) => [n.id, fieldsOf(n, ['testCap'])]), [['n0', {}], ['x', { testCap: 3 }]]);
  } finally {
    await s.stop();
  }
});

check.run();
clashes.run();
serving.run();
