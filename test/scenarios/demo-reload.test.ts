/**
 * The shipped demo (`npm start`: protobalance.config.ts with examples/demo-nodes/plugin.ts)
 * survives reloads. Each load bundles the config afresh, plugin included, so the demo nodes
 * must be found again by the next generation instead of being listened for twice
 * (EADDRINUSE). Checked through `protobalance reload` and through edits of a copy of the
 * demo config in a temporary folder. Ports come from PB_DEMO_PORT, PB_DEMO_NODE_PORTS and
 * PB_ADMIN_PORT, all free ones.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, runCli, startCli, type Running } from '../helpers/cli.ts';
import { freePort, waitFor, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

async function demoEnv() {
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const env = { PB_DEMO_PORT: String(ports[0]), PB_DEMO_NODE_PORTS: ports.slice(1, 4).join(','), PB_ADMIN_PORT: String(ports[4]), PB_ADMIN_HOST: '' };
  return { port: ports[0]!, env };
}

/** The demo node that answered a request through the balancer (a new connection each time). */
function askDemo(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(/demo node (\w+)/.exec(body)?.[1] ?? `? ${body}`));
      })
      .on('error', reject);
  });
}

/**
 * Every demo node still answers. Each process keeps its own rotation and the kernel picks
 * the process, so ask until all three have answered (bounded).
 */
async function allNodesAnswer(port: number): Promise<void> {
  const seen = new Set<string>();
  for (let i = 0; i < 60 && seen.size < 3; i++) seen.add(await askDemo(port));
  assert.equal([...seen].sort(), ['a', 'b', 'c']);
}

function noAddressInUse(run: Running): void {
  assert.not.match(run.stdout() + run.stderr(), /EADDRINUSE|cannot listen|reload failed/);
}

async function stop(run: Running): Promise<void> {
  run.child.kill('SIGTERM');
  const finished = await withTimeout(run.exited, 30_000, 'the demo to exit on SIGTERM');
  assert.is(finished.code, 0, finished.stderr);
}

const demo = suite('demo: reloads keep the demo nodes');

demo('protobalance reload (the admin API), twice', async () => {
  const { port, env } = await demoEnv();
  const run = startCli(['start', '--config', 'protobalance.config.ts'], env);
  try {
    await run.waitForOutput('admin API on', 30_000);
    await allNodesAnswer(port);
    for (const generation of [2, 3]) {
      const r = await runCli(['reload', '--config', 'protobalance.config.ts'], env);
      assert.is(r.code, 0, `${r.stderr}\n${run.stderr()}`);
      assert.match(r.stdout, `reloaded: generation ${generation}`);
    }
    await allNodesAnswer(port);
    noAddressInUse(run);
  } finally {
    await stop(run);
  }
});

demo('edits of a copy of the demo config apply live', async () => {
  const { port, env } = await demoEnv();
  const dir = tmpDir({
    'protobalance.config.ts': readFileSync(path.join(ROOT, 'protobalance.config.ts'), 'utf8'),
    'examples/demo-nodes/plugin.ts': readFileSync(path.join(ROOT, 'examples/demo-nodes/plugin.ts'), 'utf8'),
  });
  const file = path.join(dir, 'protobalance.config.ts');
  const run = startCli(['start'], env, dir);
  const reloaded = (generation: number) => run.stderr().includes(`"generation":${generation},`) && run.stderr().includes('config reloaded');
  /**
   * Edit the file until generation `generation` is served. The file watcher starts just
   * after the start line and says nothing when ready, so an edit made before it watches
   * is missed; the next one (another comment) is not.
   */
  const edit = async (generation: number, change: (text: string) => string) => {
    for (let attempt = 1; !reloaded(generation) && !run.stderr().includes('reload failed'); attempt++) {
      assert.ok(attempt <= 10, `no reload to generation ${generation} after ${attempt - 1} edits; stderr: ${run.stderr()}`);
      writeFileSync(file, `${change(readFileSync(file, 'utf8'))}\n// edit ${generation}.${attempt}\n`);
      await waitFor(() => reloaded(generation) || run.stderr().includes('reload failed'), 2_000, 'a reload').catch(() => undefined);
    }
    noAddressInUse(run);
  };
  try {
    await run.waitForOutput('admin API on', 30_000);
    await allNodesAnswer(port);
    assert.match(readFileSync(file, 'utf8'), "balance: 'round-robin'");
    await edit(2, (text) => text.replace("balance: 'round-robin'", "balance: 'random'"));
    // A second edit: the generation that took the nodes over hands them on in turn.
    await edit(3, (text) => text);
    const status = await runCli(['status', '--json'], env, dir);
    assert.is(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as { generation: number; clusters: { balance: string }[] };
    assert.equal([s.generation, s.clusters[0]!.balance], [3, 'random']);
    await allNodesAnswer(port);
  } finally {
    await stop(run);
  }
});

demo.run();
