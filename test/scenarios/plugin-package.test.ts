/**
 * What a user does with a published plugin, end to end: the balancer and
 * examples/plugin-package (protobalance-plugin-statsd) are packed as npm would publish
 * them and installed with the real npm into a fresh project; the project's config names
 * the plugin by its short name (`plugins: [['statsd', { … }]]`), its tsconfig is what
 * `tsc --init` makes (plus `types: ["node"]`), and `tsc --noEmit` passes. Then
 * `protobalance start` (the installed bin) serves clients through a TCP echo node, and the
 * plugin's hooks, acting on those connections, make datagrams reach a UDP socket of the
 * test (the StatsD server). The plugin is then upgraded on disk and `protobalance reload`
 * must bring the new code in. The process must end with 0 when stopped (never 134, abort).
 *
 * Twice: installed from the tarballs; and with the plugin installed as a folder (a
 * symlink, as `npm install ../my-plugin` does) whose own node_modules holds its
 * devDependency copy of protobalance, made unloadable here: the plugin's
 * `import … from 'protobalance'` must be bound to the running balancer, not to that copy.
 */
import dgram from 'node:dgram';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, type Finished } from '../helpers/cli.ts';
import { addr, closeServer, freePort, roundTrip, startEchoServer, waitFor, withTimeout } from '../helpers/net.ts';
import { makeProject, packAsIs, packDir, packRepo, repoVersion, run, signalGroup, type PackedDir, type Project } from '../helpers/packed.ts';
import { tmpDir } from '../helpers/tmp.ts';

const PLUGIN = 'protobalance-plugin-statsd';

let packing: Promise<{ repo: string; plugin: PackedDir }> | undefined;
/** Both packages packed, once for both tests. */
function packages() {
  packing ??= (async () => ({ repo: await packRepo(), plugin: await packDir(path.join(ROOT, 'examples/plugin-package')) }))();
  return packing;
}

const toolSpecs = () => [`typescript@${repoVersion('typescript')}`, `@types/node@${repoVersion('@types/node')}`];

