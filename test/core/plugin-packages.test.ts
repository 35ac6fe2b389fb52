import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createBalancer, definePlugin, isProtoBalanceError, VERSION, type Config, type PluginEntry } from '../../core/index.ts';
import { loadedAddons } from '../../core/native-guard.ts';
import { packageNames } from '../../core/plugin-resolve.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { builtinPlugins } from '../helpers/assembly.ts';

/** A package folder: package.json and files. */
function pkg(name: string, files: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, string> {
  const out: Record<string, string> = { 'package.json': JSON.stringify({ name, version: '1.0.0', type: 'module', ...extra }) };
  for (const [file, text] of Object.entries(files)) out[file] = text;
  return out;
}

/** A project folder with `packages` installed under node_modules. */
function project(packages: Record<string, Record<string, string>>): string {
  const files: Record<string, string> = {};
  for (const [name, content] of Object.entries(packages)) {
    for (const [file, text] of Object.entries(content)) files[`node_modules/${name}/${file}`] = text;
  }
  return tmpDir(files);
}

function config(plugins: PluginEntry[]): Config {
  return {
    listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
    clusters: { c: { nodes: [{ id: 'a', address: '127.0.0.1:1' }] } },
    plugins,
  };
}

async function build(dir: string, plugins: PluginEntry[]) {
  const logger = recordingLogger();
  const balancer = createBalancer(config(plugins), { logger, builtins: builtinPlugins(), source: path.join(dir, 'protobalance.config.ts') });
  await balancer.validate();
  return { balancer, logger };
}

async function failure(dir: string, plugins: PluginEntry[]): Promise<{ code: string; message: string }> {
  try {
    await build(dir, plugins);
  } catch (err) {
    assert.ok(isProtoBalanceError(err), String(err));
    return { code: err.code, message: err.message };
  }
  throw new Error('expected the build to fail');
}

/** A plugin module that records, on globalThis, that it ran with which protobalance. */
const recorder = (key: string) => `
  import * as pb from 'protobalance';
  export default pb.definePlugin({ name: '${key}', apply() { globalThis['${key}'] = pb; } });`;

const names = suite('plugin packages: names');

names('short, scoped and full names', () => {
  assert.equal(packageNames('hello'), ['protobalance-plugin-hello', 'hello']);
  assert.equal(packageNames('@acme/hello'), ['@acme/protobalance-plugin-hello', '@acme/hello']);
  assert.equal(packageNames('protobalance-plugin-hello'), ['protobalance-plugin-hello']);
  assert.equal(packageNames('@acme/protobalance-plugin-hello'), ['@acme/protobalance-plugin-hello']);
});

names('a short name loads protobalance-plugin-<name>, a scoped one @scope/protobalance-plugin-<name>', async () => {
  const dir = project({
    'protobalance-plugin-short': pkg('protobalance-plugin-short', { 'dist/index.js': recorder('__pbShort') }, { exports: { '.': { types: './x.d.ts', import: './dist/index.js' } } }),
    '@acme/protobalance-plugin-scoped': pkg('@acme/protobalance-plugin-scoped', { 'main.js': recorder('__pbScoped') }, { main: 'main.js' }),
    plainname: pkg('plainname', { 'index.js': recorder('__pbPlain') }),
  });
  await build(dir, ['short', '@acme/scoped', 'plainname']);
  const g = globalThis as Record<string, unknown>;
  assert.ok(g.__pbShort && g.__pbScoped && g.__pbPlain, 'all three applied');
});

names('a plugin not found: one error listing what was tried, from the config folder', async () => {
  const dir = tmpDir();
  const { code, message } = await failure(dir, ['hello']);
  assert.is(code, 'PB_ERR_PLUGIN_LOAD');
  assert.match(message, 'plugins[0]: plugin "hello" not found: tried the packages protobalance-plugin-hello, hello in ');
  assert.match(message, `from the config's folder ${dir}`);
  assert.match(message, 'npm install protobalance-plugin-hello');
});

const bound = suite('plugin packages: bound to the running protobalance');

bound('its own copy of protobalance under the plugin folder is never loaded', async () => {
  const dir = project({
    'protobalance-plugin-own': {
      ...pkg('protobalance-plugin-own', { 'index.js': recorder('__pbOwn') }),
      // What `npm install` of a plugin with protobalance as a devDependency leaves behind.
      'node_modules/protobalance/package.json': JSON.stringify({ name: 'protobalance', type: 'module', exports: './index.js' }),
      'node_modules/protobalance/index.js': `throw new Error('the plugin loaded its own copy of protobalance');`,
    },
  });
  await build(dir, ['own']);
  const seen = (globalThis as unknown as Record<string, { VERSION: string; createBalancer: unknown }>).__pbOwn!;
  assert.is(seen.VERSION, VERSION);
  assert.is(seen.createBalancer, createBalancer, 'the very same module instance');
});

bound('a symlinked plugin (npm link, file:) resolves its own dependencies from its real folder', async () => {
  const real = tmpDir({
    ...pkg('protobalance-plugin-linked', { 'index.js': `import dep from 'its-dep';\n${recorder('__pbLinked')}\nglobalThis.__pbLinkedDep = dep;` }),
    'node_modules/its-dep/package.json': JSON.stringify({ name: 'its-dep', type: 'module', main: 'index.js' }),
    'node_modules/its-dep/index.js': `export default 'dep of the linked plugin';`,
    'node_modules/protobalance/package.json': JSON.stringify({ name: 'protobalance', type: 'module', exports: './index.js' }),
    'node_modules/protobalance/index.js': `throw new Error('the plugin loaded its own copy of protobalance');`,
  });
  const dir = tmpDir();
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(real, path.join(dir, 'node_modules', 'protobalance-plugin-linked'));
  await build(dir, ['linked']);
  const g = globalThis as Record<string, unknown>;
  assert.is(g.__pbLinkedDep, 'dep of the linked plugin');
  assert.is((g.__pbLinked as { VERSION: string }).VERSION, VERSION);
});

bound('a CommonJS plugin package loads', async () => {
  const dir = project({
    'protobalance-plugin-cjs': pkg(
      'protobalance-plugin-cjs',
      { 'index.js': `const { definePlugin } = require('protobalance'); const os = require('node:os');\nmodule.exports = definePlugin({ name: 'cjs', apply() { globalThis.__pbCjs = typeof os.cpus; } });` },
      { type: 'commonjs' },
    ),
  });
  await build(dir, ['cjs']);
  assert.is((globalThis as Record<string, unknown>).__pbCjs, 'function');
});

bound('a second copy of a native addon is refused with an error naming the plugin, and the process lives', async () => {
  const ours = loadedAddons().get('isolated_vm.node');
  assert.ok(ours, 'this process runs isolated-vm');
  const dir = project({
    'protobalance-plugin-native': pkg('protobalance-plugin-native', {
      'index.js': `import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\nrequire('./addon/isolated_vm.node');\nexport default { name: 'native', apply() {} };`,
    }),
  });
  mkdirSync(path.join(dir, 'node_modules/protobalance-plugin-native/addon'));
  copyFileSync(ours!, path.join(dir, 'node_modules/protobalance-plugin-native/addon/isolated_vm.node'));
  const { code, message } = await failure(dir, ['native']);
  assert.is(code, 'PB_ERR_PLUGIN_LOAD');
  assert.match(message, 'plugins[0]: cannot load plugin protobalance-plugin-native@1.0.0');
  assert.match(message, 'a second copy of the native addon isolated_vm.node');
  assert.is(createRequire(import.meta.url)('isolated-vm').Isolate !== undefined, true, 'our own copy still works');
});

bound('a package changed on disk is loaded anew on the next build, and the log says so', async () => {
  const dir = project({ 'protobalance-plugin-ver': pkg('protobalance-plugin-ver', { 'index.js': `export default { name: 'ver', apply() { globalThis.__pbVer = 1; } };` }) });
  await build(dir, ['ver']);
  assert.is((globalThis as Record<string, unknown>).__pbVer, 1);
  writeFileSync(path.join(dir, 'node_modules/protobalance-plugin-ver/index.js'), `export default { name: 'ver', apply() { globalThis.__pbVer = 2; } };`);
  const { logger } = await build(dir, ['ver']);
  assert.is((globalThis as Record<string, unknown>).__pbVer, 2, 'the new code ran');
  const line = logger.lines.find((l) => l.msg.includes('re-loaded'));
  assert.ok(line, 'the reload is logged');
  assert.is(line!.fields.plugin, 'ver');
  const { logger: again } = await build(dir, ['ver']);
  assert.not.ok(again.lines.some((l) => l.msg.includes('re-loaded')), 'unchanged: nothing said');
});

const options = suite('plugin packages: options schema');

const schemaPlugin = `
  import { definePlugin } from 'protobalance';
  export default definePlugin({
    name: 'opts',
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'port', required: true },
      every: { type: 'duration', default: '2s' },
      mode: { type: 'string', enum: ['a', 'b'], default: 'a' },
      limit: { type: 'integer', min: 1, max: 10, default: 5 },
    },
    create(options) { return { apply() { globalThis.__pbOpts = options; } }; },
  });`;

options('options are checked, defaulted and converted before the plugin is made', async () => {
  const dir = tmpDir({ 'opts.mjs': schemaPlugin });
  await build(dir, [['./opts.mjs', { port: 8125, every: '1m' }]]);
  assert.equal((globalThis as Record<string, unknown>).__pbOpts, { host: '127.0.0.1', port: 8125, every: 60_000, mode: 'a', limit: 5 });
});

options('every wrong option is named with the plugin and the field', async () => {
  const dir = tmpDir({ 'opts.mjs': schemaPlugin });
  const { code, message } = await failure(dir, [['./opts.mjs', { port: 'x', mode: 'c', limit: 11, colour: 'red' }]]);
  assert.is(code, 'PB_ERR_PLUGIN_OPTIONS');
  const lines = message.split('\n');
  assert.ok(lines.every((l) => l.startsWith('protobalance.config.ts: ') || l.startsWith('plugin opts (plugins[0] "./opts.mjs"): ')), message);
  for (const expected of [
    'options.colour: unknown option (known: host, port, every, mode, limit)',
    'options.port: expected a port 1-65535, got "x"',
    'options.mode: expected one of "a", "b", got "c"',
    'options.limit: expected a whole number from 1 to 10, got 11',
  ]) {
    assert.match(message, expected);
  }
  const missing = await failure(dir, ['./opts.mjs']);
  assert.match(missing.message, 'options.port: required (a port 1-65535)');
});

options('a plugin object with a schema, given alone or as [plugin, options], in the config itself', async () => {
  const seen: unknown[] = [];
  const withSchema = definePlugin({
    name: 'inline',
    options: { every: { type: 'duration', default: '1s' } },
    create: (o) => ({ apply: () => void seen.push(o.every) }),
  });
  const dir = tmpDir();
  await build(dir, [withSchema]);
  await build(dir, [[withSchema, { every: '5s' }]]);
  assert.equal(seen, [1_000, 5_000]);
  const { message } = await failure(dir, [[withSchema, { every: 'soon' }]]);
  assert.match(message, 'plugin inline (plugins[0]): options.every: expected a duration');
});

options('a bad schema is the plugin author\'s error, named', async () => {
  const dir = tmpDir({ 'bad.mjs': `export default { name: 'bad', options: { x: { type: 'colour' } }, create() { return { apply() {} }; } };` });
  const { message } = await failure(dir, ['./bad.mjs']);
  assert.match(message, 'plugin bad');
  assert.match(message, 'options schema field "x": "type" must be one of');
});

names.run();
bound.run();
options.run();
