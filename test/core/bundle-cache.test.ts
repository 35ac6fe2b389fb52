/**
 * The on-disk bundle cache (core/bundle-cache.ts) is an optimisation only: an entry that
 * vanished or is damaged is a miss that rebuilds, pruning never removes an entry this
 * process uses, and several processes share one cache folder (the workers of a start,
 * `check` beside `start`, two balancers). Issue 14: a runtime change once failed with
 * "ENOENT … stat '<cache>/515a5021…'" from pruning racing another process's pruning.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cachedBuild, digest } from '../../core/bundle-cache.ts';
import { importBound } from '../../core/import-fresh.ts';
import { createSandboxRunner } from '../../core/sandbox.ts';
import { tmpDir } from '../helpers/tmp.ts';

/** A maker that "bundles" one input file and counts its builds. */
function maker(input: string) {
  let builds = 0;
  const make = async () => {
    const content = readFileSync(input);
    return { code: `built ${++builds} from ${content}`, inputs: [input], digests: [digest(content)] };
  };
  return { make, builds: () => builds };
}

const entries = (cache: string) => readdirSync(cache).filter((n) => n.endsWith('.json'));
const DAY_AGO = new Date(Date.now() - 24 * 3600_000);

async function withCacheDir<T>(cache: string, run: () => Promise<T>): Promise<T> {
  const saved = process.env.PROTOBALANCE_CACHE_DIR;
  process.env.PROTOBALANCE_CACHE_DIR = cache;
  try {
    return await run();
  } finally {
    if (saved === undefined) delete process.env.PROTOBALANCE_CACHE_DIR;
    else process.env.PROTOBALANCE_CACHE_DIR = saved;
  }
}

test('an entry removed underneath (another process pruned it) is rebuilt, not an error', async () => {
  const cache = tmpDir();
  const m = maker(path.join(tmpDir({ 'a.ts': 'one' }), 'a.ts'));
  await cachedBuild('k', m.make, { dir: cache });
  for (const n of entries(cache)) rmSync(path.join(cache, n));
  const again = await cachedBuild('k', m.make, { dir: cache });
  assert.equal([again.code, again.cached, m.builds()], ['built 2 from one', false, 2]);
  rmSync(cache, { recursive: true, force: true });
  const noFolder = await cachedBuild('k', m.make, { dir: cache });
  assert.equal([noFolder.code, noFolder.cached], ['built 3 from one', false], 'the whole folder gone');
});

test('a damaged entry (truncated, not JSON, wrong shape, empty) is a miss that rebuilds', async () => {
  const cache = tmpDir();
  const m = maker(path.join(tmpDir({ 'a.ts': 'one' }), 'a.ts'));
  await cachedBuild('k', m.make, { dir: cache });
  const [name] = entries(cache);
  const file = path.join(cache, name!);
  const good = readFileSync(file, 'utf8');
  const stored = JSON.parse(good) as Record<string, unknown>;
  const damages = [
    good.slice(0, good.length >> 1),
    'not json',
    '',
    'null',
    JSON.stringify({ ...stored, code: 42 }),
    JSON.stringify({ ...stored, stamps: undefined }),
    JSON.stringify({ ...stored, inputs: [1], digests: ['x'] }),
    JSON.stringify({ ...stored, extra: {} }),
  ];
  for (const [i, damaged] of damages.entries()) {
    writeFileSync(file, damaged);
    const got = await cachedBuild('k', m.make, { dir: cache });
    assert.equal([got.code, got.cached], [`built ${i + 2} from one`, false], `damage ${i}: ${damaged.slice(0, 40)}`);
    const hit = await cachedBuild('k', m.make, { dir: cache });
    assert.equal([hit.code, hit.cached], [`built ${i + 2} from one`, true], `damage ${i}: stored again`);
  }
});

test('pruning that meets a listed entry gone by the time it looks is no error (the race of issue 14)', async () => {
  // Another process's pruning removes files between this one's listing and its stat; a
  // dangling link is such a file, deterministically: listed, and ENOENT to stat.
  const cache = tmpDir();
  const input = path.join(tmpDir({ 'a.ts': 'one' }), 'a.ts');
  for (let i = 0; i < 300; i++) symlinkSync(path.join(cache, `gone-${i}`), path.join(cache, `${String(i).padStart(16, '0')}.json`));
  const got = await cachedBuild('new', maker(input).make, { dir: cache });
  assert.equal([got.code, got.cached], ['built 1 from one', false]);
});

