/**
 * Plugin config fields as users meet them: `protobalance check` and `start` on a config
 * whose local plugin declares fields, and `tsc` over a user's project against the
 * package's declarations, which carry the built-in plugins' fields (app/types-entry.ts).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, runCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

/** scripts/build-types.mjs, plain JavaScript (the build's), typed here. */
const BUILD_TYPES: string = '../../scripts/build-types.mjs';
const { buildTypes } = (await import(BUILD_TYPES)) as { buildTypes(outDir: string, o: { stdio: 'pipe' }): void };

const exec = promisify(execFile);

const PLUGIN = `export default {
  name: 'test-fields',
  fields: {
    cluster: { testWarmup: { type: 'duration', default: '2s' } },
    node: { testCap: { type: 'integer', min: 1 } },
  },
  apply() {},
};\n`;

function project(cluster: string, node: string, port: number): string {
  return tmpDir({
    'plugins/test-fields.mjs': PLUGIN,
    'protobalance.config.ts': `export default {
  listeners: [{ port: ${port}, host: '127.0.0.1', cluster: 'web' }],
  clusters: { web: { ${cluster} nodes: [{ id: 'a', address: '127.0.0.1:1', ${node} }] } },
  plugins: ['./plugins/test-fields.mjs'],
  workers: 1, watch: false, admin: false, log: { level: 'warn' },
};\n`,
  });
}

const ENV = { PB_ADMIN_PORT: '', PB_ADMIN_HOST: '' };

const cli = suite('plugin fields through the command line');

cli('check prints the plugin fields resolved (defaults, ms)', async () => {
  const dir = project("testWarmup: '1m',", 'testCap: 2', await freePort());
  const r = await runCli(['check'], ENV, dir);
  assert.is(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout) as { clusters: { web: { testWarmup: number; nodes: { testCap?: number }[] } } };
  assert.is(printed.clusters.web.testWarmup, 60_000);
  assert.is(printed.clusters.web.nodes[0]!.testCap, 2);
  const defaults = await runCli(['check'], ENV, project('', 'loadFactor: 1', await freePort()));
  const web = (JSON.parse(defaults.stdout) as { clusters: { web: { testWarmup: number; nodes: object[] } } }).clusters.web;
  assert.is(web.testWarmup, 2_000, 'the default');
  assert.not.ok('testCap' in web.nodes[0]!, 'absent without a default');
});

/** `start` and `check` both refuse the config with one line. */
async function refused(dir: string, expected: string | RegExp): Promise<void> {
  for (const command of ['start', 'check']) {
    const r = await runCli([command], ENV, dir);
    assert.is(r.code, 1, `${command}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, `${command}: ${r.stderr}`);
    if (typeof expected === 'string') assert.is(lines[0], expected, command);
    else assert.match(lines[0]!, expected, command);
  }
}

cli('a bad plugin field: the file, the field path and the plugin, from start and check', async () => {
  await refused(
    project("testWarmup: 'soon',", 'testCap: 1', await freePort()),
    'protobalance: protobalance.config.ts: clusters.web.testWarmup: expected a duration like "500ms", "2s", "5m" or milliseconds, got "soon" (a field of plugin test-fields)',
  );
});

cli('an unknown node field lists the plugins\' node fields', async () => {
  await refused(
    project('', 'weight: 2', await freePort()),
    /^protobalance: protobalance\.config\.ts: clusters\.web\.nodes\[0\]\.weight: unknown field \(known: id, address, loadFactor, fallover, connectTimeout, probe, (\w+, )*testCap(, \w+)*\)$/,
  );
});

const types = suite('plugin fields in TypeScript, from the package');

/** Files under plugins/ that augment 'protobalance' (the built-ins' field declarations). */
function augmenting(dir = path.join(ROOT, 'plugins')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return augmenting(p);
    return e.name.endsWith('.ts') && /declare module ['"]protobalance['"]/.test(readFileSync(p, 'utf8')) ? [p] : [];
  });
}

types('the types entry imports every built-in plugin\'s field declarations', () => {
  const entry = readFileSync(path.join(ROOT, 'app/types-entry.ts'), 'utf8');
  const files = augmenting();
  assert.ok(files.length > 0);
  for (const file of files) {
    const spec = `../${path.relative(ROOT, file).split(path.sep).join('/')}`;
    assert.ok(entry.includes(`import '${spec}';`), `app/types-entry.ts does not import ${spec}: its fields would not reach users' tsc`);
  }
});

