/**
 * PROXY protocol from a balancer in front, written by a real sender: HAProxy (Debian's
 * package) with `server ... send-proxy` (v1) and `send-proxy-v2` in front of a listener with
 * `acceptProxyProtocol`. The client dials HAProxy from 127.0.0.2; HAProxy reaches the
 * balancer from 127.0.0.1. The chain HAProxy -> Proto Balance (accepts) -> node (is sent
 * v1) proves what the balancer took as the client: the node's header must name
 * 127.0.0.2 and the client's own port, byte for byte. Accept taps (where ACLs sit), the
 * access log and client-hash see that client too, and `ctx.proxiedBy` is HAProxy.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Config, Plugin } from 'protobalance';
import type { TestBalancer } from '../../helpers/balancer.ts';
import { startHaproxy, type Haproxy } from '../../helpers/haproxy.ts';
import { waitFor } from '../../helpers/net.ts';
import { DATA_PATHS, exchange, startHeaderNode, startWithPlugin, type DataPathName, type HeaderNode } from './harness.ts';

interface Seen {
  client: string;
  port: number;
  proxiedBy: { address: string; port: number } | undefined;
}

/** What accept taps see: the place where access control and other plugins read the client. */
function observer(seen: Seen[]): Plugin {
  return {
    name: 'observer',
    apply(hooks) {
      hooks.accept.tap('observer', (ctx) => {
        seen.push({ client: ctx.client.address, port: ctx.client.port, proxiedBy: ctx.proxiedBy && { address: ctx.proxiedBy.address, port: ctx.proxiedBy.port } });
        return undefined;
      });
    },
  };
}

const chain = suite<{ haproxy?: Haproxy; tb?: TestBalancer; nodes: HeaderNode[] }>('HAProxy -> Proto Balance -> node', { nodes: [] });

chain.after.each(async (ctx) => {
  await ctx.haproxy?.stop();
  await ctx.tb?.stop();
  for (const n of ctx.nodes) await n.close();
  ctx.haproxy = undefined;
  ctx.tb = undefined;
  ctx.nodes = [];
});

function config(dataPath: DataPathName, accept: true | 'v1' | 'v2', nodePort: number, seen: Seen[]): Config {
  return {
    dataPath,
    listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c', name: 'behind-haproxy', acceptProxyProtocol: accept }],
    clusters: { c: { proxyProtocol: 'v1', nodes: [{ id: 'n', address: `127.0.0.1:${nodePort}` }] } },
    log: { level: 'info', access: true },
    plugins: [observer(seen)],
  };
}

