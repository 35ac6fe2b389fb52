/**
 * The admin API (core/admin/): every endpoint with a good token, a wrong one and none,
 * bad input (400 naming the field), unknown names (404), and changes that reach every
 * process of the group before the answer.
 */
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { adminToken, TOKEN_FILE } from '../../core/admin/token.ts';
import { loadConfig } from '../../core/config-load.ts';
import { ProcessGroup } from '../../core/workers/group.ts';
import { startControlled } from '../helpers/admin.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { addr, closeServer, connect, freePort, roundTrip, startEchoServer, startServer, waitFor, withTimeout } from '../helpers/net.ts';
import { withBuiltins } from '../helpers/assembly.ts';

function configText(port: number, node: string, cluster = `affinity: { enabled: true }`, factor = 1): string {
  return `export default {
  listeners: [{ name: 'front', port: ${port}, host: '127.0.0.1', cluster: 'c' }],
  clusters: { c: { nodes: [{ id: 'n0', address: '${node}', loadFactor: ${factor} }], ${cluster} }, d: { nodes: [{ id: 'm0', address: '${node}' }] } },
  workers: 2, watch: false, stateDir: './state', log: { level: 'silent' },
};\n`;
}

async function rig(cluster?: string) {
  const echo = await startEchoServer();
  const port = await freePort();
  const c = await startControlled(configText(port, addr(echo), cluster));
  const stop = async () => {
    await c.stop();
    await closeServer(echo);
  };
  return { ...c, port, echo, stop };
}

test('no token or a wrong one: 401 on every endpoint, and nothing changes', async () => {
  const r = await rig();
  try {
    for (const auth of [null, 'wrong', `${r.token}x`]) {
      assert.is((await r.call('GET', '/status', undefined, auth)).status, 401);
      assert.is((await r.call('PUT', '/nodes/c/n0/state', { state: 'red' }, auth)).status, 401);
      assert.is((await r.call('POST', '/reload', undefined, auth)).status, 401);
      assert.is((await r.call('DELETE', '/affinity/c/127.0.0.1', undefined, auth)).status, 401);
      assert.is((await r.call('PUT', '/nodes/c/n0/factor', { factor: 5 }, auth)).status, 401);
      assert.is((await r.call('POST', '/clusters/c/nodes', { id: 'x', address: '127.0.0.1:9' }, auth)).status, 401);
      assert.is((await r.call('DELETE', '/nodes/c/n0', undefined, auth)).status, 401);
      assert.is((await r.call('PUT', '/listeners/front/cluster', { cluster: 'd' }, auth)).status, 401);
      assert.is((await r.call('GET', '/changes', undefined, auth)).status, 401);
      const metrics = await fetch(`${r.origin}/metrics`, { headers: auth === null ? {} : { authorization: `Bearer ${auth}` } });
      assert.is(metrics.status, 401);
    }
    assert.equal((await r.group.statusByProcess()).map((l) => l[0]!.loadFactor), [1, 1]);
    assert.is(r.group.generation.routes.get('front'), 'c');
    assert.is(r.group.balancer.clusters()[0]!.nodes.length, 1);
    const states = (await r.group.statusByProcess()).map((l) => l[0]!.state);
    assert.equal(states, ['green', 'green']);
    assert.is(r.group.generation.id, 1);
  } finally {
    await r.stop();
  }
});

test('the token is made once, kept in the state directory with mode 0600', async () => {
  const r = await rig();
  try {
    const file = path.join(r.config.stateDir, TOKEN_FILE);
    assert.is(statSync(file).mode & 0o777, 0o600);
    assert.is(adminToken(undefined, r.config.stateDir), r.token, 'the same token at the next start');
    assert.ok(r.token.length >= 40);
    assert.is(adminToken('from-config', r.config.stateDir), 'from-config', 'the config wins');
    process.env.PB_ADMIN_TOKEN = 'from-env';
    try {
      assert.is(adminToken(undefined, r.config.stateDir), 'from-env', 'then the environment');
      assert.is(adminToken('from-config', r.config.stateDir), 'from-config');
    } finally {
      delete process.env.PB_ADMIN_TOKEN;
    }
  } finally {
    await r.stop();
  }
});

