/**
 * examples/single-cluster: the example's config, copied to a temporary folder and started
 * with free ports (PB_SINGLE_CLUSTER_PORT, PB_SINGLE_CLUSTER_NODE_PORT, PB_ADMIN_PORT), in
 * front of the example's three nodes (examples/single-cluster/node.mjs on 127.0.0.2-4).
 * One node is killed: every client is still served, never by the dead one.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, runCli, startCli, watch, type Running } from '../helpers/cli.ts';
import { freePort, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

const EXAMPLE = path.join(ROOT, 'examples', 'single-cluster');
const NODES = [
  { id: 'a', host: '127.0.0.2' },
  { id: 'b', host: '127.0.0.3' },
  { id: 'c', host: '127.0.0.4' },
];

/** The example's node script, as its README starts it. */
function startNode(id: string, host: string, port: number): Running {
  return watch(spawn(process.execPath, [path.join(EXAMPLE, 'node.mjs'), id, host, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** The three nodes on one port free on all three addresses (a few ports tried). */
async function startNodes(): Promise<{ port: number; nodes: Map<string, Running> }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const nodes = new Map(NODES.map((n) => [n.id, startNode(n.id, n.host, port)] as const));
    const up = await Promise.all([...nodes.values()].map((r) => r.waitForOutput('listening on', 10_000).then(() => true, () => false)));
    if (up.every(Boolean)) return { port, nodes };
    await stopNodes(nodes);
  }
  throw new Error('no port free on 127.0.0.2-4 for the nodes');
}

async function stopNodes(nodes: Map<string, Running>): Promise<void> {
  for (const r of nodes.values()) {
    if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await withTimeout(r.exited, 10_000, 'a node to exit');
  }
}

/** The node that answered one request through the balancer (a new connection each time). */
function ask(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(/Hello from node (\w+)/.exec(body)?.[1] ?? `? ${body}`));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5s')));
    req.on('error', reject);
  });
}

/** `count` requests, one after the other: who answered each, or the error. */
async function askMany(port: number, count: number): Promise<{ answers: string[]; failures: string[] }> {
  const answers: string[] = [];
  const failures: string[] = [];
  for (let i = 0; i < count; i++) {
    try {
      answers.push(await ask(port));
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  return { answers, failures };
}

const scenario = suite('examples/single-cluster: three nodes, one dies');

scenario('every client is served while a node is killed, and never by the dead one', async () => {
  const { port: nodePort, nodes } = await startNodes();
  let balancer: Running | undefined;
  try {
    const [port, adminPort] = [await freePort(), await freePort()];
    const env = {
      PB_SINGLE_CLUSTER_PORT: String(port),
      PB_SINGLE_CLUSTER_NODE_PORT: String(nodePort),
      PB_ADMIN_PORT: String(adminPort),
      PB_ADMIN_HOST: '',
    };
    const dir = tmpDir({ 'protobalance.config.ts': readFileSync(path.join(EXAMPLE, 'protobalance.config.ts'), 'utf8') });
    const run = startCli(['start'], env, dir);
    balancer = run;
    await run.waitForOutput('admin API on', 30_000);

    // All three take turns (each process keeps its own rotation: ask until all answered).
    const before = new Set<string>();
    for (let i = 0; i < 60 && before.size < 3; i++) before.add(await ask(port));
    assert.equal([...before].sort(), ['a', 'b', 'c']);

    // b dies, as a crashed server or a pulled cable on loopback would: no goodbye.
    const b = nodes.get('b')!;
    b.child.kill('SIGKILL');
    await withTimeout(b.exited, 10_000, 'node b to exit');

    const after = await askMany(port, 60);
    assert.equal(after.failures, [], 'every client served');
    assert.is(after.answers.length, 60);
    assert.ok(!after.answers.includes('b'), `never the dead node: ${after.answers.join(' ')}`);
    assert.equal([...new Set(after.answers)].sort(), ['a', 'c']);

    // Status counts b's failed dials: the clients that fell over from it saw nothing.
    const status = await runCli(['status', '--json'], env, dir);
    assert.is(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as { clusters: { nodes: { key: string; failures: number; fallovers: number }[] }[] };
    const nodeB = s.clusters[0]!.nodes.find((n) => n.key === 'web/b');
    assert.ok(nodeB && nodeB.failures >= 1 && nodeB.fallovers >= 1, status.stdout);
  } finally {
    if (balancer) {
      balancer.child.kill('SIGTERM');
      const finished = await withTimeout(balancer.exited, 30_000, 'the balancer to exit on SIGTERM');
      assert.is(finished.code, 0, finished.stderr);
    }
    await stopNodes(nodes);
  }
});

scenario.run();