/** The tests, on one data path. */
function onDataPath(dataPath: DataPathName): void {
  for (const [accept, send] of [[true, 'send-proxy'], [true, 'send-proxy-v2'], ['v1', 'send-proxy'], ['v2', 'send-proxy-v2']] as const) {
    chain(`acceptProxyProtocol ${JSON.stringify(accept)} behind HAProxy ${send} (${dataPath} data path): the node is told the real client`, async (ctx) => {
      const node = await startHeaderNode();
      ctx.nodes.push(node);
      const seen: Seen[] = [];
      const tb = (ctx.tb = await startWithPlugin(config(dataPath, accept, node.port, seen)));
      const haproxy = (ctx.haproxy = await startHaproxy([{ name: 'pb', server: `127.0.0.1:${tb.port}`, serverOptions: send }]));

      const ex = await exchange(haproxy.ports.pb!, ['hello through two proxies'], { from: '127.0.0.2' });
      const expected = `PROXY TCP4 127.0.0.2 127.0.0.1 ${ex.localPort} ${tb.port}\r\n`;
      assert.is(ex.answer.toString('latin1'), `header ${Buffer.from(expected, 'latin1').toString('hex')}\nhello through two proxies`);
      assert.is(node.visits.length, 1);
      assert.is(node.visits[0]!.data.toString(), 'hello through two proxies', 'no byte of the HAProxy header reached the node');

      assert.is(seen.length, 1);
      assert.is(seen[0]!.client, '127.0.0.2');
      assert.is(seen[0]!.port, ex.localPort);
      assert.is(seen[0]!.proxiedBy?.address, '127.0.0.1', 'the socket peer, HAProxy, is kept as proxiedBy');
      assert.is.not(seen[0]!.proxiedBy?.port, ex.localPort);

      await waitFor(() => tb.logger.lines.some((l) => l.msg === 'connection'), 3000, 'the access log line');
      const line = tb.logger.lines.find((l) => l.msg === 'connection')!.fields;
      assert.equal([line.client, line.clientPort, line.outcome], ['127.0.0.2', ex.localPort, 'closed']);
    });
  }

  chain(`a v1-only listener refuses what HAProxy sends as v2, and no node is dialled (${dataPath} data path)`, async (ctx) => {
    const node = await startHeaderNode();
    ctx.nodes.push(node);
    const tb = (ctx.tb = await startWithPlugin(config(dataPath, 'v1', node.port, [])));
    const haproxy = (ctx.haproxy = await startHaproxy([{ name: 'pb', server: `127.0.0.1:${tb.port}`, serverOptions: 'send-proxy-v2' }]));
    const ex = await exchange(haproxy.ports.pb!, ['x'], { from: '127.0.0.2' });
    assert.is(ex.answer.length, 0);
    await waitFor(() => tb.logger.lines.some((l) => l.msg === 'connection'), 3000, 'the access log line');
    const line = tb.logger.lines.find((l) => l.msg === 'connection')!.fields;
    assert.is(line.outcome, 'refused');
    assert.match(String(line.reason), 'PROXY protocol: expected a PROXY protocol v1 header');
    assert.is(line.client, '127.0.0.1', 'no header was taken: the client is the socket peer');
    assert.is(node.visits.length, 0);
    assert.is(tb.balancer.snapshot().listeners.find((l) => l.listener === 'behind-haproxy')?.refusedBy?.['proxy-protocol'], 1);
  });

  chain(`client-hash places a client behind HAProxy where it places that client dialling directly (${dataPath} data path)`, async (ctx) => {
    const nodes = [await startHeaderNode(), await startHeaderNode()];
    ctx.nodes.push(...nodes);
    const tb = (ctx.tb = await startWithPlugin({
      dataPath,
      listeners: [
        { port: 0, host: '127.0.0.1', cluster: 'c', name: 'direct' },
        { port: 0, host: '127.0.0.1', cluster: 'c', name: 'behind-haproxy', acceptProxyProtocol: true },
      ],
      clusters: { c: { balance: 'client-hash', proxyProtocol: 'v2', nodes: nodes.map((n, i) => ({ id: `n${i}`, address: `127.0.0.1:${n.port}` })) } },
    }));
    const direct = tb.balancer.addresses().find((a) => a.listener === 'direct');
    const behind = tb.balancer.addresses().find((a) => a.listener === 'behind-haproxy');
    const haproxy = (ctx.haproxy = await startHaproxy([{ name: 'pb', server: `127.0.0.1:${behind!.port}`, serverOptions: 'send-proxy-v2' }]));
    const nodeOf = async (port: number, from: string) => {
      const before = nodes.map((n) => n.visits.length);
      await exchange(port, ['x'], { from });
      return nodes.findIndex((n, i) => n.visits.length > before[i]!);
    };
    const placed: Record<string, number> = {};
    for (let i = 2; i <= 13; i++) placed[`127.0.0.${i}`] = await nodeOf(direct!.port, `127.0.0.${i}`);
    // Both nodes take some of these clients, so a balancer hashing HAProxy's address would be caught.
    assert.equal(new Set(Object.values(placed)).size, 2, JSON.stringify(placed));
    for (const [from, node] of Object.entries(placed)) assert.is(await nodeOf(haproxy.ports.pb!, from), node, `client ${from}`);
  });
}

for (const dataPath of DATA_PATHS) onDataPath(dataPath);

chain.run();