test('status: version, generation, processes, listeners and every node summed over the processes', async () => {
  const r = await rig();
  try {
    for (let i = 0; i < 6; i++) assert.is(await roundTrip(r.port, `m${i}`), `m${i}`);
    const { status, body } = await r.call('GET', '/status');
    assert.is(status, 200);
    assert.type(body.version, 'string');
    assert.is(body.generation, 1);
    assert.is(body.processes, 2);
    const listeners = body.listeners as { port: number; cluster: string }[];
    assert.equal(listeners.map((l) => [l.port, l.cluster]), [[r.port, 'c']]);
    const clusters = body.clusters as { name: string; nodes: { key: string; state: string; totalConnections: number; available: boolean }[] }[];
    assert.is(clusters[0]!.name, 'c');
    const n0 = clusters[0]!.nodes[0]!;
    assert.equal([n0.key, n0.state, n0.available, n0.totalConnections], ['c/n0', 'green', true, 6]);
    assert.is((await r.call('GET', '/nope')).status, 404);
  } finally {
    await r.stop();
  }
});

test('node state: set in every process before the answer; bad state 400, unknown names 404', async () => {
  const r = await rig();
  try {
    const ok = await r.call('PUT', '/nodes/c/n0/state', { state: 'yellow' });
    assert.equal([ok.status, ok.body.state], [200, 'yellow']);
    assert.equal((await r.group.statusByProcess()).map((l) => l[0]!.state), ['yellow', 'yellow']);
    const bad = await r.call('PUT', '/nodes/c/n0/state', { state: 'blue' });
    assert.is(bad.status, 400);
    assert.match(String(bad.body.error), /^state: expected one of green, yellow, red/);
    assert.is((await r.call('PUT', '/nodes/c/n0/state', 'not json')).status, 400);
    assert.is((await r.call('PUT', '/nodes/c/zz/state', { state: 'red' })).status, 404);
    assert.is((await r.call('PUT', '/nodes/zz/n0/state', { state: 'red' })).status, 404);
    assert.equal((await r.group.statusByProcess()).map((l) => l[0]!.state), ['yellow', 'yellow'], 'failed requests changed nothing');
    // Every change and every refusal leaves a line: the operator's trail.
    const trail = r.logger.lines.filter((l) => l.msg === 'admin API request').map((l) => [l.level, l.fields.method, l.fields.path, l.fields.status]);
    assert.equal(trail.slice(0, 2), [
      ['info', 'PUT', '/api/nodes/c/n0/state', 200],
      ['warn', 'PUT', '/api/nodes/c/n0/state', 400],
    ]);
    assert.match(String(r.logger.lines.find((l) => l.fields.status === 400)!.fields.error), 'state: expected one of');
  } finally {
    await r.stop();
  }
});

test('reload: a good file makes a new generation everywhere; a broken one is 400 and the old one serves', async () => {
  const r = await rig();
  try {
    const ok = await r.call('POST', '/reload');
    assert.equal([ok.status, ok.body.ok, ok.body.generation], [200, true, 2]);
    writeFileSync(r.file, 'export default { listeners: [ ;');
    const bad = await r.call('POST', '/reload');
    assert.is(bad.status, 400);
    assert.match(String(bad.body.error), 'protobalance.config.ts');
    assert.is(r.group.generation.id, 2);
    assert.is(await roundTrip(r.port, 'still'), 'still');
  } finally {
    await r.stop();
  }
});

