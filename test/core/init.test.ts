import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { Balancer, ErrorCodes, isProtoBalanceError, loadConfig, readConfigFile, type Config } from '../../core/index.ts';
import { initProject } from '../../core/init.ts';
import { INIT_TEMPLATES } from '../../core/init-templates.ts';
import { builtinPlugins } from '../../plugins/builtin.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { ROOT, runCli, startCli } from '../helpers/cli.ts';
import { connect, freePort, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

const exec = promisify(execFile);
const FILES = INIT_TEMPLATES.map((t) => t.path);

/** Every generated file's content and mtime, to prove a refused init changed nothing. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    FILES.filter((f) => existsSync(path.join(dir, f))).map((f) => {
      const file = path.join(dir, f);
      return [f, `${statSync(file).mtimeMs} ${readFileSync(file, 'utf8')}`];
    }),
  );
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/** The node a response came from: "Hello from node a (…)". */
const servedBy = (body: string) => /Hello from node (\w+)/.exec(body)?.[1] ?? `? ${body}`;

async function refused(port: number): Promise<boolean> {
  try {
    (await connect(port)).destroy();
    return false;
  } catch {
    return true;
  }
}

/** Ports for a generated project (listener, nodes a and b, admin API), moved by env. */
async function projectEnv() {
  const [port, a, b, admin] = [await freePort(), await freePort(), await freePort(), await freePort()];
  return { port, a, b, env: { PB_PORT: String(port), PB_NODE_PORTS: `${a},${b}`, PB_ADMIN_PORT: String(admin) } };
}

const files = suite('init: the files');

files('writes the config, the policy, the demo plugin and tsconfig.json', () => {
  const dir = path.join(tmpDir(), 'new-project');
  const result = initProject(dir);
  assert.equal(result.written, FILES);
  assert.equal(result.overwritten, []);
  for (const t of INIT_TEMPLATES) assert.is(readFileSync(path.join(dir, t.path), 'utf8'), t.text, t.path);
  const config = readFileSync(path.join(dir, 'protobalance.config.ts'), 'utf8');
  assert.match(config, "import { defineConfig, type NodeConfig } from 'protobalance'");
  assert.match(config, 'const nodes: NodeConfig[] = [');
  assert.match(config, "balance: 'policy:./policies/least-load.ts'");
  assert.match(config, "// balance: 'round-robin'");
  assert.match(config, '// admin:');
  assert.match(config, 'docs/plugins.md');
  assert.match(config, 'docs/policies.md');
  // tsconfig.json allows comments; the template's are whole lines.
  const tsconfig = JSON.parse(readFileSync(path.join(dir, 'tsconfig.json'), 'utf8').replace(/^\s*\/\/.*$/gm, ''));
  assert.ok(tsconfig.compilerOptions.strict);
  assert.equal(tsconfig.include, ['protobalance.config.ts', 'policies', 'plugins']);
  assert.is(tsconfig.compilerOptions.module, 'preserve', 'checked as the bundled modules they are, in any package type');
});

files('refuses when any of the files exists, naming it, and writes nothing', () => {
  const dir = tmpDir();
  initProject(dir);
  const before = snapshot(dir);
  try {
    initProject(dir);
    assert.unreachable('a second init must refuse');
  } catch (err) {
    assert.ok(isProtoBalanceError(err) && err.code === ErrorCodes.INIT_EXISTS, String(err));
    for (const f of FILES) assert.match((err as Error).message, f);
  }
  assert.equal(snapshot(dir), before);

  // One file of the set present: it alone is named, and no other file appears.
  const other = tmpDir({ 'tsconfig.json': '{ "mine": true }\n' });
  assert.throws(() => initProject(other), (err: Error) => /tsconfig\.json already exists/.test(err.message) && !err.message.includes('policies'));
  assert.equal(Object.keys(snapshot(other)), ['tsconfig.json']);
  assert.is(readFileSync(path.join(other, 'tsconfig.json'), 'utf8'), '{ "mine": true }\n');
  assert.not.ok(existsSync(path.join(other, 'policies')));
});

files('force overwrites what exists and says so', () => {
  const dir = tmpDir({ 'policies/least-load.ts': '// my own\n', 'README.md': 'untouched\n' });
  const result = initProject(dir, { force: true });
  assert.equal(result.written, FILES);
  assert.equal(result.overwritten, ['policies/least-load.ts']);
  assert.is(readFileSync(path.join(dir, 'policies/least-load.ts'), 'utf8'), INIT_TEMPLATES[1]!.text);
  assert.is(readFileSync(path.join(dir, 'README.md'), 'utf8'), 'untouched\n');
});

files.run();

const command = suite('init: the command');

command('protobalance init --dir: prints the files and next steps; again: exit 1 naming the files; --force: exit 0', async () => {
  const dir = path.join(tmpDir(), 'p');
  const first = await runCli(['init', '--dir', dir]);
  assert.is(first.code, 0, first.stderr);
  for (const f of FILES) assert.match(first.stdout, f);
  assert.match(first.stdout, 'npx protobalance start');
  assert.match(first.stdout, 'curl http://127.0.0.1:8080/');
  assert.match(first.stdout, 'npx tsc --noEmit');
  const before = snapshot(dir);

  const second = await runCli(['init', '--dir', dir]);
  assert.is(second.code, 1);
  assert.is(second.stdout, '');
  const line = second.stderr.trim();
  assert.not.match(line, '\n');
  assert.match(line, /^protobalance: .*protobalance\.config\.ts, policies\/least-load\.ts, plugins\/hello-nodes\.mjs, tsconfig\.json already exist/);
  assert.equal(snapshot(dir), before);

  const forced = await runCli(['init', '--dir', dir, '--force']);
  assert.is(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, '(overwritten)');
});

command.run();

const serves = suite('init: the generated project serves');

serves('its config validates, and a balancer built from it answers curl from nodes a and b, across a reload', async () => {
  const dir = tmpDir();
  initProject(dir);
  const { port, a, b, env } = await projectEnv();
  Object.assign(process.env, env);
  let raw: Config;
  try {
    const file = path.join(dir, 'protobalance.config.ts');
    const config = await loadConfig(file);
    assert.equal(config.listeners.map((l) => [l.host, l.portFrom, l.cluster]), [['127.0.0.1', port, 'web']]);
    assert.equal(config.clusters.web!.nodes.map((n) => `${n.id} ${n.host}:${n.port}`), [`a 127.0.0.1:${a}`, `b 127.0.0.1:${b}`]);
    assert.is(config.clusters.web!.balance, 'policy:./policies/least-load.ts');
    raw = (await readConfigFile(file)).raw as Config;
    const balancer = new Balancer(config, { logger: recordingLogger(), source: config.source, builtins: builtinPlugins() });
    await balancer.start();
    try {
      const first = [await get(port), await get(port), await get(port), await get(port)].map(servedBy);
      assert.equal([...first].sort(), ['a', 'a', 'b', 'b'], first.join(','));
      // A reload loads the plugin file afresh: the nodes the serving generation started stay up.
      await balancer.reload(raw);
      const after = [await get(port), await get(port)].map(servedBy).sort();
      assert.equal(after, ['a', 'b']);
    } finally {
      await balancer.stop(200);
    }
    // Stopped: the demo nodes are gone with it.
    assert.ok(await refused(a), 'node a still listening');
    assert.ok(await refused(b), 'node b still listening');
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
  }
});

serves('`protobalance start` in the folder serves right after init; SIGTERM exits 0', async () => {
  const dir = tmpDir();
  initProject(dir);
  const { port, env } = await projectEnv();
  const run = startCli(['start'], env, dir);
  try {
    await run.waitForOutput('accepting connections', 30_000);
    assert.match(run.stdout(), `hello-nodes: a on 127.0.0.1:${env.PB_NODE_PORTS.split(',')[0]}`);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(servedBy(await get(port)));
    for (const s of seen) assert.ok(s === 'a' || s === 'b', s);
  } finally {
    run.child.kill('SIGTERM');
  }
  const finished = await withTimeout(run.exited, 30_000, 'the balancer to exit on SIGTERM');
  assert.is(finished.code, 0, finished.stderr);
});

serves.run();

const types = suite('init: the generated project type-checks');

/**
 * A generated project as `npm init -y` (npm 11) leaves it (a CommonJS package), with this
 * protobalance and typescript linked in, and its tsc.
 */
function initTypedProject(): { dir: string; tsc: () => Promise<{ code: number; out: string }> } {
  const dir = tmpDir({ 'package.json': JSON.stringify({ name: 'lb', version: '1.0.0', type: 'commonjs' }) });
  initProject(dir);
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(ROOT, path.join(dir, 'node_modules/protobalance'), 'dir');
  symlinkSync(path.join(ROOT, 'node_modules/typescript'), path.join(dir, 'node_modules/typescript'), 'dir');
  const tsc = (): Promise<{ code: number; out: string }> =>
    exec(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', dir], { cwd: dir }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );
  return { dir, tsc };
}

types('tsc --noEmit passes with protobalance and typescript installed, and catches a wrong field', async () => {
  const { dir, tsc } = initTypedProject();
  const clean = await tsc();
  assert.is(clean.code, 0, `tsc on the generated project (are protobalance's declarations built? npm run build):\n${clean.out}`);
  // The types are really resolved (not `any`): a field NodeView lacks is an error.
  writeFileSync(
    path.join(dir, 'policies/wrong.ts'),
    "import { definePolicy } from 'protobalance';\nexport default definePolicy({ name: 'w', rate: (node) => node.noSuchField });\n",
  );
  const wrong = await tsc();
  assert.ok(wrong.code !== 0, wrong.out);
  assert.match(wrong.out, /policies\/wrong\.ts\(2,\d+\): error TS2339: Property 'noSuchField' does not exist/);
});

types('tsc reads a TypeScript plugin in plugins/ (its ClusterFields reach the config) and catches a misspelt field in the nodes list', async () => {
  const { dir, tsc } = initTypedProject();
  const configFile = path.join(dir, 'protobalance.config.ts');
  const template = readFileSync(configFile, 'utf8');
  // A local plugin that declares a cluster field; the config imports nothing from it.
  writeFileSync(
    path.join(dir, 'plugins/warm-up.ts'),
    [
      "import { definePlugin } from 'protobalance';",
      "declare module 'protobalance' {",
      "  interface ClusterFields { warmUp?: 'cold' | 'warm' | undefined }",
      '}',
      "export default definePlugin({ name: 'warm-up', fields: { cluster: { warmUp: { type: 'string', enum: ['cold', 'warm'] } } }, apply() {} });",
      '',
    ].join('\n'),
  );
  const withField = template.replace('      nodes,\n', "      nodes,\n      warmUp: 'warm',\n");
  assert.is.not(withField, template);
  writeFileSync(configFile, withField);
  const seen = await tsc();
  assert.is(seen.code, 0, `the plugin's ClusterFields augmentation is not seen:\n${seen.out}`);

  // A misspelt optional field in the list declared outside defineConfig.
  const misspelt = template.replace("loadFactor: 1 }", "loadFactr: 1 }");
  assert.is.not(misspelt, template);
  writeFileSync(configFile, misspelt);
  const wrong = await tsc();
  assert.ok(wrong.code !== 0, wrong.out);
  assert.match(wrong.out, /protobalance\.config\.ts\(\d+,\d+\): error TS2561: Object literal may only specify known properties, but 'loadFactr' does not exist in type 'NodeConfig'/);
});

types.run();
