/**
 * The admin API's address as `protobalance start` and the control commands find it
 * (--admin-host/--admin-port, then PB_ADMIN_HOST/PB_ADMIN_PORT, then the config), a start
 * that cannot have its admin port (fails whole, one line), `admin: false`, and a control
 * command that meets some other server on the admin port (refused, one line).
 */
import http from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, startCli } from '../helpers/cli.ts';
import { closeServer, connect, freePort, portOf, startServer, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

/** The one line of stderr a failure prints, checked to be a single line with no stack. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.is(lines.length, 1, `one line expected, got:\n${stderr}`);
  assert.not.match(stderr, /\n\s+at /);
  return lines[0]!;
}

/** A folder with a one-listener config; `admin` is the config's admin block, as TS text. */
async function project(admin: string, workers = 1) {
  const listen = await freePort();
  const dir = tmpDir({
    'protobalance.config.ts': `export default {
  listeners: [{ port: ${listen}, host: '127.0.0.1', cluster: 'c' }],
  clusters: { c: { nodes: [{ id: 'n0', address: '127.0.0.1:1' }] } },
  workers: ${workers}, watch: false, log: { level: 'warn' }, admin: ${admin},
};\n`,
  });
  return { dir, listen, cli: (args: string[], env: Record<string, string> = {}) => runCli(args, env, dir) };
}

/** Environment with no admin variables of the caller's leaking in. */
const clean = { PB_ADMIN_HOST: '', PB_ADMIN_PORT: '', PB_ADMIN_TOKEN: '' };

const address = suite('admin address: flags beat environment beat config');

address('start and the control commands resolve the address the same way', async () => {
  const [fromConfig, fromEnv, fromFlag] = [await freePort(), await freePort(), await freePort()];
  const p = await project(`{ port: ${fromConfig} }`);
  // Flags beat the environment: the API is on 127.0.0.1:fromFlag, not on PB_ADMIN_*.
  const env = { ...clean, PB_ADMIN_HOST: '127.0.0.2', PB_ADMIN_PORT: String(fromEnv) };
  const run = startCli(['start', '--admin-host', '127.0.0.1', '--admin-port', String(fromFlag)], env, p.dir);
  try {
    await run.waitForOutput('admin API on', 30_000);
    assert.match(run.stdout(), `admin API on http://127.0.0.1:${fromFlag}/api`);
    // The control commands read the environment before the config.
    const viaEnv = await p.cli(['status', '--json'], { ...clean, PB_ADMIN_PORT: String(fromFlag) });
    assert.is(viaEnv.code, 0, viaEnv.stderr);
    assert.is((JSON.parse(viaEnv.stdout) as { processes: number }).processes, 1);
    // Without it they go where the config says, where nothing listens.
    const viaConfig = await p.cli(['status'], clean);
    assert.is(viaConfig.code, 1);
    assert.match(oneLine(viaConfig.stderr), `protobalance: cannot reach the admin API at http://127.0.0.1:${fromConfig}/api`);
  } finally {
    run.child.kill('SIGTERM');
    await run.exited;
  }
  // The environment beats the config: PB_ADMIN_HOST and PB_ADMIN_PORT alone.
  const second = startCli(['start'], env, p.dir);
  try {
    await second.waitForOutput('admin API on', 30_000);
    assert.match(second.stdout(), `admin API on http://127.0.0.2:${fromEnv}/api`);
    const reloaded = await p.cli(['reload'], env);
    assert.equal([reloaded.code, /^reloaded: generation (\d+)/.exec(reloaded.stdout)?.[1]], [0, '2'], reloaded.stderr);
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
  }
});

address('a bad PB_ADMIN_PORT or --admin-port fails before anything listens', async () => {
  const p = await project('{}');
  const env = await p.cli(['start'], { ...clean, PB_ADMIN_PORT: 'abc' });
  assert.equal([env.code, oneLine(env.stderr)], [1, 'protobalance: PB_ADMIN_PORT: expected a port 0-65535, got "abc"']);
  const flag = await p.cli(['start', '--admin-port', '99999'], clean);
  assert.equal([flag.code, oneLine(flag.stderr)], [1, 'protobalance: --admin-port: expected a port 0-65535, got "99999"']);
  assert.not.match(env.stdout + flag.stdout, 'accepting connections');
});

const taken = suite('admin port taken: start fails whole');

taken('one line, exit 1, and the listeners are closed again', async () => {
  const holder = await startServer(() => {});
  const port = portOf(holder);
  try {
    // Two processes: the worker being forked must go too, or the process would not end.
    const p = await project(`{ port: ${port} }`, 2);
    const f = await withTimeout(p.cli(['start'], clean), 30_000, 'start to give up');
    assert.is(f.code, 1, f.stdout);
    assert.is(
      oneLine(f.stderr),
      `protobalance: protobalance.config.ts: admin: cannot listen on 127.0.0.1:${port}: address already in use (set admin.port, PB_ADMIN_PORT or --admin-port, or admin: false)`,
    );
    // The listener it had opened is closed: nothing accepts there any more.
    const refused = await connect(p.listen).then((s) => (s.destroy(), false), () => true);
    assert.ok(refused, `port ${p.listen} still accepts`);
    // Where the port came from is said when it is not the config.
    const env = await p.cli(['start'], { ...clean, PB_ADMIN_PORT: String(port) });
    assert.match(oneLine(env.stderr), `admin: cannot listen on 127.0.0.1:${port} (port from PB_ADMIN_PORT): address already in use`);
  } finally {
    await closeServer(holder);
  }
});

taken('admin: false starts without the API, and says so', async () => {
  const p = await project('false');
  const run = startCli(['start'], clean, p.dir);
  try {
    await run.waitForOutput('admin API off', 30_000);
    assert.match(run.stdout(), 'admin API off (admin: false in protobalance.config.ts)');
    assert.not.match(run.stdout(), 'admin API on');
    const status = await p.cli(['status'], clean);
    assert.is(status.code, 1);
    assert.is(oneLine(status.stderr), 'protobalance: protobalance.config.ts: admin: false: the balancer serves no admin API (give --url to reach one)');
  } finally {
    run.child.kill('SIGTERM');
    const finished = await run.exited;
    assert.is(finished.code, 0, finished.stderr);
  }
});

const impostor = suite('control commands refuse a server that is not Proto Balance');

impostor('a plain HTTP server answering 200 JSON', async () => {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true,"generation":7}\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = portOf(server);
  try {
    const dir = tmpDir();
    const expected = `protobalance: http://127.0.0.1:${port}/api is not a Proto Balance admin API (it answered without the x-protobalance header)`;
    const byUrl = await runCli(['status', '--url', `http://127.0.0.1:${port}/api`, '--token', 't'], clean, dir);
    assert.equal([byUrl.code, oneLine(byUrl.stderr)], [1, expected]);
    // Found through the environment, as a `reload` or a `node ... red` would be: nothing is acted on.
    const p = await project(`{ token: 't' }`);
    for (const args of [['reload'], ['node', 'c/n0', 'red']]) {
      const f = await p.cli(args, { ...clean, PB_ADMIN_PORT: String(port) });
      assert.equal([f.code, oneLine(f.stderr), f.stdout], [1, expected, ''], args.join(' '));
    }
  } finally {
    server.closeAllConnections();
    await closeServer(server);
  }
});

address.run();
taken.run();
impostor.run();
