/**
 * What makes start-up fast without changing behaviour: the on-disk cache of esbuild
 * outputs (core/bundle-cache.ts), user modules bundled with 'protobalance' bound to the
 * running instance (core/import-fresh.ts), the bin's choice between the prebuilt bundle
 * and the sources (bin/fresh-bundle.js), and the data path chosen at start-up.
 */
import { mkdirSync, rmSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freshBundle } from '../../bin/fresh-bundle.js';
import { cachedBuild, digest } from '../../core/bundle-cache.ts';
import { chooseDataPath } from '../../core/datapath/index.ts';
import { defineConfig } from '../../core/index.ts';
import { importFresh } from '../../core/import-fresh.ts';
import { createSandboxRunner } from '../../core/sandbox.ts';
import { tmpDir } from '../helpers/tmp.ts';

/** A maker that "bundles" `input`: its digest is that of the content it read. */
function maker(input: string) {
  let builds = 0;
  const make = async () => {
    const content = readFileSync(input);
    return { code: `built ${++builds} from ${content}`, inputs: [input], digests: [digest(content)] };
  };
  return { make, builds: () => builds };
}

test('a cached build is reused while its inputs hold the same content, and rebuilt when one changes', async () => {
  const dir = tmpDir({ 'a.txt': 'one' });
  const cache = tmpDir();
  const input = path.join(dir, 'a.txt');
  const m = maker(input);
  const first = await cachedBuild('k', m.make, { dir: cache });
  const second = await cachedBuild('k', m.make, { dir: cache });
  assert.equal([first.code, first.cached, second.code, second.cached], ['built 1 from one', false, 'built 1 from one', true]);
  // Written again with the same text (new times): still the same input.
  writeFileSync(input, 'one');
  utimesSync(input, new Date(Date.now() + 5_000), new Date(Date.now() + 5_000));
  const rewritten = await cachedBuild('k', m.make, { dir: cache });
  assert.equal([rewritten.code, rewritten.cached], ['built 1 from one', true]);
  writeFileSync(input, 'two');
  const third = await cachedBuild('k', m.make, { dir: cache });
  assert.equal([third.code, third.cached], ['built 2 from two', false]);
  const other = await cachedBuild('another key', m.make, { dir: cache });
  assert.is(other.cached, false, 'another key is another entry');
});

test('a build whose input changed after it was read is not kept', async () => {
  const dir = tmpDir({ 'a.txt': 'one' });
  const cache = tmpDir();
  const input = path.join(dir, 'a.txt');
  let builds = 0;
  const make = async () => {
    const content = readFileSync(input);
    builds++;
    writeFileSync(input, `edited during build ${builds}`);
    return { code: `built ${builds}`, inputs: [input], digests: [digest(content)] };
  };
  await cachedBuild('k', make, { dir: cache });
  const again = await cachedBuild('k', make, { dir: cache });
  assert.is(again.cached, false);
  assert.is(builds, 2);
});

test('an algorithm bundled for the sandbox is kept in the cache, with its source files as inputs', async () => {
  const cache = tmpDir();
  const saved = process.env.PROTOBALANCE_CACHE_DIR;
  process.env.PROTOBALANCE_CACHE_DIR = cache;
  try {
    const module = new URL('../../plugins/balancers/round-robin.ts', import.meta.url).href;
    for (let i = 0; i < 2; i++) {
      const runner = createSandboxRunner({ cpuTimeout: 50, memoryLimit: 16, baseDir: tmpDir() });
      await runner.create(module, { cluster: 'c' });
      runner.dispose();
    }
    const entries = readdirSync(cache).map((f) => JSON.parse(readFileSync(path.join(cache, f), 'utf8')) as { key: string; inputs: string[] });
    const sandbox = entries.filter((e) => e.key.includes('\nsandbox\n'));
    assert.is(sandbox.length, 2, 'one entry per base folder');
    // The module and the file it imports (the candidate table's layout), nothing else.
    const files = (e: { inputs: string[] }) => e.inputs.map((f) => path.basename(f)).sort();
    assert.ok(sandbox.every((e) => JSON.stringify(files(e)) === JSON.stringify(['node-table.ts', 'round-robin.ts'])), JSON.stringify(sandbox.map((e) => e.inputs)));
  } finally {
    if (saved === undefined) delete process.env.PROTOBALANCE_CACHE_DIR;
    else process.env.PROTOBALANCE_CACHE_DIR = saved;
  }
});