test("affinity: a client's binding is shown and forgotten; unknown ones are 404", async () => {
  const r = await rig();
  try {
    assert.is(await roundTrip(r.port, 'bind me'), 'bind me');
    const shown = await r.call('GET', '/affinity/c/127.0.0.1');
    assert.equal([shown.status, shown.body.node], [200, 'n0']);
    assert.is((await r.call('GET', '/affinity/c/::ffff:127.0.0.1')).body.node, 'n0', 'any form of the address');
    assert.is((await r.call('DELETE', '/affinity/c/127.0.0.1')).status, 200);
    assert.is((await r.call('GET', '/affinity/c/127.0.0.1')).status, 404);
    assert.is((await r.call('DELETE', '/affinity/c/127.0.0.1')).status, 404);
    assert.is((await r.call('GET', '/affinity/zz/127.0.0.1')).status, 404);
  } finally {
    await r.stop();
  }
});

test('load factor: set in every process; bad 400, unknown 404; kept across a restart until the file changes it', async () => {
  const r = await rig();
  let restarted: ProcessGroup | undefined;
  let stopped = false;
  try {
    const ok = await r.call('PUT', '/nodes/c/n0/factor', { factor: 3 });
    assert.equal([ok.status, ok.body.factor], [200, 3]);
    assert.equal((await r.group.statusByProcess()).map((l) => l.find((n) => n.key === 'c/n0')!.loadFactor), [3, 3]);
    const bad = await r.call('PUT', '/nodes/c/n0/factor', { factor: 0 });
    assert.is(bad.status, 400);
    assert.match(String(bad.body.error), /^factor: expected a number greater than 0, got 0/);
    assert.is((await r.call('PUT', '/nodes/c/n0/factor', { factor: 'x' })).status, 400);
    assert.is((await r.call('PUT', '/nodes/c/zz/factor', { factor: 2 })).status, 404);
    assert.is((await r.call('PUT', '/nodes/zz/n0/factor', { factor: 2 })).status, 404);
    assert.equal((await r.call('GET', '/changes')).body.factors, { 'c/n0': { factor: 3, file: 1 } });

    // Restart on the same file: the change holds.
    stopped = true;
    await r.stop();
    const echo = await startEchoServer();
    writeFileSync(r.file, configText(r.port, addr(echo)));
    restarted = new ProcessGroup({ config: await loadConfig(r.file), logger: recordingLogger(), ...withBuiltins() });
    await restarted.start();
    await withTimeout(restarted.workersReady, 30_000, 'the worker');
    assert.equal((await restarted.statusByProcess()).map((l) => l.find((n) => n.key === 'c/n0')!.loadFactor), [3, 3], 'kept across the restart');
    // The file now sets the factor itself: the file wins, and the change is gone for good.
    writeFileSync(r.file, configText(r.port, addr(echo), undefined, 2));
    const { readConfigFile } = await import('../../core/config-load.ts');
    await restarted.reload((await readConfigFile(r.file)).raw as never);
    assert.equal((await restarted.statusByProcess()).map((l) => l.find((n) => n.key === 'c/n0')!.loadFactor), [2, 2], 'the file decides');
    assert.equal(restarted.balancer.runtimeChanges().factors, {});
    await closeServer(echo);
  } finally {
    if (!stopped) await r.stop();
    await restarted?.stop(0);
  }
});