/** A StatsD stand-in on 127.0.0.1:0: every line received, and sums of counters. */
async function statsdServer() {
  const socket = dgram.createSocket('udp4');
  const lines: string[] = [];
  socket.on('message', (msg) => lines.push(...msg.toString().split('\n')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const counter = (name: string) =>
    lines.filter((l) => l.startsWith(`${name}:`) && l.endsWith('|c')).reduce((sum, l) => sum + Number(l.slice(name.length + 1, -2)), 0);
  return { port: socket.address().port, lines, counter, close: () => socket.close() };
}

/**
 * The upgrade: the plugin's compiled entry made to run a second reporter under the prefix
 * `<prefix>.v2`, beside the first. The anchor is a line of examples/plugin-package/src/index.ts.
 */
const ANCHOR = 'return reporter(options);';
function upgradeEntry(file: string): void {
  const text = readFileSync(file, 'utf8');
  assert.ok(text.includes(ANCHOR), `${file} has no "${ANCHOR}" to upgrade:\n${text}`);
  const v2 = `const v1 = reporter(options);
        const v2 = reporter({ ...options, prefix: \`\${options.prefix}.v2\` });
        return { apply(hooks, api) { v1.apply(hooks, api); v2.apply(hooks, api); } };`;
  writeFileSync(file, text.replace(ANCHOR, v2));
}

/** Writes the user's files; the tsconfig is `tsc --init`'s with the Node types. */
async function writeUserFiles(project: Project, ports: { listen: number; admin: number; statsd: number }, node: string) {
  writeFileSync(
    path.join(project.dir, 'protobalance.config.ts'),
    `import { defineConfig } from 'protobalance';

export default defineConfig({
  listeners: [{ name: 'front', port: ${ports.listen}, host: '127.0.0.1', cluster: 'echo' }],
  clusters: { echo: { nodes: [{ id: 'e1', address: '${node}' }] } },
  plugins: [['statsd', { port: ${ports.statsd}, prefix: 'pb', interval: '100ms' }]],
  admin: { host: '127.0.0.1', port: ${ports.admin} },
  workers: 1,
  watch: false,
  drainTimeout: '1s',
  log: { level: 'warn' },
});
`,
  );
  // The plugin's declarations resolve in a user's project too.
  writeFileSync(
    path.join(project.dir, 'statsd-types.ts'),
    `import type statsd from '${PLUGIN}';
import type { StatsdOptions } from '${PLUGIN}';

export const options: StatsdOptions = { host: '127.0.0.1', port: 8125, prefix: 'pb', interval: 1000, maxPacket: 1432 };
export type Statsd = typeof statsd;
`,
  );
  const init = await project.run('npx', ['--no', '--', 'tsc', '--init']);
  assert.is(init.code, 0, init.stdout + init.stderr);
  const file = path.join(project.dir, 'tsconfig.json');
  const tsconfig = readFileSync(file, 'utf8');
  assert.ok(tsconfig.includes('"types": [],'), tsconfig);
  writeFileSync(file, tsconfig.replace('"types": [],', '"types": ["node"],'));
  const tsc = await project.run('npx', ['--no', '--', 'tsc', '--noEmit'], { timeout: 120_000 });
  assert.is(tsc.code, 0, `tsc --noEmit in the user's project:\n${tsc.stdout}${tsc.stderr}`);
}

/** Start, serve, see the plugin report, upgrade it with `upgrade`, reload, see the new code. */
async function serveAndUpgrade(project: Project, upgrade: () => Promise<void>): Promise<void> {
  const statsd = await statsdServer();
  const echo = await startEchoServer();
  const listen = await freePort();
  await writeUserFiles(project, { listen, admin: await freePort(), statsd: statsd.port }, addr(echo));
  const server = project.start(path.join(project.dir, 'node_modules/.bin/protobalance'), ['start']);
  let exit: Finished | undefined;
  void server.exited.then((f) => (exit = f));
  const log = () => `${exit ? `\nexited ${exit.code ?? exit.signal}` : ''}\nstdout: ${server.stdout()}\nstderr: ${server.stderr()}`;
  /** waitFor, its failure with the balancer's output (read then, not now). */
  const until = (check: () => boolean, what: string) =>
    waitFor(check, 10_000, what).catch((err: Error) => {
      throw new Error(`${err.message}${log()}`);
    });
  let stopped: Finished | undefined;
  try {
    await server.waitForOutput('admin API on', 60_000); // printed once serving
    for (let i = 0; i < 3; i++) assert.is(await roundTrip(listen, `hello ${i}`), `hello ${i}`);
    await until(() => statsd.counter('pb.listener.front.outcome.closed') === 3, 'three closed connections reported');
    assert.is(statsd.counter('pb.listener.front.connections'), 3, statsd.lines.join('\n'));
    assert.is(statsd.counter('pb.node.echo.e1.connections'), 3);
    assert.is(statsd.counter('pb.node.echo.e1.bytes_from_client'), 3 * 'hello 0'.length);
    assert.ok(statsd.lines.includes('pb.node.echo.e1.state:0|g'), statsd.lines.join('\n'));

    await upgrade();
    // Until the reload, the running code is the code that was loaded.
    assert.is(await roundTrip(listen, 'before reload'), 'before reload');
    await until(() => statsd.counter('pb.listener.front.outcome.closed') === 4, 'the fourth connection reported');
    assert.is(statsd.counter('pb.v2.listener.front.connections'), 0, 'the upgrade acted before the reload');

    const reload = await project.run('npx', ['--no', '--', 'protobalance', 'reload'], { timeout: 30_000 });
    assert.is(reload.code, 0, `protobalance reload: ${reload.stdout}${reload.stderr}${log()}`);
    for (let i = 0; i < 2; i++) assert.is(await roundTrip(listen, `after ${i}`), `after ${i}`);
    await until(() => statsd.counter('pb.v2.listener.front.outcome.closed') === 2, "the upgraded plugin's metrics");
    assert.is(statsd.counter('pb.v2.node.echo.e1.connections'), 2);
    assert.is(statsd.counter('pb.listener.front.connections'), 6, 'the first reporter goes on');
  } finally {
    signalGroup(server, 'SIGTERM');
    stopped = await withTimeout(server.exited, 20_000, 'the balancer to stop').catch(() => {
      signalGroup(server, 'SIGKILL');
      return undefined;
    });
    await closeServer(echo);
    statsd.close();
  }
  // Reached only when everything above passed (a failure there is the one reported).
  assert.ok(stopped, `the balancer did not stop within 20 s of SIGTERM${log()}`);
  assert.equal([stopped.code, stopped.signal], [0, null], `the balancer's exit (134 is an abort)${log()}`);
}

test('from the tarballs: types check, it serves, the plugin reports, a 1.0.1 installed in place is taken by reload', async () => {
  const { repo, plugin } = await packages();
  const project = await makeProject([repo, plugin.tarball, ...toolSpecs()]);
  const installed = (name: string) =>
    (JSON.parse(readFileSync(path.join(project.dir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  assert.is(installed(PLUGIN), '1.0.0');
  await serveAndUpgrade(project, async () => {
    // The author publishes 1.0.1; the user installs it while the balancer runs.
    const next = tmpDir();
    cpSync(path.join(plugin.dir, 'dist'), path.join(next, 'dist'), { recursive: true });
    const manifest = JSON.parse(readFileSync(path.join(plugin.dir, 'package.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(next, 'package.json'), JSON.stringify({ ...manifest, version: '1.0.1' }, null, 2));
    upgradeEntry(path.join(next, 'dist/index.js'));
    await project.install([await packAsIs(next)]);
    assert.is(installed(PLUGIN), '1.0.1');
  });
  // The plugin's options schema speaks for it: a wrong option is one line naming it.
  const bad = readFileSync(path.join(project.dir, 'protobalance.config.ts'), 'utf8').replace(/port: \d+, prefix/, "port: 'x', prefix");
  writeFileSync(path.join(project.dir, 'bad.config.ts'), bad);
  const check = await project.run('npx', ['--no', '--', 'protobalance', 'check', '--config', 'bad.config.ts'], { timeout: 30_000 });
  assert.is(check.code, 1, check.stdout + check.stderr);
  assert.match(check.stderr, /plugins\[0\].*options\.port: expected a port/);
});

test('as a folder install with its own copy of protobalance: bound to the running balancer; an edit is taken by reload', async () => {
  const { repo, plugin } = await packages();
  // The plugin's devDependency copy (from the tarball, installed by packDir) is made
  // unloadable: the plugin runs only if its `protobalance` is the running balancer.
  const own = path.join(plugin.dir, 'node_modules/protobalance');
  const exportsField = (JSON.parse(readFileSync(path.join(own, 'package.json'), 'utf8')) as { exports: Record<string, { import: string }> }).exports;
  const entry = path.join(own, exportsField['.']!.import);
  // Its exports stay (the plugin links); evaluating it throws.
  const poison = `throw new Error('the plugin folder\\'s own copy of protobalance was loaded (${entry})');\n`;
  writeFileSync(entry, poison + readFileSync(entry, 'utf8'));
  // That copy is what plain Node resolution gives the plugin.
  const alone = await run(process.execPath, ['--input-type=module', '-e', `await import('${PLUGIN}')`], { cwd: plugin.dir, timeout: 30_000 });
  assert.match(alone.stderr, "own copy of protobalance was loaded");

  const project = await makeProject([repo, plugin.dir, ...toolSpecs()]);
  // The developer rebuilds the plugin in its folder while the balancer runs.
  await serveAndUpgrade(project, async () => upgradeEntry(path.join(plugin.dir, 'dist/index.js')));
});

test.run();
