/**
 * The access-control plugin with real sockets: clients from 127.0.0.1, 127.0.0.2 (the
 * client socket bound to it) and ::1, and IPv4 clients seen IPv4-mapped by a listener
 * bound to ::ffff:127.0.0.1, against listeners with `allow` and `deny`. A refused
 * client is closed before any node is dialled (the node's accepts are counted) and is
 * counted in status and metrics under the code `access-denied`. Bad entries fail the
 * config check naming the field, the entry and the plugin; rules follow a reload.
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Config, PluginEntry } from '../../../core/index.ts';
import { metricsText } from '../../../core/admin/metrics.ts';
import { VERSION } from '../../../core/version.ts';
import accessControl from '../../../plugins/access-control/index.ts';
import { builtinPlugins } from '../../helpers/assembly.ts';
import { startBalancer, type TestBalancer } from '../../helpers/balancer.ts';
import { closeServer, HOST, portOf, startEchoServer, withTimeout } from '../../helpers/net.ts';
import { createBalancer } from '../../../core/index.ts';
import { tmpDir } from '../../helpers/tmp.ts';

/** The plugin, unless the lead already made it a built-in (then loading it twice is an error). */
const plugins: PluginEntry[] = builtinPlugins().some((p) => (p as { name?: string }).name === 'access-control') ? [] : [accessControl];

/**
 * Connect to `host:port` (from `from`), send a line, and return what came back before
 * the close: the echo for a client let through, '' for a refused one.
 */
function visit(port: number, host: string, from?: string): Promise<string> {
  const done = new Promise<string>((resolve) => {
    const socket = net.connect({ host, port, ...(from ? { localAddress: from } : {}) });
    let got = '';
    socket.on('connect', () => socket.end('ping'));
    socket.on('data', (d: Buffer) => (got += d.toString()));
    socket.on('error', () => undefined); // a refused client may see a reset: it still gets nothing
    socket.on('close', () => resolve(got));
  });
  return withTimeout(done, 5000, `a visit to ${host}:${port} from ${from ?? 'any'}`);
}

type Listener = Config['listeners'][number];

function config(nodeAddress: string, listeners: Listener[]): Config {
  return {
    listeners,
    clusters: { c: { nodes: [{ id: 'n0', address: nodeAddress }] } },
    plugins,
    log: { level: 'info' },
  };
}

/** The listeners' ports by name. */
const ports = (tb: TestBalancer): Record<string, number> => Object.fromEntries(tb.balancer.addresses().map((a) => [a.listener, a.port]));

const refusedBy = (tb: TestBalancer, listener: string): Record<string, number> | undefined =>
  tb.balancer.snapshot().listeners.find((l) => l.listener === listener)?.refusedBy;

test('allow and deny on IPv4: 127.0.0.1 gets through, 127.0.0.2 is closed before any node is dialled, counted by code', async () => {
  const echo = await startEchoServer();
  const tb = await startBalancer(config(`${HOST}:${portOf(echo)}`, [{ name: 'v4', port: 0, host: HOST, cluster: 'c', allow: ['127.0.0.0/8'], deny: ['127.0.0.2'] }]));
  try {
    const port = ports(tb).v4!;
    assert.is(await visit(port, HOST, '127.0.0.1'), 'ping');
    assert.is(echo.connections, 1);
    assert.is(await visit(port, HOST, '127.0.0.2'), '');
    assert.is(await visit(port, HOST, '127.0.0.2'), '');
    assert.is(echo.connections, 1, 'no node connection for a refused client');
    assert.is(await visit(port, HOST, '127.0.0.3'), 'ping', 'the rest of 127.0.0.0/8 is allowed');
    assert.is(echo.connections, 2);

    const status = tb.balancer.snapshot().listeners.find((l) => l.listener === 'v4')!;
    assert.is(status.refused, 2);
    assert.equal(refusedBy(tb, 'v4'), { 'access-denied': 2 });
    const { body } = await metricsText({ snapshot: tb.balancer.snapshot(), generation: 1, processes: 1, version: VERSION });
    assert.match(body, /^protobalance_listener_refusals_total\{listener="v4",reason="access-denied"\} 2$/m);

    const refusals = tb.logger.lines.filter((l) => l.fields.code === 'access-denied');
    assert.is(refusals.length, 2);
    assert.match(refusals[0]!.msg + JSON.stringify(refusals[0]!.fields), '127.0.0.2 is denied on listener v4 (deny 127.0.0.2)');
    // The refusal line names the client, the listener and the cluster; no balancer in front.
    const { client, listener, cluster } = refusals[0]!.fields;
    assert.equal({ client, listener, cluster }, { client: '127.0.0.2', listener: 'v4', cluster: 'c' });
    assert.not.ok('proxiedBy' in refusals[0]!.fields);
  } finally {
    await tb.stop();
    await closeServer(echo);
  }
});