const MY_PLUGIN = `import { definePlugin } from 'protobalance';

declare module 'protobalance' {
  interface ClusterFields {
    warmup?: 'cold' | 'warm' | undefined;
    grace?: string | number | undefined;
  }
  interface ResolvedClusterFields {
    grace?: number | undefined;
  }
}

export default definePlugin({
  name: 'my-plugin',
  fields: { cluster: { warmup: { type: 'string', enum: ['cold', 'warm'] }, grace: { type: 'duration', default: '1s' } } },
  apply(_hooks, api) {
    const warmup: 'cold' | 'warm' | undefined = api.config.clusters.web?.warmup;
    const grace: number | undefined = api.config.clusters.web?.grace;
    // A built-in plugin's field, resolved to ms: its ResolvedClusterFields reach users too.
    const slowStart: number | undefined = api.config.clusters.web?.slowStart;
    api.logger.info({ warmup, grace, slowStart }, 'fields');
  },
});
`;

const config = (warmup: string, proxyProtocol: string) => `import { defineConfig } from 'protobalance';
import myPlugin from './my-plugin.js';

export default defineConfig({
  listeners: [{ port: 8080, cluster: 'web', acceptProxyProtocol: true }],
  clusters: {
    web: {
      warmup: ${warmup},
      grace: '5s',
      proxyProtocol: ${proxyProtocol},
      slowStart: '30s',
      nodes: [{ id: 'a', address: '10.0.0.1:80', maxConnections: 10 }],
    },
  },
  plugins: [myPlugin],
});
`;

/**
 * Every optional field of the built-in plugins written as `undefined`, as users of
 * exactOptionalPropertyTypes do (`env ? 1 : undefined`), and an `as const` list of networks.
 */
const EXACT = `import { defineConfig } from 'protobalance';

const env = process.env['LB_ENV'];
const office = ['10.0.0.0/8', '192.0.2.7'] as const;

export default defineConfig({
  listeners: [
    {
      port: 8081,
      cluster: 'web',
      maxConnections: env ? 100 : undefined,
      clientRate: env ? { connections: 5, per: '1s' } : undefined,
      acceptProxyProtocol: undefined,
      proxyProtocolTimeout: undefined,
      proxyProtocolMaxBytes: undefined,
      allow: office,
      deny: undefined,
    },
    { port: 8082, cluster: 'web', allow: undefined, deny: office },
  ],
  clusters: {
    web: {
      queue: { size: 1, timeout: undefined },
      proxyProtocol: undefined,
      slowStart: undefined,
      nodes: [{ id: 'a', address: '10.0.0.1:80', maxConnections: env ? 1 : undefined }],
    },
    other: { queue: undefined, nodes: [{ id: 'b', address: '10.0.0.2:80' }] },
  },
});
`;

types('tsc passes on a project that augments ClusterFields and uses built-in fields (undefined ones and an as const list too, under exactOptionalPropertyTypes), and fails on a wrong-typed value', async () => {
  // The package as installed: its package.json and the declarations the build makes.
  const pkg = tmpDir();
  buildTypes(path.join(pkg, 'dist/types'), { stdio: 'pipe' });
  copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
  const dir = tmpDir({
    'package.json': JSON.stringify({ name: 'lb', version: '1.0.0', type: 'module' }),
    'tsconfig.json': JSON.stringify({
      compilerOptions: { strict: true, exactOptionalPropertyTypes: true, module: 'nodenext', noEmit: true, skipLibCheck: true },
      include: ['*.ts'],
    }),
    'my-plugin.ts': MY_PLUGIN,
    'exact.config.ts': EXACT,
    'protobalance.config.ts': config("'warm'", "'v2'"),
  });
  mkdirSync(path.join(dir, 'node_modules/@types'), { recursive: true });
  symlinkSync(pkg, path.join(dir, 'node_modules/protobalance'), 'dir');
  symlinkSync(path.join(ROOT, 'node_modules/@types/node'), path.join(dir, 'node_modules/@types/node'), 'dir');
  const tsc = () =>
    exec(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );
  const clean = await tsc();
  assert.is(clean.code, 0, clean.out);
  writeFileSync(path.join(dir, 'protobalance.config.ts'), config("'hot'", "'v3'"));
  const wrong = await tsc();
  assert.is(wrong.code, 2, wrong.out);
  assert.is(wrong.out.trim().split('\n').length, 2, wrong.out);
  assert.match(wrong.out, /protobalance\.config\.ts\(8,7\): error TS2322: Type '"hot"' is not assignable to type '"cold" \| "warm" \| undefined'/);
  assert.match(wrong.out, /protobalance\.config\.ts\(10,7\): error TS2322: Type '"v3"' is not assignable to type /);
});

cli.run();
types.run();
