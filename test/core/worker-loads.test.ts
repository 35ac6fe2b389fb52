/**
 * What a worker process loads: nothing that only the primary needs (the admin API and its
 * dashboard, prom-client, the process group, the config watcher, the command line,
 * esbuild, ioredis when no Redis is configured). Checked on a real `protobalance start`,
 * from the prebuilt bundle or the sources (whichever the bin runs), with a config that
 * imports `defineConfig` from 'protobalance' as users' configs do. Each process records
 * the files it loads (test/helpers/load-probe.cjs); a bundled chunk stands for the source
 * files esbuild names in it (`// core/admin/server.ts` lines).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freshBundle } from '../../bin/fresh-bundle.js';
import { ROOT, startCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

const PROBE = fileURLToPath(new URL('../helpers/load-probe.cjs', import.meta.url));

/** Sources of the primary's parts, and packages only it uses. */
const PRIMARY_ONLY_SOURCES = [/^core\/admin\//, /^core\/workers\/group\.ts$/, /^core\/fleet\/sync\.ts$/, /^core\/watch\.ts$/, /^core\/cli\.ts$/];
const PRIMARY_ONLY_PACKAGES = ['prom-client', 'chokidar', 'commander', 'better-sqlite3'];
/**
 * Only the prebuilt bundle can keep these out: from the sources, tsx itself runs on esbuild
 * in every process, and plugins/shared/redis-connection.ts imports ioredis (the build
 * defers it, scripts/build.mjs LAZY_PACKAGES).
 */
const BUNDLE_ONLY_PACKAGES = ['esbuild', 'ioredis'];

/** The source files and packages behind the files a process loaded. */
function whatLoaded(urls: readonly string[]): { sources: Set<string>; packages: Set<string> } {
  const sources = new Set<string>();
  const packages = new Set<string>();
  for (const url of urls) {
    const file = fileURLToPath(url);
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(file);
    // A package's package.json is read for its version (esbuild's, for cache keys): no code.
    if (pkg) {
      if (pkg[2] !== 'package.json') packages.add(pkg[1]!);
      continue;
    }
    const rel = path.relative(ROOT, file);
    if (rel.startsWith(`dist${path.sep}`) && file.endsWith('.mjs')) {
      for (const m of readFileSync(file, 'utf8').matchAll(/^\/\/ (\S+)$/gm)) {
        const inPkg = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(m[1]!);
        if (inPkg) packages.add(inPkg[1]!);
        else sources.add(m[1]!);
      }
    } else if (!rel.startsWith('..')) {
      sources.add(rel.split(path.sep).join('/'));
    }
  }
  return { sources, packages };
}

test('a worker loads none of the modules only the primary needs', async () => {
  const [port, adminPort] = [await freePort(), await freePort()];
  const dir = tmpDir({
    'protobalance.config.ts': `import { defineConfig } from 'protobalance';
export default defineConfig({
  listeners: [{ port: ${port}, host: '127.0.0.1', cluster: 'web' }],
  clusters: { web: { balance: 'round-robin', nodes: [{ id: 'a', address: '127.0.0.1:1' }] } },
  admin: { host: '127.0.0.1', port: ${adminPort}, token: 'test-token' },
  workers: 2,
});
`,
    'probe/.keep': '',
  });
  const probeDir = path.join(dir, 'probe');
  const run = startCli(['start', '--config', path.join(dir, 'protobalance.config.ts')], {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${PROBE}`,
    PB_LOAD_PROBE_DIR: probeDir,
    PROTOBALANCE_CACHE_DIR: path.join(dir, 'cache'),
  });
  try {
    await run.waitForOutput('2 processes serving', 30_000);
  } finally {
    run.child.kill('SIGINT');
    await run.exited;
  }
  const byPid = new Map(
    readdirSync(probeDir)
      .filter((f) => f.endsWith('.txt'))
      .map((f) => [Number(f.slice(0, -4)), readFileSync(path.join(probeDir, f), 'utf8').split('\n').filter(Boolean)]),
  );
  const primary = byPid.get(run.child.pid!);
  assert.ok(primary, 'the primary recorded what it loaded');
  const workers = [...byPid].filter(([pid]) => pid !== run.child.pid);
  // `workers: 2` is the primary and one forked process.
  assert.is(workers.length, 1, `the forked worker recorded what it loaded (pids ${[...byPid.keys()].join(', ')})`);
  // The method sees the primary's parts where they are.
  const p = whatLoaded(primary);
  assert.ok([...p.sources].some((s) => s.startsWith('core/admin/')), 'the primary loaded the admin server');
  assert.ok(p.sources.has('core/workers/group.ts'), 'the primary loaded the process group');
  for (const [pid, urls] of workers) {
    const w = whatLoaded(urls);
    assert.ok(w.sources.has('core/workers/worker-main.ts'), `worker ${pid} ran the worker`);
    const sources = [...w.sources].filter((s) => PRIMARY_ONLY_SOURCES.some((re) => re.test(s)));
    assert.equal(sources, [], `worker ${pid} loaded primary-only sources`);
    // The same choice as the bin's, with the same environment.
    const forbidden = freshBundle(pathToFileURL(ROOT)) ? [...PRIMARY_ONLY_PACKAGES, ...BUNDLE_ONLY_PACKAGES] : PRIMARY_ONLY_PACKAGES;
    const packages = forbidden.filter((name) => w.packages.has(name));
    assert.equal(packages, [], `worker ${pid} loaded primary-only packages`);
  }
});

test.run();