test('pruning never removes an entry this process uses, however old; it removes unused old ones', async () => {
  const cache = tmpDir();
  const input = path.join(tmpDir({ 'a.ts': 'one' }), 'a.ts');
  // Entries of some other config, long unused.
  for (let i = 0; i < 200; i++) {
    const file = path.join(cache, `f${String(i).padStart(15, '0')}.json`);
    writeFileSync(file, JSON.stringify({ key: `other ${i}`, code: '', inputs: [], digests: [], stamps: [] }));
    utimesSync(file, DAY_AGO, DAY_AGO);
  }
  // More bundles than the cache's bound, all in use (500 clusters, each its own bundle).
  const m = maker(input);
  for (let i = 0; i < 300; i++) await cachedBuild(`cluster ${i}`, m.make, { dir: cache });
  // Age them all: the use, not the time, keeps them.
  for (const n of entries(cache)) utimesSync(path.join(cache, n), DAY_AGO, DAY_AGO);
  for (let i = 300; i < 400; i++) await cachedBuild(`cluster ${i}`, m.make, { dir: cache });
  const built = m.builds();
  assert.is(built, 400);
  for (let i = 0; i < 400; i++) {
    const again = await cachedBuild(`cluster ${i}`, m.make, { dir: cache });
    assert.ok(again.cached, `cluster ${i} was pruned while in use`);
  }
  assert.is(m.builds(), built, 'nothing rebuilt');
  const foreign = entries(cache).filter((n) => n.startsWith('f')).length;
  assert.ok(foreign < 200, `unused old entries are pruned (${foreign} of 200 left)`);
});

test('a sandboxed algorithm and a user module load again after the cache folder was emptied', async () => {
  const cache = tmpDir();
  await withCacheDir(cache, async () => {
    const module = new URL('../../plugins/balancers/round-robin.ts', import.meta.url).href;
    const baseDir = tmpDir();
    const dir = tmpDir({ 'mod.ts': `export const n: number = 7;\n` });
    for (let round = 0; round < 3; round++) {
      const runner = createSandboxRunner({ cpuTimeout: 50, memoryLimit: 16, baseDir });
      const chooser = await runner.create(module, { cluster: 'c' });
      assert.ok(chooser, `round ${round}: algorithm loaded`);
      runner.dispose();
      const { module: mod } = await importBound(path.join(dir, 'mod.ts'));
      assert.is(mod.n, 7, `round ${round}: module loaded`);
      assert.ok(entries(cache).length >= 2, 'both were cached');
      if (round === 0) for (const n of entries(cache)) rmSync(path.join(cache, n));
      else for (const n of entries(cache)) writeFileSync(path.join(cache, n), '{"trunc');
    }
  });
});

test('processes building many bundles at once into one shared folder all succeed', async () => {
  // Past the bound, every process prunes while the other writes and prunes: before the fix,
  // one stat of a just-removed entry failed the build. Nothing here depends on timing to pass.
  const cache = tmpDir();
  const input = path.join(tmpDir({ 'a.ts': 'one' }), 'a.ts');
  const cacheModule = pathToFileURL(fileURLToPath(new URL('../../core/bundle-cache.ts', import.meta.url))).href;
  const script = `
    const { cachedBuild, digest } = await import(${JSON.stringify(cacheModule)});
    const { readFileSync } = await import('node:fs');
    const make = async () => { const c = readFileSync(${JSON.stringify(input)}); return { code: 'x', inputs: [${JSON.stringify(input)}], digests: [digest(c)] }; };
    const [me] = process.argv.slice(-1);
    for (let i = 0; i < 400; i++) await cachedBuild(me + ' ' + i, make, { dir: ${JSON.stringify(cache)} });
    for (let i = 0; i < 400; i++) if (!(await cachedBuild(me + ' ' + i, make, { dir: ${JSON.stringify(cache)} })).cached) throw new Error('pruned in use: ' + i);
  `;
  const sources = pathToFileURL(fileURLToPath(new URL('../../bin/sources.js', import.meta.url))).href;
  const run = (me: string) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', sources, '--input-type=module', '-e', script, me], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c) => (err += c));
      child.on('close', (code) => resolve({ code, err }));
    });
  const results = await Promise.all([run('a'), run('b'), run('c')]);
  for (const r of results) assert.is(r.code, 0, r.err.slice(0, 500));
  assert.not.ok(readdirSync(cache).some((n) => n.endsWith('.tmp')), 'no temporary file left');
  assert.ok(existsSync(cache));
});

test.run();
