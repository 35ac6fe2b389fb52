/**
 * The slow-start plugin with real sockets, under round robin: a node added at run time to
 * a cluster with `slowStart: '2s'` gets clearly fewer connections than its peer while it
 * ramps and an equal share after; the nodes of the first start are at full weight; a node
 * green again or available again ramps; without `slowStart` an added node gets its equal
 * share at once and the plugin taps nothing per generation but `configChanged`; a bad
 * `slowStart` fails the config check.
 *
 * Shares are measured against the node's effective load factor as read before each
 * connection, not against the clock, so a slow machine changes the number of samples,
 * not the expected share; and the bounds leave wide margins.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BalancerNode, Config, PluginEntry } from '../../../core/index.ts';
import { addNode, createBalancer } from '../../../core/index.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import slowStart from '../../../plugins/slow-start/index.ts';
import { builtinPlugins } from '../../helpers/assembly.ts';
import { startBalancer, type TestBalancer } from '../../helpers/balancer.ts';
import { closeServer, HOST, portOf, roundTrip, startEchoServer, waitFor } from '../../helpers/net.ts';
import net from 'node:net';

const plugins: PluginEntry[] = builtinPlugins().some((p) => (p as { name?: string }).name === 'slow-start') ? [] : [slowStart];

type Echo = Awaited<ReturnType<typeof startEchoServer>>;

function config(nodes: Echo[], cluster: Partial<Config['clusters'][string]> = {}): Config {
  return {
    listeners: [{ port: 0, host: HOST, cluster: 'c' }],
    clusters: { c: { balance: 'round-robin', nodes: nodes.map((e, i) => ({ id: `n${i}`, address: `${HOST}:${portOf(e)}` })), ...cluster } },
    plugins,
    retryInterval: '200ms',
    log: { level: 'info' },
  };
}

const node = (tb: TestBalancer, id: string): BalancerNode => tb.balancer.node(`c/${id}`)!;

async function add(tb: TestBalancer, id: string, echo: Echo): Promise<void> {
  await tb.balancer.applyChanges(addNode(tb.balancer.changeBase(), 'c', { id, address: `${HOST}:${portOf(echo)}` }));
}

/** `count` connections one after another; how many each echo server took. */
async function share(tb: TestBalancer, a: Echo, b: Echo, count: number): Promise<{ a: number; b: number }> {
  const [a0, b0] = [a.connections, b.connections];
  for (let i = 0; i < count; i++) assert.is(await roundTrip(tb.port, 'x'), 'x');
  return { a: a.connections - a0, b: b.connections - b0 };
}

test('a node added at run time ramps: far fewer connections at first, an equal share after the window', async () => {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const tb = await startBalancer(config([a], { slowStart: '2s' }));
  try {
    assert.is(node(tb, 'n0').loadFactor, 1, 'a node of the first start is at full weight');
    await add(tb, 'n1', b);
    const added = node(tb, 'n1');
    assert.ok(added.loadFactor < 0.2, `the added node starts low (${added.loadFactor})`);
    assert.is(added.configuredLoadFactor, 1);

    // While its factor is at most half: one connection after another, bounded.
    const early = { a: 0, b: 0 };
    for (let i = 0; i < 2000 && added.loadFactor <= 0.5; i++) {
      const got = await share(tb, a, b, 1);
      early.a += got.a;
      early.b += got.b;
      await new Promise((r) => setTimeout(r, 2)); // a few hundred samples are plenty; spare the shared CPU
    }
    const total = early.a + early.b;
    assert.ok(total >= 8, `enough connections while ramping (${total})`);
    // Expected about 20 %: the factor is 1/8 for a quarter of the window, then up to 1/2.
    assert.ok(early.b / total < 0.36, `the ramping node took ${early.b} of ${total}`);
    assert.ok(early.b * 1.7 < early.a, `clearly fewer than its peer: ${early.b} against ${early.a}`);

    await waitFor(() => added.loadFactor === 1, 6000, 'the end of the ramp');
    const after = await share(tb, a, b, 40);
    assert.ok(Math.abs(after.a - after.b) <= 4, `an equal share after the window: ${after.a} / ${after.b}`);
    assert.is(node(tb, 'n0').loadFactor, 1, 'the peer never ramped');
  } finally {
    await tb.stop();
    await closeServer(a);
    await closeServer(b);
  }
});