test("a user module's 'protobalance' import is this running instance, and its relative TypeScript imports are bundled fresh", async () => {
  const dir = tmpDir({
    'helper.ts': `export const port: number = 1000;\n`,
    'mod.ts': `import { defineConfig } from 'protobalance';\nimport { port } from './helper.ts';\nexport default { defineConfig, port };\n`,
  });
  const file = path.join(dir, 'mod.ts');
  const first = (await importFresh(file)).default as { defineConfig: unknown; port: number };
  assert.is(first.defineConfig, defineConfig, 'the same function object as the running core');
  assert.is(first.port, 1000);
  writeFileSync(path.join(dir, 'helper.ts'), `export const port: number = 2000; // edited\n`);
  const second = (await importFresh(file)).default as { port: number };
  assert.is(second.port, 2000, 'an edit of an imported file is seen');
});

test('a syntax error in an imported file names that file, line and column', async () => {
  const dir = tmpDir({ 'helper.ts': `export const x = ;\n`, 'mod.ts': `import { x } from './helper.ts';\nexport default x;\n` });
  const err = await importFresh(path.join(dir, 'mod.ts')).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(err, 'it fails');
  assert.match(err!.message, `${path.join(dir, 'helper.ts')}:1:18`);
});

test('the bin runs the prebuilt bundle only while it is newer than every source it was built from', () => {
  const root = tmpDir({ 'core/a.ts': 'a', 'core/b.ts': 'b', 'core/index.ts': 'i' });
  mkdirSync(path.join(root, 'dist'));
  const url = pathToFileURL(`${root}/`);
  const old = new Date(Date.now() - 60_000);
  for (const f of ['core/a.ts', 'core/b.ts']) utimesSync(path.join(root, f), old, old);
  writeFileSync(path.join(root, 'dist/inputs.json'), JSON.stringify({ builtAt: Date.now() - 1000, sources: ['core/a.ts', 'core/b.ts'] }));
  assert.is(freshBundle(url, {}), true);
  assert.is(freshBundle(url, { PROTOBALANCE_FROM_SOURCE: '1' }), false, 'forced to the sources');
  writeFileSync(path.join(root, 'core/b.ts'), 'edited');
  assert.is(freshBundle(url, {}), false, 'a source edited after the build');
  writeFileSync(path.join(root, 'dist/inputs.json'), JSON.stringify({ builtAt: Date.now() + 1000, sources: ['core/a.ts', 'core/gone.ts'] }));
  assert.is(freshBundle(url, {}), false, 'a source that no longer exists');
  assert.is(freshBundle(pathToFileURL(`${tmpDir()}/`), {}), false, 'no bundle');
  rmSync(path.join(root, 'core'), { recursive: true });
  assert.is(freshBundle(url, {}), true, 'an installed copy: the bundle without its sources');
});

test('the data path: fast on this Node unless the config or PROTOBALANCE_DATAPATH says net', () => {
  const saved = process.env.PROTOBALANCE_DATAPATH;
  try {
    delete process.env.PROTOBALANCE_DATAPATH;
    assert.is(chooseDataPath('auto').path.name, 'fast', `Node ${process.version} has the bindings the fast path needs`);
    assert.is(chooseDataPath('fast').path.name, 'fast');
    assert.is(chooseDataPath('net').path.name, 'net');
    process.env.PROTOBALANCE_DATAPATH = 'net';
    assert.is(chooseDataPath('auto').path.name, 'net');
    assert.is(chooseDataPath('fast').path.name, 'fast', 'an explicit config choice wins over the variable');
  } finally {
    if (saved === undefined) delete process.env.PROTOBALANCE_DATAPATH;
    else process.env.PROTOBALANCE_DATAPATH = saved;
  }
});

test.run();