test('IPv6 and allow-only listeners: ::1 in allow gets through, ::1 under deny ::/0 and 127.0.0.1 outside allow do not', async () => {
  const echo = await startEchoServer();
  const tb = await startBalancer(
    config(`${HOST}:${portOf(echo)}`, [
      { name: 'v6-in', port: 0, host: '::1', cluster: 'c', allow: ['::1'] },
      { name: 'v6-out', port: 0, host: '::1', cluster: 'c', deny: ['::/0'] },
      // An IPv6 rule never covers an IPv4 client, and the other way round.
      { name: 'office', port: 0, host: HOST, cluster: 'c', allow: ['10.0.0.0/8', '::/0'] },
      { name: 'open', port: 0, host: HOST, cluster: 'c' },
    ]),
  );
  try {
    const p = ports(tb);
    assert.is(await visit(p['v6-in']!, '::1'), 'ping');
    assert.is(await visit(p['v6-out']!, '::1'), '');
    assert.is(await visit(p.office!, HOST, '127.0.0.1'), '');
    assert.is(await visit(p.open!, HOST, '127.0.0.2'), 'ping', 'a listener without rules lets everyone in');
    assert.is(echo.connections, 2);
    assert.equal(refusedBy(tb, 'v6-out'), { 'access-denied': 1 });
    assert.equal(refusedBy(tb, 'office'), { 'access-denied': 1 });
    assert.is(refusedBy(tb, 'v6-in')?.['access-denied'] ?? 0, 0);
    const office = tb.logger.lines.find((l) => l.fields.code === 'access-denied' && JSON.stringify(l).includes('office'));
    assert.match(JSON.stringify(office), '127.0.0.1 is not allowed on listener office (in no allow network)');
  } finally {
    await tb.stop();
    await closeServer(echo);
  }
});

test('IPv4 clients seen IPv4-mapped (a listener bound to ::ffff:127.0.0.1) meet the IPv4 rules, and mapped rules alike', async () => {
  const echo = await startEchoServer();
  const tb = await startBalancer(
    config(`${HOST}:${portOf(echo)}`, [
      { name: 'mapped', port: 0, host: '::ffff:127.0.0.1', cluster: 'c', allow: ['::ffff:127.0.0.0/104'], deny: ['127.0.0.2'] },
    ]),
  );
  try {
    const port = ports(tb).mapped!;
    assert.is(await visit(port, HOST, '127.0.0.1'), 'ping');
    assert.is(await visit(port, HOST, '127.0.0.2'), '');
    assert.is(echo.connections, 1);
    const line = tb.logger.lines.find((l) => l.fields.code === 'access-denied');
    // The client is reported as the socket shows it; the rule that matched is the IPv4 one.
    assert.match(JSON.stringify(line), '::ffff:127.0.0.2 is denied on listener mapped (deny 127.0.0.2)');
  } finally {
    await tb.stop();
    await closeServer(echo);
  }
});

test('without rules the plugin taps no per-connection hook', async () => {
  const echo = await startEchoServer();
  const tb = await startBalancer(config(`${HOST}:${portOf(echo)}`, [{ name: 'open', port: 0, host: HOST, cluster: 'c' }]));
  try {
    assert.not.ok(tb.balancer.generation.hooks.accept.taps.some((t) => t.name === 'access-control'));
    assert.is(await visit(ports(tb).open!, HOST), 'ping');
  } finally {
    await tb.stop();
    await closeServer(echo);
  }
});

test('a bad entry fails the config check with the field, the entry, why, and the plugin', async () => {
  const listeners: Listener[] = [
    { name: 'ok', port: 0, host: HOST, cluster: 'c' },
    { name: 'bad', port: 0, host: HOST, cluster: 'c', allow: ['10.0.0.0/8', '::1', '10.0.0.0/33'], deny: '10.0.0.0/8' as unknown as string[] },
  ];
  const balancer = createBalancer({ ...config('127.0.0.1:1', listeners), stateDir: tmpDir() }, { builtins: builtinPlugins() });
  const err = await balancer.validate().then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  assert.ok(err, 'the check fails');
  assert.match(err.message, /listeners\[1\]\.allow(: )?\[2\]: "10\.0\.0\.0\/33" is not a network: prefix over 32 \(a field of plugin access-control\)/);
  // The value is named once (the core adds ", got …"; the plugin's message does not).
  assert.ok(
    err.message.includes('listeners[1].deny: expected a list of networks like ["10.0.0.0/8", "2001:db8::/32"], got "10.0.0.0/8" (a field of plugin access-control)'),
    err.message,
  );
});

test('a reload changes the rules for new clients; a reload with a bad entry changes nothing', async () => {
  const echo = await startEchoServer();
  const first = config(`${HOST}:${portOf(echo)}`, [{ name: 'v4', port: 0, host: HOST, cluster: 'c', deny: ['127.0.0.2'] }]);
  const tb = await startBalancer(first);
  try {
    const port = ports(tb).v4!;
    assert.is(await visit(port, HOST, '127.0.0.2'), '');
    assert.is(await visit(port, HOST, '127.0.0.1'), 'ping');
    // The same listener (port 0 as before: it keeps its socket), other rules.
    const listeners = [{ name: 'v4', port: 0, host: HOST, cluster: 'c', deny: ['127.0.0.1'] }];
    await tb.balancer.reload({ ...first, listeners, stateDir: tb.balancer.generation.config.stateDir });
    assert.is(await visit(port, HOST, '127.0.0.2'), 'ping');
    assert.is(await visit(port, HOST, '127.0.0.1'), '');
    assert.is(echo.connections, 2);

    // A reload with a bad entry fails, and the rules being served stay.
    const bad = [{ ...listeners[0]!, deny: ['127.0.0.2/40'] }];
    const failed = await tb.balancer.reload({ ...first, listeners: bad, stateDir: tb.balancer.generation.config.stateDir }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    assert.match(failed?.message ?? 'no error', 'is not a network: prefix over 32');
    assert.is(await visit(port, HOST, '127.0.0.2'), 'ping');
    assert.is(await visit(port, HOST, '127.0.0.1'), '');
  } finally {
    await tb.stop();
    await closeServer(echo);
  }
});

test.run();