test('without slowStart an added node gets its equal share at once, and nothing is tapped but configChanged', async () => {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const tb = await startBalancer(config([a]));
  try {
    const taps = (name: 'listening' | 'nodeStateChanged' | 'configChanged' | 'accept') =>
      tb.balancer.generation.hooks[name].taps.filter((t) => t.name === 'slow-start').length;
    assert.equal([taps('listening'), taps('nodeStateChanged'), taps('accept'), taps('configChanged')], [0, 0, 0, 1]);
    await add(tb, 'n1', b);
    assert.is(node(tb, 'n1').loadFactor, 1);
    const got = await share(tb, a, b, 20);
    assert.ok(Math.abs(got.a - got.b) <= 2, `equal shares at once: ${got.a} / ${got.b}`);
    assert.is(node(tb, 'n1').loadFactor, 1);
  } finally {
    await tb.stop();
    await closeServer(a);
    await closeServer(b);
  }
});

test('green again after red ramps; a reload that drops slowStart ends the ramp at full weight', async () => {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const first = config([a, b], { slowStart: '30s' });
  const tb = await startBalancer(first);
  try {
    // Past the first poll: the nodes of the first start stay at full weight.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal([node(tb, 'n0').loadFactor, node(tb, 'n1').loadFactor], [1, 1]);
    tb.balancer.setNodeState('c/n1', 'red');
    assert.is(node(tb, 'n1').loadFactor, 1, 'going red does not ramp');
    tb.balancer.setNodeState('c/n1', 'green');
    assert.is(node(tb, 'n1').loadFactor, 0.05, 'green again: the first of 20 steps');
    const stateDir = tb.balancer.generation.config.stateDir;
    await tb.balancer.reload({ ...first, stateDir, clusters: { c: { ...first.clusters.c!, slowStart: undefined } } });
    assert.is(node(tb, 'n1').loadFactor, 1);
  } finally {
    await tb.stop();
    await closeServer(a);
    await closeServer(b);
  }
});

test('a node that was down and is reached again ramps', async () => {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const tb = await startBalancer(config([a, b], { slowStart: '30s' }));
  try {
    const port = portOf(b);
    const down = node(tb, 'n1');
    await closeServer(b);
    // Connections until one meets the closed node and marks it unavailable (bounded).
    for (let i = 0; i < 20 && down.available; i++) await roundTrip(tb.port, 'x');
    assert.not.ok(down.available, 'marked unavailable');
    assert.is(down.loadFactor, 1);
    const back = net.createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => back.listen(port, HOST, resolve));
    try {
      // After the retry interval a connection tries it again and finds it (bounded).
      for (let i = 0; i < 100 && !down.available; i++) {
        await roundTrip(tb.port, 'x');
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(down.available, 'reached again');
      await waitFor(() => down.loadFactor < 1, 2000, 'the ramp to begin');
      assert.ok(down.loadFactor <= 0.1, `ramping from the bottom (${down.loadFactor})`);
    } finally {
      await closeServer(back);
    }
  } finally {
    await tb.stop();
    await closeServer(a);
  }
});

test('a bad slowStart fails the config check, naming the field and the plugin', async () => {
  const bad = { ...config([]), clusters: { c: { nodes: [{ id: 'n0', address: '127.0.0.1:1' }], slowStart: 'soon' } }, stateDir: tmpDir() };
  const err = await createBalancer(bad, { builtins: builtinPlugins() })
    .validate()
    .then(
      () => undefined,
      (e: unknown) => e as Error,
    );
  assert.match(err?.message ?? 'no error', /clusters\.c\.slowStart: expected a duration.*got "soon" \(a field of plugin slow-start\)/);
});

test.run();
