/**
 * The admin API (core/admin/): every endpoint with a good token, a wrong one and none,
 * bad input (400 naming the field), unknown names (404), and changes that reach every
 * process of the group before the answer.
 */
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AdminServer } from '../../core/admin/server.ts';
import { adminToken, TOKEN_FILE } from '../../core/admin/token.ts';
import { loadConfig } from '../../core/config-load.ts';
import { watchConfig } from '../../core/watch.ts';
import { ProcessGroup } from '../../core/workers/group.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { addr, closeServer, freePort, roundTrip, startEchoServer, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

function configText(port: number, node: string): string {
  return `export default {
  listeners: [{ port: ${port}, host: '127.0.0.1', cluster: 'c' }],
  clusters: { c: { nodes: [{ id: 'n0', address: '${node}' }], affinity: { enabled: true } } },
  workers: 2, watch: false, stateDir: './state', log: { level: 'silent' },
};\n`;
}

async function rig() {
  const echo = await startEchoServer();
  const port = await freePort();
  const dir = tmpDir({ 'protobalance.config.ts': configText(port, addr(echo)) });
  const file = path.join(dir, 'protobalance.config.ts');
  const config = await loadConfig(file);
  const logger = recordingLogger();
  const group = new ProcessGroup({ config, logger });
  await group.start();
  await withTimeout(group.workersReady, 30_000, 'the worker');
  const watcher = watchConfig(group, { logger, watch: false });
  const token = adminToken(config.admin.token, config.stateDir);
  const admin = new AdminServer({ group, token, logger, reload: (r) => watcher.reload(r) });
  const a = await admin.listen('127.0.0.1', 0);
  const base = `http://127.0.0.1:${a.port}/api`;
  const call = async (method: string, route: string, body?: unknown, auth: string | null = token) => {
    const res = await fetch(`${base}${route}`, {
      method,
      headers: { ...(auth === null ? {} : { authorization: `Bearer ${auth}` }), 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const stop = async () => {
    await admin.close();
    await watcher.close();
    await group.stop(0);
    await closeServer(echo);
  };
  return { group, port, file, dir, config, token, call, stop, echo };
}

test('no token or a wrong one: 401 on every endpoint, and nothing changes', async () => {
  const r = await rig();
  try {
    for (const auth of [null, 'wrong', `${r.token}x`]) {
      assert.is((await r.call('GET', '/status', undefined, auth)).status, 401);
      assert.is((await r.call('PUT', '/nodes/c/n0/state', { state: 'red' }, auth)).status, 401);
      assert.is((await r.call('POST', '/reload', undefined, auth)).status, 401);
      assert.is((await r.call('DELETE', '/affinity/c/127.0.0.1', undefined, auth)).status, 401);
    }
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

test.run();
