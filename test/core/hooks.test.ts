import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHooks, type ConnectionTotals, type Plugin } from '../../core/index.ts';
import { tapOnlyView } from '../../core/hooks.ts';
import { oneCluster, startBalancer } from '../helpers/balancer.ts';
import { addr, roundTrip, closeServer, closed, connect, freePort, startEchoServer, waitFor } from '../helpers/net.ts';


/** A plugin that records every hook it sees, in order. */
function recorder(events: string[]): Plugin {
  return {
    name: 'recorder',
    apply(hooks) {
      hooks.init.tapPromise('recorder', async () => void events.push('init'));
      hooks.listening.tap('recorder', () => void events.push('listening'));
      hooks.accept.tap('recorder', () => void events.push('accept'));
      hooks.resolveAffinity.tap('recorder', () => void events.push('resolveAffinity'));
      hooks.filterNodes.tap('recorder', (nodes) => (events.push('filterNodes'), nodes));
      hooks.selectNode.tap('recorder', () => void events.push('selectNode'));
      hooks.fallover.tap('recorder', (_ctx, node) => void events.push(`fallover:${node.id}`));
      hooks.connected.tap('recorder', (_ctx, node) => void events.push(`connected:${node.id}`));
      hooks.closed.tap('recorder', (_ctx, totals) => void events.push(`closed:${totals.outcome}`));
      hooks.shutdown.tapPromise('recorder', async () => void events.push('shutdown'));
    },
  };
}

const order = suite('hooks: documented order');

order('one connection fires accept, resolveAffinity, filterNodes, selectNode, connected, closed; lifecycle around it', async () => {
  const echo = await startEchoServer();
  const events: string[] = [];
  const t = await startBalancer({ ...oneCluster([addr(echo)]), plugins: [recorder(events)] });
  try {
    assert.is(await roundTrip(t.port, 'hi'), 'hi');
    await waitFor(() => events.some((e) => e.startsWith('closed')), 2000, 'closed hook');
  } finally {
    await t.stop();
    await closeServer(echo);
  }
  assert.equal(events, [
    'init', 'listening',
    'accept', 'resolveAffinity', 'filterNodes', 'selectNode', 'connected:n0', 'closed:closed',
    'shutdown',
  ]);
});

order('a failed dial fires fallover, then a new choice without the failed node', async () => {
  const echo = await startEchoServer();
  const dead = await freePort();
  const events: string[] = [];
  const t = await startBalancer({ ...oneCluster([`127.0.0.1:${dead}`, addr(echo)]), plugins: [recorder(events)] });
  try {
    assert.is(await roundTrip(t.port, 'x'), 'x');
    await waitFor(() => events.some((e) => e.startsWith('closed')), 2000, 'closed hook');
  } finally {
    await t.stop();
    await closeServer(echo);
  }
  const perConnection = events.slice(events.indexOf('accept'), events.indexOf('shutdown'));
  assert.equal(perConnection, [
    'accept', 'resolveAffinity', 'filterNodes', 'selectNode', 'fallover:n0', 'filterNodes', 'selectNode', 'connected:n1', 'closed:closed',
  ]);
});

const taps = suite('hooks: what taps can do');

taps('accept refusing closes the client and reports outcome "refused" with the reason', async () => {
  const echo = await startEchoServer();
  const totals: ConnectionTotals[] = [];
  const refuser: Plugin = {
    name: 'refuser',
    apply(hooks) {
      hooks.accept.tap('refuser', (ctx) => (ctx.client.address === '127.0.0.1' ? 'no loopback today' : undefined));
      hooks.closed.tap('refuser', (_ctx, t) => void totals.push(t));
    },
  };
  const t = await startBalancer({ ...oneCluster([addr(echo)]), plugins: [refuser] });
  try {
    const socket = await connect(t.port);
    await closed(socket);
    await waitFor(() => totals.length === 1, 2000, 'closed hook');
    assert.is(totals[0]!.outcome, 'refused');
    assert.is(totals[0]!.reason, 'no loopback today');
    assert.is(echo.connections, 0);
    assert.ok(t.logger.lines.some((l) => l.msg === 'no loopback today'));
  } finally {
    await t.stop();
    await closeServer(echo);
  }
});

taps('selectNode overrides the algorithm; filterNodes narrows the candidates', async () => {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const pick: Plugin = {
    name: 'pick-last',
    apply(hooks) {
      hooks.filterNodes.tap('drop-first', (nodes) => nodes.slice(1));
      hooks.selectNode.tap('pick-last', (_ctx, nodes) => nodes[nodes.length - 1]);
    },
  };
  const t = await startBalancer({ ...oneCluster([addr(a), addr(b)]), plugins: [pick] });
  try {
    for (let i = 0; i < 4; i++) assert.is(await roundTrip(t.port, 'y'), 'y');
    assert.is(a.connections, 0);
    assert.is(b.connections, 4);
  } finally {
    await t.stop();
    await closeServer(a);
    await closeServer(b);
  }
});

taps('a throwing tap costs only its own connection, and is logged', async () => {
  const echo = await startEchoServer();
  let calls = 0;
  const flaky: Plugin = {
    name: 'flaky',
    apply(hooks) {
      hooks.accept.tap('flaky', () => {
        if (calls++ === 0) throw new Error('boom');
        return undefined;
      });
    },
  };
  const t = await startBalancer({ ...oneCluster([addr(echo)]), plugins: [flaky] });
  try {
    const first = await connect(t.port);
    await closed(first);
    assert.is(await roundTrip(t.port, 'after'), 'after');
    const line = t.logger.lines.find((l) => l.level === 'error' && String(l.fields.err).includes('boom'));
    assert.ok(line, 'the error is logged');
    assert.is(line!.fields.plugin, 'flaky');
    assert.is(line!.fields.hook, 'accept');
  } finally {
    await t.stop();
    await closeServer(echo);
  }
});

const view = suite('hooks: the tap-only view');

view('plugins can tap but never call', () => {
  const hooks = createHooks();
  const v = tapOnlyView(hooks) as unknown as Record<string, Record<string, unknown>>;
  for (const name of Object.keys(hooks)) {
    assert.type(v[name]!.tap, 'function', name);
    assert.is(v[name]!.call, undefined, name);
    assert.is(v[name]!.promise, undefined, name);
    assert.is(v[name]!.callAsync, undefined, name);
  }
  assert.ok(Object.isFrozen(hooks));
  assert.ok(Object.isFrozen(v));
});

view('enforce "pre" runs before default taps and "post" after, whatever the load order', () => {
  const hooks = createHooks();
  const seen: string[] = [];
  tapOnlyView(hooks, 'post').accept.tap('late', () => void seen.push('post'));
  tapOnlyView(hooks).accept.tap('normal', () => void seen.push('normal'));
  tapOnlyView(hooks, 'pre').accept.tap('early', () => void seen.push('pre'));
  hooks.accept.call({} as never);
  assert.equal(seen, ['pre', 'normal', 'post']);
});

order.run();
taps.run();
view.run();
