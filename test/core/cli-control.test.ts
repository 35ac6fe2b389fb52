/**
 * The CLI's control commands (`status`, `node`, `route`, `reload`) against a running balancer,
 * through its admin API, with the address and token taken from the same config.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, startCli } from '../helpers/cli.ts';
import { addr, closeServer, freePort, startEchoServer } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

test('status, node and reload talk to the running balancer; a refused change is one error line', async () => {
  const echo = await startEchoServer();
  const adminPort = await freePort();
  const dir = tmpDir({
    'protobalance.config.ts': `export default {
  listeners: [{ name: 'front', port: ${await freePort()}, host: '127.0.0.1', cluster: 'c' }],
  clusters: { c: { nodes: [{ id: 'n0', address: '${addr(echo)}' }] }, d: { nodes: [{ id: 'm0', address: '${addr(echo)}' }] } },
  workers: 2, watch: false, admin: { port: ${adminPort} }, log: { level: 'warn' },
};\n`,
  });
  const config = path.join(dir, 'protobalance.config.ts');
  const run = startCli(['start', '--config', config], {}, dir);
  try {
    await run.waitForOutput('processes serving', 30_000);
    assert.match(run.stdout(), `admin API on http://127.0.0.1:${adminPort}/api`);
    const cli = (...args: string[]) => runCli([...args, '--config', config], {}, dir);

    const json = await cli('status', '--json');
    assert.is(json.code, 0, json.stderr);
    const s = JSON.parse(json.stdout) as { processes: number; clusters: { nodes: { key: string; state: string }[] }[] };
    assert.is(s.processes, 2);
    assert.equal(s.clusters[0]!.nodes.map((n) => [n.key, n.state]), [['c/n0', 'green']]);

    const human = await cli('status');
    assert.is(human.code, 0, human.stderr);
    assert.match(human.stdout, /NODE\s+ADDRESS\s+STATE/);
    assert.match(human.stdout, /c\/n0\s+127\.0\.0\.1:\d+\s+green/);

    const set = await cli('node', 'c/n0', 'yellow');
    assert.equal([set.code, set.stdout.trim()], [0, 'c/n0 is yellow']);
    const after = JSON.parse((await cli('status', '--json')).stdout) as typeof s;
    assert.is(after.clusters[0]!.nodes[0]!.state, 'yellow');

    const bad = await cli('node', 'c/n0', 'blue');
    assert.is(bad.code, 1);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, 'expected green, yellow, red, factor <n>, add <host:port> or remove after the node, got "blue"');

    const factor = await cli('node', 'c/n0', 'factor', '2.5');
    assert.equal([factor.code, factor.stdout.trim()], [0, 'c/n0 has load factor 2.5']);
    const badFactor = await cli('node', 'c/n0', 'factor', '-1');
    assert.equal([badFactor.code, badFactor.stderr.trim()], [1, 'protobalance: factor: expected a number greater than 0, got "-1"']);

    const routed = await cli('route', 'front', 'd');
    assert.equal([routed.code, routed.stdout.trim()], [0, 'listener front now sends new clients to cluster d']);
    const noCluster = await cli('route', 'front', 'zz');
    assert.match(noCluster.stderr, 'admin API: 404: no cluster zz');
    const table = await cli('status');
    assert.match(table.stdout, /front: 127\.0\.0\.1:\d+ -> d \(accepted 0, refused 0\)/);
    assert.match(table.stdout, /c\/n0\s+127\.0\.0\.1:\d+\s+yellow\s+yes\s+2\.5/);
    assert.match(table.stdout, /changed at run time[^\n]*\n  listener front -> d \(the file says c\)\n  node c\/n0 load factor 2\.5 \(the file says 1\)$/m);
    const routedJson = JSON.parse((await cli('route', 'front', 'c', '--json')).stdout) as { listener: string; cluster: string };
    assert.equal([routedJson.listener, routedJson.cluster], ['front', 'c']);

    const unknown = await cli('node', 'c/zz', 'red');
    assert.match(unknown.stderr, 'admin API: 404: no node zz in cluster c');

    const generation = () => cli('status', '--json').then((r) => (JSON.parse(r.stdout) as { generation: number }).generation);
    const before = await generation();
    const reloaded = await cli('reload');
    assert.equal([reloaded.code, /generation (\d+)/.exec(reloaded.stdout)?.[1]], [0, String(before + 1)]);
    // SIGHUP reloads too (the config has `watch: false`: no file event can be the cause).
    run.child.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    while ((await generation()) !== before + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.is(await generation(), before + 2, 'SIGHUP made a new generation');

    // /metrics from the started process (the prebuilt bundle when it is fresh, as after `npm ci`).
    const token = readFileSync(path.join(dir, '.protobalance', 'admin-token'), 'utf8').trim();
    const metrics = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.is(metrics.status, 200);
    assert.match(await metrics.text(), /^protobalance_node_load_factor\{cluster="c",node="n0"\} 2\.5$/m);

    const wrong = await runCli(['status', '--url', `http://127.0.0.1:${adminPort}/api`, '--token', 'wrong'], {}, dir);
    assert.match(wrong.stderr, 'admin API: 401');
  } finally {
    run.child.kill('SIGTERM');
    await run.exited;
    await closeServer(echo);
  }
});

test.run();
