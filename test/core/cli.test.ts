import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { VERSION } from '../../core/index.ts';
import { ROOT, runCli, startCli } from '../helpers/cli.ts';
import { closeServer, connect, freePort, portOf, startServer, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

const exec = promisify(execFile);

async function curl(port: number): Promise<string> {
  const { stdout } = await exec('curl', ['-s', '--max-time', '5', `http://127.0.0.1:${port}/`]);
  return stdout;
}

/** The one line of stderr a failure prints, checked to be a single line with no stack. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.is(lines.length, 1, `one line expected, got:\n${stderr}`);
  assert.not.match(stderr, /\n\s+at /);
  return lines[0]!;
}

async function demoEnv() {
  const ports = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  // The admin port too: a start whose admin port is taken fails.
  return { port: ports[0]!, env: { PB_DEMO_PORT: String(ports[0]), PB_DEMO_NODE_PORTS: ports.slice(1, 4).join(','), PB_ADMIN_PORT: String(ports[4]) } };
}

const demo = suite('cli: start on the shipped demo config');

demo('curl gets answers from the three demo nodes in turn; SIGTERM exits 0', async () => {
  const { port, env } = await demoEnv();
  const run = startCli(['start', '--config', 'protobalance.config.ts'], env);
  try {
    await run.waitForOutput('accepting connections');
    // One process per CPU by default: every one of them must be serving.
    const cpus = availableParallelism();
    if (cpus > 1) {
      await run.waitForOutput('processes serving', 30_000);
      assert.match(run.stdout(), `${cpus} processes serving`);
    }
    const served: string[] = [];
    for (let i = 0; i < 6; i++) served.push(/demo node (\w+)/.exec(await curl(port))?.[1] ?? '?');
    // Each process keeps its own rotation, so six requests reach all three nodes, in
    // turn within each process: every node at least once and at most three times.
    for (const node of ['a', 'b', 'c']) {
      const n = served.filter((s) => s === node).length;
      assert.ok(n >= 1 && n <= 3, `node ${node} served ${n} of ${served.join(',')}`);
    }
    assert.match(run.stdout(), `curl http://127.0.0.1:${port}/`);
  } finally {
    run.child.kill('SIGTERM');
  }
  const finished = await withTimeout(run.exited, 30_000, 'the balancer to exit on SIGTERM');
  assert.is(finished.code, 0, finished.stderr);
  assert.match(finished.stdout, 'SIGTERM: no longer accepting');
});

demo('SIGTERM stops accepting at once but lets an open connection finish', async () => {
  const backend = await startServer((socket) => socket.pipe(socket));
  const dir = tmpDir({
    'protobalance.config.json': JSON.stringify({
      listeners: [{ port: await freePort(), host: '127.0.0.1', cluster: 'c' }],
      clusters: { c: { nodes: [{ id: 'a', address: `127.0.0.1:${portOf(backend)}` }] } },
      drainTimeout: '20s',
      log: { level: 'debug' },
    }),
  });
  const run = startCli(['start'], { PB_ADMIN_PORT: String(await freePort()) }, dir);
  try {
    await run.waitForOutput('accepting connections');
    const port = Number(/127\.0\.0\.1:(\d+) -> cluster c/.exec(run.stdout())![1]);
    const open = await connect(port);
    // A round trip first: a connection still in the listen queue when the listener closes
    // was never accepted, and is dropped by the kernel, as with any server.
    const first = new Promise<string>((resolve) => open.once('data', (d) => resolve(d.toString())));
    open.write('hello');
    assert.is(await withTimeout(first, 10_000, 'the first answer'), 'hello');
    run.child.kill('SIGTERM');
    await run.waitForOutput('draining');
    const refused = await connect(port).then(
      (s) => (s.destroy(), false),
      () => true,
    );
    assert.ok(refused, 'new connections are refused while draining');
    const echoed = new Promise<string>((resolve) => open.once('data', (d) => resolve(d.toString())));
    open.write('still here');
    const answer = await withTimeout(echoed, 10_000, 'the open connection to answer while draining').catch((err: Error) => {
      throw new Error(`${err.message}\nstdout: ${run.stdout()}\nstderr: ${run.stderr()}`);
    });
    assert.is(answer, 'still here');
    open.end();
    const finished = await withTimeout(run.exited, 30_000, 'the balancer to exit after draining');
    assert.is(finished.code, 0, `${finished.stdout}\n${finished.stderr}`);
  } finally {
    run.child.kill('SIGKILL');
    await closeServer(backend);
  }
});

const errors = suite('cli: failures print one clear line and exit non-zero');

errors('a missing config', async () => {
  const dir = tmpDir({});
  const f = await runCli(['start'], {}, dir);
  assert.is(f.code, 2);
  assert.match(oneLine(f.stderr), /^protobalance: no config found in /);
});

errors('an explicit config file that does not exist', async () => {
  const f = await runCli(['start', '--config', 'nope.config.ts']);
  assert.is(f.code, 2);
  assert.is(oneLine(f.stderr), `protobalance: config file not found: ${path.join(ROOT, 'nope.config.ts')}`);
});

errors('a bad config names the field', async () => {
  const dir = tmpDir({
    'protobalance.config.ts': `export default { listeners: [{ port: 80, cluster: 'web' }], clusters: { web: { nodes: [{ id: 'a', address: '10.0.0.1:80' }, { id: 'b', address: '10.0.0.2:99999' }] } } };`,
  });
  for (const command of ['start', 'check']) {
    const f = await runCli([command], {}, dir);
    assert.is(f.code, 1, command);
    assert.is(oneLine(f.stderr), 'protobalance: protobalance.config.ts: clusters.web.nodes[1].address: expected "host:port", got "10.0.0.2:99999"');
  }
});

errors('an unknown algorithm is caught by check', async () => {
  const dir = tmpDir({
    'protobalance.config.json': JSON.stringify({
      listeners: [{ port: 80, cluster: 'web' }],
      clusters: { web: { balance: 'fastest', nodes: [{ id: 'a', address: '10.0.0.1:80' }] } },
    }),
  });
  const f = await runCli(['check'], {}, dir);
  assert.is(f.code, 1);
  assert.match(oneLine(f.stderr), /^protobalance: protobalance\.config\.json: clusters\.web\.balance: unknown algorithm "fastest" \(known: round-robin, random/);
});

errors('a port already in use', async () => {
  const taken = await startServer(() => {});
  const dir = tmpDir({
    'protobalance.config.json': JSON.stringify({
      listeners: [{ port: portOf(taken), host: '127.0.0.1', cluster: 'c' }],
      clusters: { c: { nodes: [{ id: 'a', address: '127.0.0.1:1' }] } },
    }),
  });
  try {
    const f = await runCli(['start'], {}, dir);
    assert.is(f.code, 1);
    assert.is(oneLine(f.stderr), `protobalance: protobalance.config.json: listeners[0]: cannot listen on 127.0.0.1:${portOf(taken)}: address already in use`);
  } finally {
    await closeServer(taken);
  }
});

const info = suite('cli: check, --version, --help');

info('check prints the resolved config with secrets masked', async () => {
  const dir = tmpDir({
    'protobalance.config.json': JSON.stringify({
      listeners: [{ port: 80, cluster: 'web' }],
      clusters: { web: { hashSecret: 's3cret', nodes: [{ id: 'a', address: '10.0.0.1:80' }] } },
      admin: { token: 'tok' },
      affinity: { store: 'redis://10.0.0.5:6379/0?username=pb&password=qsecret' },
      fleet: { redis: 'redis://pb:usecret@10.0.0.5:6379/0', name: 'edge' },
    }),
  });
  const f = await runCli(['check'], {}, dir);
  assert.is(f.code, 0, f.stderr);
  const printed = JSON.parse(f.stdout);
  assert.is(printed.clusters.web.nodes[0].host, '10.0.0.1');
  assert.is(printed.clusters.web.hashSecret, '***');
  assert.is(printed.admin.token, '***');
  assert.not.match(f.stdout, 's3cret');
  // Redis passwords, in the user part or as a query parameter.
  assert.is(printed.fleet.redis, 'redis://pb:***@10.0.0.5:6379/0');
  assert.is(printed.clusters.web.affinity.store, 'redis://10.0.0.5:6379/0?username=pb&password=***');
  assert.not.match(f.stdout, 'secret"');
  assert.not.match(f.stdout, 'usecret');
  assert.not.match(f.stdout, 'qsecret');
});

info('--version and --help', async () => {
  const v = await runCli(['--version']);
  assert.is(v.stdout.trim(), VERSION);
  const h = await runCli(['--help']);
  assert.is(h.code, 0);
  for (const word of ['start', 'check', '--version']) assert.match(h.stdout, word);
});

demo.run();
errors.run();
info.run();