test('add and remove a node: in every process; open connections of a removed node go on; 400/404/409', async () => {
  const r = await rig(`balance: 'round-robin'`);
  const named = await startServer((socket) => {
    socket.write('N1:');
    socket.pipe(socket);
  });
  try {
    const add = await r.call('POST', '/clusters/c/nodes', { id: 'n1', address: addr(named), loadFactor: 2 });
    assert.equal([add.status, add.body.node], [201, 'c/n1']);
    for (const list of await r.group.statusByProcess()) {
      assert.equal(list.filter((n) => n.cluster === 'c').map((n) => [n.id, n.loadFactor]), [['n0', 1], ['n1', 2]]);
    }
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => roundTrip(r.port, `m${i}`)));
    assert.ok(replies.some((x) => x.startsWith('N1:')), 'new clients reach the added node');
    assert.ok(replies.some((x) => !x.startsWith('N1:')), 'and the old one');

    assert.is((await r.call('POST', '/clusters/c/nodes', { id: 'n1', address: addr(named) })).status, 409);
    const badAddress = await r.call('POST', '/clusters/c/nodes', { id: 'n2', address: 'nowhere:' });
    assert.is(badAddress.status, 400);
    assert.match(String(badAddress.body.error), /^address: expected "host:port"/);
    const badField = await r.call('POST', '/clusters/c/nodes', { id: 'n2', address: addr(named), weight: 2 });
    assert.equal([badField.status, /^weight: unknown field/.test(String(badField.body.error))], [400, true]);
    const badFallover = await r.call('POST', '/clusters/c/nodes', { id: 'n2', address: addr(named), fallover: 'zz' });
    assert.equal([badFallover.status, /^fallover:/.test(String(badFallover.body.error))], [400, true]);
    assert.is((await r.call('POST', '/clusters/zz/nodes', { id: 'n2', address: addr(named) })).status, 404);

    // A connection held on n1 while n1 is removed keeps going.
    let held: import('node:net').Socket | undefined;
    let got = '';
    for (let i = 0; i < 8 && !got.startsWith('N1:'); i++) {
      held?.destroy();
      got = '';
      held = await connect(r.port);
      held.on('data', (d: Buffer) => (got += d.toString()));
      held.write('hold');
      await waitFor(() => got.includes('hold'), 5000, 'the held connection');
    }
    assert.ok(got.startsWith('N1:'), 'a connection on n1');
    const removed = await r.call('DELETE', '/nodes/c/n1');
    assert.equal([removed.status, removed.body.removed], [200, true]);
    for (const list of await r.group.statusByProcess()) assert.equal(list.filter((n) => n.cluster === 'c').map((n) => n.id), ['n0']);
    held!.write('more');
    await waitFor(() => got.endsWith('more'), 5000, 'the removed node still answering its open connection');
    held!.destroy();
    const after = await Promise.all(Array.from({ length: 6 }, (_, i) => roundTrip(r.port, `a${i}`)));
    assert.ok(after.every((x) => !x.startsWith('N1:')), 'no new client reaches the removed node');

    assert.is((await r.call('DELETE', '/nodes/c/n0')).status, 409, 'the last node of a cluster stays');
    assert.is((await r.call('DELETE', '/nodes/c/zz')).status, 404);
    assert.equal((await r.call('GET', '/changes')).body, { factors: {}, routes: {}, added: {}, removed: {} }, 'adding then removing leaves no change');
  } finally {
    await closeServer(named);
    await r.stop();
  }
});

test('status and CLI-facing fields: listener counts, fall-overs, runtime changes', async () => {
  const r = await rig();
  try {
    for (let i = 0; i < 5; i++) await roundTrip(r.port, `x${i}`);
    assert.is((await r.call('PUT', '/listeners/front/cluster', { cluster: 'd' })).status, 200);
    const { body } = await r.call('GET', '/status');
    const front = (body.listeners as { listener: string; accepted: number; refused: number; cluster: string }[])[0]!;
    assert.equal([front.listener, front.accepted, front.refused, front.cluster], ['front', 5, 0, 'd']);
    const n0 = (body.clusters as { nodes: { fallovers: number }[] }[])[0]!.nodes[0]!;
    assert.is(n0.fallovers, 0);
    assert.equal((body.runtimeChanges as { routes: unknown }).routes, { front: { cluster: 'd', file: 'c' } });
    // Back to the file as it is, in every process.
    assert.is((await r.call('PUT', '/nodes/c/n0/factor', { factor: 4 })).status, 200);
    const reset = await r.call('DELETE', '/changes');
    assert.equal([reset.status, reset.body.changes], [200, { factors: {}, routes: {}, added: {}, removed: {} }]);
    assert.is(r.group.generation.routes.get('front'), 'c');
    assert.equal((await r.group.statusByProcess()).map((l) => l.find((n) => n.key === 'c/n0')!.loadFactor), [1, 1]);
    assert.is((await r.call('DELETE', '/changes', undefined, 'wrong')).status, 401);
  } finally {
    await r.stop();
  }
});

test.run();
